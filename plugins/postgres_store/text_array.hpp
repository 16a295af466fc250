#pragma once
// PostgreSQL array literals in text format, for the statements that take a list as one
// parameter (the history's product ids, the writer's columns). Pure.
#include <cstdint>
#include <string>
#include <string_view>

namespace pemx::postgres_store {

// An array literal of text elements: {"a","b\"c"} (every element quoted, " and \ escaped).
class TextArray {
 public:
  void add(std::string_view text) {
    out_ += out_.empty() ? '{' : ',';
    out_ += '"';
    for (char c : text) {
      if (c == '"' || c == '\\') out_ += '\\';
      out_ += c;
    }
    out_ += '"';
  }
  void add(std::int64_t number) {
    out_ += out_.empty() ? '{' : ',';
    out_ += std::to_string(number);
  }
  const char* finish() {
    if (out_.empty()) out_ += '{';
    out_ += '}';
    return out_.c_str();
  }

 private:
  std::string out_;
};

}  // namespace pemx::postgres_store
