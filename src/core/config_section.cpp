#include "core/config_section.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <limits>
#include <toml++/toml.h>

namespace pemx {

std::string ConfigError::str() const {
  std::string out = location.empty() ? std::string() : location + ": ";
  if (!key.empty()) out += key + ": ";
  return out + message;
}

ConfigSection::ConfigSection(const toml::table* table, std::string path, std::string file,
                             std::vector<ConfigError>* errors)
    : table_(table),
      path_(std::move(path)),
      file_(std::move(file)),
      errors_(errors),
      errors_at_start_(errors->size()) {}

std::string ConfigSection::config_relative(const std::string& path) const {
  const std::filesystem::path p(path);
  if (path.empty() || p.is_absolute()) return path;
  return (std::filesystem::path(file_).parent_path() / p).string();
}

std::string ConfigSection::key_path(std::string_view key) const {
  if (path_.empty()) return std::string(key);
  return path_ + "." + std::string(key);
}

bool ConfigSection::has(std::string_view key) const {
  return table_ != nullptr && table_->contains(key);
}

const toml::node* ConfigSection::get(std::string_view key) {
  asked_.emplace(key);
  if (table_ == nullptr) return nullptr;
  return table_->get(key);
}

const toml::node* ConfigSection::node(std::string_view key) { return get(key); }

std::string ConfigSection::location_of(const toml::node* n) const {
  if (n != nullptr && n->source().begin.line > 0) {
    return file_ + ":" + std::to_string(n->source().begin.line);
  }
  if (n != nullptr) return "--set";
  if (table_ != nullptr && table_->source().begin.line > 0) {
    return file_ + ":" + std::to_string(table_->source().begin.line);
  }
  return file_;
}

void ConfigSection::error(std::string_view key, std::string message) {
  const toml::node* n = table_ != nullptr ? table_->get(key) : nullptr;
  errors_->push_back({location_of(n), key_path(key), std::move(message)});
}

void ConfigSection::error_here(std::string message) {
  errors_->push_back({location_of(table_), path_, std::move(message)});
}

namespace {
std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    default: return "a date/time";
  }
}
}  // namespace

std::string ConfigSection::string(std::string_view key, std::string fallback) {
  auto v = optional_string(key);
  return v ? *v : fallback;
}

std::string ConfigSection::one_of(std::string_view key, std::string fallback,
                                  const std::vector<std::string>& choices) {
  auto v = optional_string(key);
  if (!v) return fallback;
  for (const auto& c : choices) {
    if (*v == c) return *v;
  }
  std::string message = "\"" + *v + "\": expected ";
  for (std::size_t i = 0; i < choices.size(); ++i) {
    message += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + ("\"" + choices[i] + "\"");
  }
  if (std::string hint = nearest(*v, choices); !hint.empty()) {
    message += "; did you mean \"" + hint + "\"?";
  }
  error(key, std::move(message));
  return fallback;
}

std::optional<std::string> ConfigSection::optional_string(std::string_view key) {
  const toml::node* n = get(key);
  if (n == nullptr) return std::nullopt;
  if (auto s = n->value<std::string>(); s && n->is_string()) return *s;
  error(key, "expected a string, got " + type_name(*n));
  return std::nullopt;
}

std::int64_t ConfigSection::integer(std::string_view key, std::int64_t fallback,
                                    std::int64_t min, std::int64_t max) {
  if (ranges_ != nullptr) ranges_->push_back({key_path(key), false, min, max});
  const toml::node* n = get(key);
  if (n == nullptr) return fallback;
  if (!n->is_integer()) {
    error(key, "expected an integer, got " + type_name(*n));
    return fallback;
  }
  auto v = *n->value<std::int64_t>();
  if (v < min || v > max) {
    error(key, "value " + std::to_string(v) + " is out of range; expected " +
                   std::to_string(min) + " to " + std::to_string(max));
    return fallback;
  }
  return v;
}

bool ConfigSection::boolean(std::string_view key, bool fallback) {
  const toml::node* n = get(key);
  if (n == nullptr) return fallback;
  if (!n->is_boolean()) {
    error(key, "expected true or false, got " + type_name(*n));
    return fallback;
  }
  return *n->value<bool>();
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::int64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data() || number < 0) return std::nullopt;
  std::string_view unit(end, text.data() + text.size() - end);
  std::int64_t scale = 0;
  if (unit == "ms") scale = 1;
  else if (unit == "s") scale = 1000;
  else if (unit == "m") scale = 60'000;
  else if (unit == "h") scale = 3'600'000;
  else if (unit == "d") scale = 86'400'000;
  else return std::nullopt;
  if (number > std::numeric_limits<std::int64_t>::max() / scale) return std::nullopt;
  return std::chrono::milliseconds(number * scale);
}

