#include "event/json.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <vector>

namespace pemx::event {

namespace {

std::string_view key_of(const rapidjson::Value::Member& m) {
  return {m.name.GetString(), m.name.GetStringLength()};
}

// Small objects (nearly every event) are compared pairwise with no allocation; larger ones
// through a sorted list of their keys.
constexpr rapidjson::SizeType kPairwiseMax = 16;

std::optional<std::string_view> duplicate_in(const rapidjson::Value& object) {
  const rapidjson::SizeType n = object.MemberCount();
  auto begin = object.MemberBegin();
  if (n <= kPairwiseMax) {
    for (rapidjson::SizeType i = 1; i < n; ++i) {
      for (rapidjson::SizeType j = 0; j < i; ++j) {
        if (key_of(begin[i]) == key_of(begin[j])) return key_of(begin[i]);
      }
    }
    return std::nullopt;
  }
  std::vector<std::string_view> keys;
  keys.reserve(n);
  for (auto it = begin; it != object.MemberEnd(); ++it) keys.push_back(key_of(*it));
  std::sort(keys.begin(), keys.end());
  auto dup = std::adjacent_find(keys.begin(), keys.end());
  if (dup == keys.end()) return std::nullopt;
  return *dup;
}


// Depth-first; `where` is filled on the way back up, only when a duplicate is found. The
// recursion is bounded by the parse's depth limit.
bool find(const rapidjson::Value& v, std::string& key, std::string& where) {
  if (v.IsObject()) {
    if (auto dup = duplicate_in(v)) {
      key = excerpt(*dup);
      return true;
    }
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      if (find(it->value, key, where)) {
        std::string step(excerpt(key_of(*it)));
        where = where.empty() || where.front() == '[' ? step + where : step + "." + where;
        return true;
      }
    }
  } else if (v.IsArray()) {
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      if (find(v[i], key, where)) {
        std::string step = "[" + std::to_string(i) + "]";
        where = where.empty() || where.front() == '[' ? step + where : step + "." + where;
        return true;
      }
    }
  }
  return false;
}

}  // namespace

std::string excerpt(std::string_view text, std::size_t max) {
  bool cut = text.size() > max;
  if (cut) {
    std::size_t end = max;
    // Back to the first byte of the character that would be cut (continuation bytes: 10xxxxxx).
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    text = text.substr(0, end);
  }
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  }
  return cut ? out + "…" : out;
}

std::string_view reason_code(JsonProblem problem) {
  switch (problem) {
    case JsonProblem::kTooDeep: return kReasonTooDeep;
    case JsonProblem::kTooLarge: return kReasonTooLarge;
    case JsonProblem::kDuplicateKey: return kReasonDuplicateKey;
    case JsonProblem::kSyntax:
    case JsonProblem::kNone: break;
  }
  return kReasonInvalidJson;
}

std::string find_duplicate_key(const rapidjson::Value& value) {
  std::string key, where;
  if (!find(value, key, where)) return {};
  return "duplicate key \"" + key + "\" " + (where.empty() ? "at the top level" : "in " + where);
}

namespace detail {

bool has_encoded_surrogate(std::string_view decoded) {
  for (std::size_t at = decoded.find('\xED'); at != std::string_view::npos;
       at = decoded.find('\xED', at + 1)) {
    if (at + 1 < decoded.size() && static_cast<unsigned char>(decoded[at + 1]) >= 0xA0) return true;
  }
  return false;
}

Number read_number(std::string_view text) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  Number n;
  if (text.find_first_of(".eE") == std::string_view::npos) {
    // RapidJSON's integer kinds: the smallest that holds the value.
    if (!text.empty() && text.front() == '-') {
      std::int64_t v = 0;
      auto [p, ec] = std::from_chars(begin, end, v);
      if (ec == std::errc() && p == end) {
        n.i = v;
        n.kind = v >= INT32_MIN ? Number::Kind::kInt : Number::Kind::kInt64;
        return n;
      }
    } else {
      std::uint64_t v = 0;
      auto [p, ec] = std::from_chars(begin, end, v);
      if (ec == std::errc() && p == end) {
        n.u = v;
        n.kind = v <= UINT32_MAX ? Number::Kind::kUint : Number::Kind::kUint64;
        return n;
      }
    }
    // Beyond 64 bits: a double, like RapidJSON.
  }
  double d = 0;
  auto [p, ec] = std::from_chars(begin, end, d);
  if (ec == std::errc() && p == end) {
    n.d = d;
    n.kind = Number::Kind::kDouble;
    return n;
  }
  if (ec == std::errc::result_out_of_range) {
    // Underflow reads as zero (as JavaScript and RapidJSON do); overflow is refused.
    std::string copy(text);
    d = std::strtod(copy.c_str(), nullptr);
    if (!std::isinf(d)) {
      n.d = d;
      n.kind = Number::Kind::kDouble;
    }
  }
  return n;
}

std::string too_deep_detail(std::size_t max_depth, std::size_t offset) {
  return "nested deeper than " + std::to_string(max_depth) + " levels (objects and arrays) at byte " +
         std::to_string(offset);
}

std::string too_large_detail(std::size_t size, std::size_t max_bytes) {
  return std::to_string(size) + " bytes; at most " + std::to_string(max_bytes) +
         " are accepted for one event";
}

}  // namespace detail

}  // namespace pemx::event
