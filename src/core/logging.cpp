#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

#include "pemx/log.hpp"

namespace pemx {

class LogSink {
 public:
  explicit LogSink(LogLevel level)
      : level_(level), logger_(std::make_shared<spdlog::logger>(
                           "pemx", std::make_shared<spdlog::sinks::stderr_sink_mt>())) {
    logger_->set_pattern("%v");
    logger_->set_level(spdlog::level::trace);
    logger_->flush_on(spdlog::level::trace);
  }
  LogSink(LogLevel level, std::function<void(const std::string&)> write)
      : level_(level), write_(std::move(write)) {}
  LogLevel level() const { return level_; }
  void write(const std::string& line) {
    if (write_) write_(line);
    else logger_->info(line);
  }

 private:
  LogLevel level_;
  std::shared_ptr<spdlog::logger> logger_;
  std::function<void(const std::string&)> write_;  // instead of logger_ when set
};

std::shared_ptr<LogSink> make_stderr_sink(LogLevel level) {
  return std::make_shared<LogSink>(level);
}

std::shared_ptr<LogSink> make_line_sink(LogLevel level,
                                        std::function<void(const std::string&)> write) {
  return std::make_shared<LogSink>(level, std::move(write));
}

bool parse_log_level(std::string_view text, LogLevel& out) {
  if (text == "debug") out = LogLevel::kDebug;
  else if (text == "info") out = LogLevel::kInfo;
  else if (text == "warn") out = LogLevel::kWarn;
  else if (text == "error") out = LogLevel::kError;
  else if (text == "off") out = LogLevel::kOff;
  else return false;
  return true;
}

bool Logger::enabled(LogLevel level) const {
  return sink_ != nullptr && level >= sink_->level() && level != LogLevel::kOff;
}

namespace {
const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    default: return "error";
  }
}
std::string timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];  // room for any int tm_year, so that -Wformat-truncation has nothing to say
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms));
  return buf;
}
}  // namespace

void Logger::log(LogLevel level, std::string_view msg,
                 std::initializer_list<Field> fields) const {
  if (!enabled(level)) return;
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto str = [&w](std::string_view s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  str("ts");
  str(timestamp());
  str("level");
  str(level_name(level));
  str("component");
  str(component_);
  str("msg");
  str(msg);
  for (const auto& f : fields) {
    str(f.key);
    std::visit(
        [&](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, std::string_view>) str(v);
          else if constexpr (std::is_same_v<V, std::int64_t>) w.Int64(v);
          else if constexpr (std::is_same_v<V, double>) w.Double(v);
          else w.Bool(v);
        },
        f.value);
  }
  w.EndObject();
  sink_->write(buf.GetString());
}

}  // namespace pemx
