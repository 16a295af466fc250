#pragma once
// ConfigSection: typed, checked access to one TOML table. Only factories and the config
// loader use it; stages receive plain structs. Every read records the key, so that
// reject_unknown() can name every key nobody asked for (with the nearest known one).
// Errors are collected, never thrown: the loader prints them all, one per line.
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace toml {
inline namespace v3 {
class node;
class table;
}  // namespace v3
}  // namespace toml

namespace pemx {

struct ConfigError {
  std::string location;  // "pemx.toml:12" or "--set"
  std::string key;       // full key path, e.g. "stages.router.rules[1].topic"
  std::string message;   // what is wrong and what was expected
  std::string str() const;
};

// A numeric key and the range the loader enforces on it (ConfigSection::integer, duration):
// recorded while a config loads, so that a test can hold docs/configuration.md to them.
struct KeyRange {
  std::string key;   // full key path, e.g. "stages.http.io_threads"
  bool duration;     // false: an integer
  std::int64_t min;  // milliseconds for a duration
  std::int64_t max;
};

class ConfigSection {
 public:
  ConfigSection(const toml::table* table, std::string path, std::string file,
                std::vector<ConfigError>* errors);

  const std::string& path() const { return path_; }
  std::string key_path(std::string_view key) const;
  bool has(std::string_view key) const;

  std::string string(std::string_view key, std::string fallback);
  std::optional<std::string> optional_string(std::string_view key);
  // A string that must be one of `choices`; otherwise an error listing them (and the nearest)
  // and the fallback.
  std::string one_of(std::string_view key, std::string fallback,
                     const std::vector<std::string>& choices);
  std::int64_t integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                       std::int64_t max);
  bool boolean(std::string_view key, bool fallback);
  std::chrono::milliseconds duration(std::string_view key, std::chrono::milliseconds fallback,
                                     std::chrono::milliseconds min,
                                     std::chrono::milliseconds max);
  std::vector<std::string> string_list(std::string_view key, std::vector<std::string> fallback);
  // A table of scalars, each value rendered as a string (librdkafka properties).
  std::vector<std::pair<std::string, std::string>> string_map(std::string_view key);
  std::optional<ConfigSection> table(std::string_view key);
  std::vector<ConfigSection> table_array(std::string_view key);
  // Raw access for forms the typed getters do not cover; marks the key as read.
  const toml::node* node(std::string_view key);

  void error(std::string_view key, std::string message);  // about one key of this section
  void error_here(std::string message);                   // about the section itself
  // Reports every key that was never read; call after the owner has read what it knows.
  void reject_unknown();
  bool has_errors() const { return errors_->size() > errors_at_start_; }
  std::vector<ConfigError>& errors() { return *errors_; }
  const std::string& file() const { return file_; }
  // A path to a file the config names (a schema, a token file, a TLS certificate): relative to
  // the config file's folder, whether it is in the file or in a --set, so that the process's
  // working directory does not matter (start-up, check-config and reload agree). An absolute
  // or empty path is returned as it is.
  std::string config_relative(const std::string& path) const;
  // Records each integer and duration key read from now on, with its range, into `ranges`
  // (which outlives the section); the sections table() and table_array() return record too.
  void record_ranges(std::vector<KeyRange>* ranges) { ranges_ = ranges; }

 private:
  std::string location_of(const toml::node* n) const;
  const toml::node* get(std::string_view key);

  const toml::table* table_;
  std::string path_;
  std::string file_;
  std::vector<ConfigError>* errors_;
  std::size_t errors_at_start_;
  std::set<std::string, std::less<>> asked_;
  std::vector<KeyRange>* ranges_ = nullptr;
};

// "250ms", "5s", "2m", "1h" -> milliseconds; nullopt if malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
// Levenshtein distance, for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b);
// The nearest candidate within a small distance, or "".
std::string nearest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace pemx
