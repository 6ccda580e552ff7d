// find_case_dirs, load_case (case_inputs.hpp).
#include "eval/case_inputs.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "hisa/error.hpp"
#include "hisa/npy.hpp"
#include "io/npy_header.hpp"
#include "io/npy_problem.hpp"

namespace hisa::eval {
namespace fs = std::filesystem;
namespace {

bool has_file(const fs::path& dir, const char* name) {
  std::error_code ec;
  return fs::is_regular_file(dir / name, ec);
}

template <class T>
std::vector<T> take(const NpyArray& a) {
  std::vector<T> v(a.data.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), a.data.data(), v.size() * sizeof(T));
  return v;
}

}  // namespace

std::vector<std::string> find_case_dirs(const std::string& dir, const std::string& argument) {
  std::error_code ec;
  const fs::path root(dir);
  if (!fs::is_directory(root, ec)) throw ArgumentError(argument, "'" + dir + "' is not a directory");
  if (has_file(root, "q.npy")) return {root.string()};
  std::vector<std::string> out;
  for (const fs::directory_entry& e : fs::directory_iterator(root, ec))
    if (e.is_directory(ec) && has_file(e.path(), "q.npy")) out.push_back(e.path().string());
  if (ec) throw ArgumentError(argument, "cannot list '" + dir + "': " + ec.message());
  if (out.empty())
    throw ArgumentError(argument, "'" + dir + "' holds no q.npy and no subdirectory with one");
  std::sort(out.begin(), out.end());
  return out;
}

Workload load_case(const std::string& dir) {
  fs::path d = fs::path(dir).lexically_normal();
  if (d.filename().empty()) d = d.parent_path();  // "dir/" names "dir"
  auto file = [&d](const char* name) { return (d / name).string(); };
  auto optional = [&](const char* name) { return has_file(d, name) ? file(name) : std::string(); };
  io::NpyProblemPaths paths;
  paths.q = file("q.npy");
  paths.k = file("k.npy");
  paths.w = file("w.npy");
  paths.k_scale = optional("k_scale.npy");
  paths.ks = optional("ks.npy");
  paths.ke = optional("ke.npy");
  paths.name_files = true;
  io::NpyProblem in(paths);
  const Problem p = in.problem();

  Workload wl;
  wl.dtype = p.dtype;
  wl.T = p.T;
  wl.S = p.S;
  wl.H = p.H;
  wl.D = p.D;
  wl.q = std::move(in.q().data);
  wl.k = std::move(in.k().data);
  wl.w = take<float>(in.w());
  if (p.k_scale) wl.k_scale = take<float>(in.k_scale());
  if (p.ks) {
    wl.ks = take<int32_t>(in.ks());
    wl.ke = take<int32_t>(in.ke());
  }
  if (has_file(d, "q_scale.npy")) {
    const std::string path = file("q_scale.npy");
    const NpyArray qs = read_npy(path, path);
    if (qs.descr != "<f4") throw DTypeError(path, "dtype '" + qs.descr + "' must be '<f4' (float32)");
    if (qs.shape != std::vector<int64_t>{wl.T, wl.H})
      throw ArgumentError(path, "shape " + io::shape_to_string(qs.shape) + " does not match q's [T=" +
                                    std::to_string(wl.T) + ", H=" + std::to_string(wl.H) + "]");
    wl.q_scale = take<float>(qs);
  }
  wl.description = d.filename().string();
  wl.problem();  // size checks
  return wl;
}

}  // namespace hisa::eval
