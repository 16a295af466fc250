#pragma once
// Logger: structured JSON log lines, one object per line on stderr:
//   {"ts":"…","level":"info","component":"dist_ingest","msg":"…", <fields>}
// A Logger is a cheap value (a shared sink plus a component name); stages get one in their
// context. No global logger exists.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace pemx {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

struct Field {
  using Value = std::variant<std::string_view, std::int64_t, double, bool>;
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  template <class I, class = std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>>>
  Field(std::string_view k, I v) : key(k), value(static_cast<std::int64_t>(v)) {}
  std::string_view key;
  Value value;
};

class LogSink;  // src/core/logging.cpp

class Logger {
 public:
  Logger() = default;  // a null logger: drops everything (for tests and tools)
  Logger(std::shared_ptr<LogSink> sink, std::string component)
      : sink_(std::move(sink)), component_(std::move(component)) {}

  Logger child(std::string component) const { return Logger(sink_, std::move(component)); }
  bool enabled(LogLevel level) const;
  void log(LogLevel level, std::string_view msg, std::initializer_list<Field> fields = {}) const;
  void debug(std::string_view m, std::initializer_list<Field> f = {}) const { log(LogLevel::kDebug, m, f); }
  void info(std::string_view m, std::initializer_list<Field> f = {}) const { log(LogLevel::kInfo, m, f); }
  void warn(std::string_view m, std::initializer_list<Field> f = {}) const { log(LogLevel::kWarn, m, f); }
  void error(std::string_view m, std::initializer_list<Field> f = {}) const { log(LogLevel::kError, m, f); }

 private:
  std::shared_ptr<LogSink> sink_;
  std::string component_;
};

// Builds the process's sink: JSON lines on stderr at the given level.
std::shared_ptr<LogSink> make_stderr_sink(LogLevel level);
// A sink that hands each JSON line to `write` (any thread, one call per line): for tests that
// check what a component logs.
std::shared_ptr<LogSink> make_line_sink(LogLevel level,
                                        std::function<void(const std::string&)> write);
bool parse_log_level(std::string_view text, LogLevel& out);

// At most `per_second` true answers per second; counts what it refused so that the caller can
// say "N more suppressed". Used for per-record warnings so a flood of bad input cannot flood
// the log. Thread-compatible (one owner thread).
class RateLimit {
 public:
  explicit RateLimit(int per_second) : per_second_(per_second) {}
  bool allow() {
    auto now = std::chrono::steady_clock::now();
    if (now - window_ >= std::chrono::seconds(1)) {
      window_ = now;
      used_ = 0;
    }
    if (used_ < per_second_) {
      ++used_;
      return true;
    }
    ++suppressed_;
    return false;
  }
  // Suppressed since the last call.
  std::uint64_t take_suppressed() { return std::exchange(suppressed_, 0); }

 private:
  int per_second_;
  int used_ = 0;
  std::uint64_t suppressed_ = 0;
  std::chrono::steady_clock::time_point window_{};
};

}  // namespace pemx
