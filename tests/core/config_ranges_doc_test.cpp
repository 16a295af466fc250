// docs/configuration.md's numeric ranges come from the validator: a config that reads every
// integer and duration key of every stage type is loaded with the real registry, and the
// ranges the loader enforces (LoadResult::ranges, recorded by ConfigSection::integer and
// duration) are compared with the docs' tables:
//   - every key read must have a row in its section ("## `[kafka]`", "### `type = "http_front"`",
//     ...; postgres_store's writer keys are sqlite_store's rows) whose type cell states that
//     range: "integer MIN–MAX", "duration MIN–MAX" (en dash; thousands separators allowed;
//     "integer ≥ MIN" when there is no practical maximum);
//   - every range the docs state must be one the loader enforces (a documented key this config
//     does not reach fails too: extend kExtra below).
// A "number" (a fraction, e.g. the simulator's rate) is not read by these two and not checked.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "builtin_stages.hpp"
#include "core/config.hpp"

using namespace pemx;

namespace {

const std::string kDocs = PEMX_SOURCE_DIR "/docs/configuration.md";
const std::string kToml = PEMX_SOURCE_DIR "/pemx.toml";

// Appended to pemx.toml: the tables and stage types it does not have, and the keys read only
// in some modes, so that every numeric key is read. None of these stages is in a role.
const std::string kExtra = R"(
[stages.http.rate_limits.push]
[stages.http.rate_limits.read]

[stages.eos_ingest]
type = "kafka_ingest"
output = "eos_events"
acks = "eos_acks"
delivery = "exactly_once"

[stages.pg]
type = "postgres_store"
connection = "postgresql://pemx@127.0.0.1:1/pemx"
input = "pg_in"
acks = "pg_acks"
)";

// The practical "no maximum": a documented "≥ MIN" matches a maximum at least this large.
constexpr std::int64_t kUnbounded = std::int64_t{1} << 53;

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct DocRow {
  int line;
  std::vector<std::string> keys;  // "push.per_token" / "read.per_token": both
  std::string type;               // the type cell
};

// section ("kafka", "queues.<name>", "http_front", ...) -> its rows.
std::map<std::string, std::vector<DocRow>> doc_rows(const std::string& text) {
  std::map<std::string, std::vector<DocRow>> out;
  std::istringstream in(text);
  std::string line, section;
  int number = 0;
  const std::regex top(R"re(^## `\[([^\]]+)\]`)re");
  const std::regex stage(R"re(^### `type = "([a-z_]+)"`)re");
  const std::regex key(R"re(`([^`]+)`)re");
  while (std::getline(in, line)) {
    ++number;
    std::smatch m;
    if (std::regex_search(line, m, top)) section = m[1];
    if (std::regex_search(line, m, stage)) section = m[1];
    if (line.rfind("| `", 0) != 0) continue;
    const auto second = line.find('|', 1);
    const auto third = line.find('|', second + 1);
    if (second == std::string::npos || third == std::string::npos) continue;
    DocRow row{number, {}, line.substr(second + 1, third - second - 1)};
    const std::string cell = line.substr(1, second - 1);
    for (auto it = std::sregex_iterator(cell.begin(), cell.end(), key);
         it != std::sregex_iterator(); ++it) {
      row.keys.push_back((*it)[1]);
    }
    out[section].push_back(std::move(row));
  }
  return out;
}

std::optional<std::int64_t> duration_ms(std::string text) {
  const std::regex form(R"re(^(\d+)(ms|s|min|m|h)?$)re");
  std::smatch m;
  if (!std::regex_match(text, m, form)) return std::nullopt;
  const std::int64_t n = std::stoll(m[1]);
  const std::string unit = m[2];
  if (unit.empty()) return n == 0 ? std::optional<std::int64_t>(0) : std::nullopt;
  if (unit == "ms") return n;
  if (unit == "s") return n * 1000;
  if (unit == "m" || unit == "min") return n * 60'000;
  return n * 3'600'000;
}

struct DocRange {
  bool duration;
  std::int64_t min, max;  // max kUnbounded for "≥ MIN"
};

// "integer 2–1,000,000", "duration 100ms–1h", "duration, `"0s"`–`"24h"`", "integer ≥ 0";
// nullopt when the cell states no range (or is no integer or duration).
std::optional<DocRange> doc_range(const std::string& cell) {
  std::smatch m;
  if (!std::regex_search(cell, m, std::regex(R"re(^\s*(integer|duration),?\s*(.*?)\s*$)re"))) {
    return std::nullopt;
  }
  const bool duration = m[1] == "duration";
  std::string range;
  for (char c : std::string(m[2])) {
    if (c != '`' && c != '"' && c != ' ' && (duration || c != ',')) range += c;
  }
  if (range.empty()) return std::nullopt;
  auto value = [&](const std::string& v) -> std::optional<std::int64_t> {
    if (duration) return duration_ms(v);
    if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    return std::stoll(v);
  };
  const std::string at_least = "≥";
  if (range.rfind(at_least, 0) == 0) {
    auto min = value(range.substr(at_least.size()));
    if (!min) return DocRange{duration, -1, -1};  // unreadable: reported as a mismatch
    return DocRange{duration, *min, kUnbounded};
  }
  const std::string dash = "–";
  const auto at = range.find(dash);
  if (at == std::string::npos) return DocRange{duration, -1, -1};
  auto min = value(range.substr(0, at));
  auto max = value(range.substr(at + dash.size()));
  if (!min || !max) return DocRange{duration, -1, -1};
  return DocRange{duration, *min, *max};
}

