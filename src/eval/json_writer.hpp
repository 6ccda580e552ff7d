// A small streaming JSON writer (objects, arrays, strings, numbers, null) and an atomic file
// write, for the result files of `hisa demo --json` and `hisa eval --out`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hisa::eval {

class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(const std::string& k);  // inside an object, before its value
  JsonWriter& value(const std::string& s);
  JsonWriter& value(const char* s) { return value(std::string(s)); }
  JsonWriter& value(double v);  // non-finite -> null
  JsonWriter& value(int64_t v);
  JsonWriter& value(int v) { return value(static_cast<int64_t>(v)); }
  JsonWriter& value(bool v);
  JsonWriter& null();
  const std::string& str() const { return out_; }

 private:
  void separate();
  void newline();
  std::string out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

// Writes `text` to `path` atomically: a temporary file beside it, renamed over it when
// complete. Throws ArgumentError(argument, ...) when the file cannot be written.
void write_file_atomic(const std::string& path, const std::string& text,
                       const std::string& argument);

// Current UTC time as "YYYY-MM-DDTHH:MM:SSZ".
std::string utc_timestamp();

}  // namespace hisa::eval