std::chrono::milliseconds ConfigSection::duration(std::string_view key,
                                                  std::chrono::milliseconds fallback,
                                                  std::chrono::milliseconds min,
                                                  std::chrono::milliseconds max) {
  if (ranges_ != nullptr) ranges_->push_back({key_path(key), true, min.count(), max.count()});
  const toml::node* n = get(key);
  if (n == nullptr) return fallback;
  std::optional<std::chrono::milliseconds> d;
  if (n->is_string()) d = parse_duration(*n->value<std::string>());
  if (!d) {
    const std::string expected =
        "expected a duration with a unit such as \"250ms\", \"5s\", \"2m\", \"1h\" or \"90d\"";
    const auto text = n->value<std::string>();
    if (text && text->size() > 1 && text->front() == '-' && parse_duration(text->substr(1))) {
      error(key, "a duration cannot be negative (got \"" + *text + "\"); " + expected);
    } else {
      error(key, expected);
    }
    return fallback;
  }
  if (*d < min || *d > max) {
    error(key, "duration " + std::to_string(d->count()) + "ms is out of range; expected " +
                   std::to_string(min.count()) + "ms to " + std::to_string(max.count()) + "ms");
    return fallback;
  }
  return *d;
}

std::vector<std::string> ConfigSection::string_list(std::string_view key,
                                                    std::vector<std::string> fallback) {
  const toml::node* n = get(key);
  if (n == nullptr) return fallback;
  const toml::array* arr = n->as_array();
  if (arr == nullptr) {
    error(key, "expected an array of strings, got " + type_name(*n));
    return fallback;
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& item = *arr->get(i);
    if (!item.is_string()) {
      errors_->push_back({location_of(&item), key_path(key) + "[" + std::to_string(i) + "]",
                          "expected a string, got " + type_name(item)});
      continue;
    }
    out.push_back(*item.value<std::string>());
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ConfigSection::string_map(
    std::string_view key) {
  std::vector<std::pair<std::string, std::string>> out;
  const toml::node* n = get(key);
  if (n == nullptr) return out;
  const toml::table* t = n->as_table();
  if (t == nullptr) {
    error(key, "expected a table of name = value, got " + type_name(*n));
    return out;
  }
  for (const auto& [k, v] : *t) {
    std::string name(k.str());
    if (v.is_string()) {
      out.emplace_back(name, *v.value<std::string>());
    } else if (v.is_integer()) {
      out.emplace_back(name, std::to_string(*v.value<std::int64_t>()));
    } else if (v.is_boolean()) {
      out.emplace_back(name, *v.value<bool>() ? "true" : "false");
    } else {
      errors_->push_back({location_of(&v), key_path(key) + "." + name,
                          "expected a string, integer or boolean, got " + type_name(v)});
    }
  }
  return out;
}

std::optional<ConfigSection> ConfigSection::table(std::string_view key) {
  const toml::node* n = get(key);
  if (n == nullptr) return std::nullopt;
  const toml::table* t = n->as_table();
  if (t == nullptr) {
    error(key, "expected a table, got " + type_name(*n));
    return std::nullopt;
  }
  ConfigSection out(t, key_path(key), file_, errors_);
  out.ranges_ = ranges_;
  return out;
}

std::vector<ConfigSection> ConfigSection::table_array(std::string_view key) {
  std::vector<ConfigSection> out;
  const toml::node* n = get(key);
  if (n == nullptr) return out;
  const toml::array* arr = n->as_array();
  if (arr == nullptr) {
    error(key, "expected an array of tables ([[" + key_path(key) + "]]), got " + type_name(*n));
    return out;
  }
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& item = *arr->get(i);
    std::string p = key_path(key) + "[" + std::to_string(i) + "]";
    if (!item.is_table()) {
      errors_->push_back({location_of(&item), p, "expected a table, got " + type_name(item)});
      continue;
    }
    out.emplace_back(item.as_table(), p, file_, errors_);
    out.back().ranges_ = ranges_;
  }
  return out;
}

void ConfigSection::reject_unknown() {
  if (table_ == nullptr) return;
  std::vector<std::string> known(asked_.begin(), asked_.end());
  for (const auto& [k, v] : *table_) {
    if (asked_.count(k.str()) != 0) continue;
    std::string message = "unknown key";
    std::string hint = nearest(k.str(), known);
    if (!hint.empty()) message += "; did you mean \"" + hint + "\"?";
    else if (!known.empty()) {
      message += "; known keys here: ";
      for (std::size_t i = 0; i < known.size(); ++i) message += (i ? ", " : "") + known[i];
    }
    errors_->push_back({location_of(&v), key_path(k.str()), message});
  }
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string nearest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

}  // namespace pemx