std::string shown(bool duration, std::int64_t min, std::int64_t max) {
  const std::string unit = duration ? "ms" : "";
  return std::string(duration ? "duration " : "integer ") + std::to_string(min) + unit + " to " +
         (max >= kUnbounded ? std::string("(no maximum)") : std::to_string(max) + unit);
}

}  // namespace

TEST_CASE("docs/configuration.md states the range the loader enforces on each numeric key",
          "[unit][config][docs]") {
  const Registry registry = builtin_stages();
  std::string extra = kExtra;
  if (registry.find("postgres_store") == nullptr) {  // a build without libpq
    WARN("postgres_store is not compiled in: its keys are not checked");
    extra = extra.substr(0, extra.find("[stages.pg]"));
  }
  LoadResult loaded = load_config_text(read(kToml) + extra, "pemx.toml", {}, registry);
  for (const auto& e : loaded.errors) INFO(e.str());
  REQUIRE(loaded.errors.empty());
  REQUIRE(loaded.config);
  const Config& config = *loaded.config;
  const auto rows = doc_rows(read(kDocs));
  REQUIRE(rows.count("http_front") == 1);

  std::vector<std::string> problems;
  std::set<std::pair<std::string, int>> matched;  // (section, line) of the rows used
  std::set<std::string> seen;
  for (const KeyRange& r : loaded.ranges) {
    // The section and the key relative to it, indexes dropped ("rules[0].x" -> "rules.x").
    const std::string path = std::regex_replace(r.key, std::regex(R"re(\[\d+\])re"), "");
    std::string section, key;
    const auto dot = path.find('.');
    const std::string head = path.substr(0, dot);
    if (head == "stages") {
      const auto second = path.find('.', dot + 1);
      const StageInstance* st = config.stage(path.substr(dot + 1, second - dot - 1));
      REQUIRE(st != nullptr);
      section = st->type;
      key = path.substr(second + 1);
    } else if (head == "queues") {
      section = "queues.<name>";
      key = path.substr(path.find('.', dot + 1) + 1);
    } else {
      section = head;
      key = path.substr(dot + 1);
    }
    if (!seen.insert(section + " " + key).second) continue;  // two stages of one type
    std::vector<std::string> sections{section};
    if (section == "postgres_store") sections.push_back("sqlite_store");  // the writer's keys
    const DocRow* found = nullptr;
    std::string found_section;
    for (const auto& s : sections) {
      auto it = rows.find(s);
      if (it == rows.end()) continue;
      // The row naming the key as it is, else one naming its last parts ("push.per_token"
      // under rate_limits).
      for (const bool whole : {true, false}) {
        for (const DocRow& row : it->second) {
          for (const auto& k : row.keys) {
            const bool same = whole ? key == k
                                    : key.size() > k.size() &&
                                          key.compare(key.size() - k.size() - 1, k.size() + 1,
                                                      "." + k) == 0;
            if (same && found == nullptr) found = &row;
          }
        }
        if (found != nullptr) break;
      }
      if (found != nullptr) {
        found_section = s;
        break;
      }
    }
    const std::string want = shown(r.duration, r.min, r.max);
    if (found == nullptr) {
      problems.push_back(r.key + " (" + want + "): no row for `" + key + "` under " + section);
      continue;
    }
    matched.insert({found_section, found->line});
    const auto doc = doc_range(found->type);
    const std::string where = "docs/configuration.md:" + std::to_string(found->line) + ": ";
    if (!doc) {
      problems.push_back(where + "`" + key + "` states no range; the loader enforces " + want);
    } else if (doc->duration != r.duration || doc->min != r.min ||
               (doc->max != r.max && !(doc->max == kUnbounded && r.max >= kUnbounded))) {
      problems.push_back(where + "`" + key + "` says \"" + found->type +
                         "\"; the loader enforces " + want);
    }
  }
  // The other way: a documented range no key of this config reached.
  for (const auto& [section, list] : rows) {
    for (const DocRow& row : list) {
      const auto doc = doc_range(row.type);
      if (!doc || matched.count({section, row.line}) != 0) continue;
      problems.push_back("docs/configuration.md:" + std::to_string(row.line) + ": `" +
                         row.keys.front() + "` states a range (\"" + row.type +
                         "\") that no key the loader read has (or kExtra does not reach it)");
    }
  }
  std::string all;
  for (const auto& p : problems) all += p + "\n";
  INFO(all);
  CHECK(problems.empty());
}
