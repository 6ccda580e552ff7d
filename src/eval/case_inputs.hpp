// Case directories of `hisa eval --inputs DIR`: one indexer problem per directory, as .npy
// files in the input layout of `hisa select` (real model captures, or a user's dump of a DSA
// indexer from an engine). docs/fidelity.md "Real inputs" describes the layout.
#pragma once

#include <string>
#include <vector>

#include "hisa/workload.hpp"

namespace hisa::eval {

// The case directories under `dir`: `dir` itself when it holds q.npy, else every immediate
// subdirectory holding q.npy, sorted by name. Throws ArgumentError naming `argument` when
// `dir` is not a directory or holds no case.
std::vector<std::string> find_case_dirs(const std::string& dir, const std::string& argument);

// Reads one case directory:
//   q.npy [T,H,D] (f32 '<f4', bf16 bits '<u2' or FP8 e4m3 bytes '|u1'), k.npy [S,D] (q's
//   dtype), w.npy [T,H] f32; optional k_scale.npy [S] f32, ks.npy + ke.npy [T] int32 (absent:
//   one causal sequence), q_scale.npy [T,H] f32 (FP8 q's dequant scale, used only for the
//   attention mass). Every error is an ArgumentError naming the offending file.
// The description is the directory's name.
Workload load_case(const std::string& dir);

}  // namespace hisa::eval
