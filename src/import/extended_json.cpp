#include "import/extended_json.hpp"

#include <charconv>
#include <cmath>
#include <limits>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "event/time.hpp"
#include "event/validate.hpp"

namespace pemx::import {

namespace {

using Value = rapidjson::Value;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

std::string_view text_of(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// The JSON grammar of a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool json_number_text(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

template <typename Int>
std::optional<Int> whole_integer(std::string_view s) {
  Int v{};
  if (s.empty() || s.front() == '+') return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

class Converter {
 public:
  explicit Converter(Writer& writer) : w_(writer) {}

  // Writes the top-level document as the event; false with error() set when refused.
  bool document(const Value& doc) {
    if (!doc.IsObject()) {
      return fail(kNotAnObject, "", "an exported document must be a JSON object");
    }
    if (!doc.HasMember("eventId")) {
      return fail(kMissingEventId, "eventId",
                  "missing: every event needs one (the store is keyed by it)");
    }
    if (is_wrapper(doc)) return wrapper(doc, "");
    w_.StartObject();
    for (const auto& m : doc.GetObject()) {
      std::string_view key = text_of(m.name);
      if (key == "_id" || key == "__v") continue;  // MongoDB's and Mongoose's own fields
      w_.Key(m.name.GetString(), m.name.GetStringLength());
      if (!value(m.value, std::string(key))) return false;
    }
    w_.EndObject();
    return true;
  }

  const Error& error() const { return error_; }

 private:
  bool fail(std::string_view code, const std::string& path, std::string detail) {
    error_.code = std::string(code);
    error_.message = path.empty() ? std::move(detail) : path + ": " + std::move(detail);
    return false;
  }

  static bool is_wrapper(const Value& obj) {
    for (const auto& m : obj.GetObject()) {
      if (m.name.GetStringLength() > 0 && m.name.GetString()[0] == '$') return true;
    }
    return false;
  }

  // Depth is bounded by the parse (every value is at most max_depth deep).
  bool value(const Value& v, const std::string& path) {
    if (v.IsObject()) {
      if (is_wrapper(v)) return wrapper(v, path);
      w_.StartObject();
      for (const auto& m : v.GetObject()) {
        w_.Key(m.name.GetString(), m.name.GetStringLength());
        if (!value(m.value, path + "." + std::string(text_of(m.name)))) return false;
      }
      w_.EndObject();
      return true;
    }
    if (v.IsArray()) {
      w_.StartArray();
      std::size_t i = 0;
      for (const auto& item : v.GetArray()) {
        if (!value(item, path + "[" + std::to_string(i++) + "]")) return false;
      }
      w_.EndArray();
      return true;
    }
    v.Accept(w_);  // a scalar
    return true;
  }

  // An object with a `$` key: one of the known wrappers with exactly its own keys, or refused.
  bool wrapper(const Value& obj, const std::string& path) {
    const auto count = obj.MemberCount();
    const Value* first = nullptr;
    std::string_view op;
    for (const auto& m : obj.GetObject()) {
      if (m.name.GetStringLength() > 0 && m.name.GetString()[0] == '$') {
        first = &m.value;
        op = text_of(m.name);
        break;
      }
    }
    auto only = [&](std::string_view name) -> bool {
      if (count == 1) return true;
      return fail(kMalformedWrapper, path,
                  "a " + std::string(name) + " wrapper with other keys beside it");
    };
    if (op == "$binary") return binary(obj, *first, path);
    if (op == "$type" && obj.HasMember("$binary")) return binary(obj, obj["$binary"], path);
    if (op == "$uuid") return only(op) && uuid(*first, path);
    if (op == "$date") return only(op) && date(*first, path);
    if (op == "$oid") return only(op) && object_id(*first, path);
    if (op == "$numberInt" || op == "$numberLong" || op == "$numberDouble" ||
        op == "$numberDecimal") {
      return only(op) && number(op, *first, path);
    }
    return fail(kUnknownOperator, path,
                "\"" + std::string(op) + "\" has no plain JSON form an event can hold " +
                    "(converted: $binary subtype 04, $uuid, $date, $oid, $numberInt, " +
                    "$numberLong, $numberDouble, $numberDecimal)");
  }

  bool binary(const Value& obj, const Value& inner, const std::string& path) {
    std::string_view base64;
    std::string_view subtype;
    if (inner.IsObject()) {  // v2: {"$binary":{"base64":…,"subType":…}}
      if (obj.MemberCount() != 1 || inner.MemberCount() != 2 || !inner.HasMember("base64") ||
          !inner.HasMember("subType") || !inner["base64"].IsString() ||
          !inner["subType"].IsString()) {
        return fail(kMalformedWrapper, path,
                    "$binary must be {\"base64\": string, \"subType\": string} alone");
      }
      base64 = text_of(inner["base64"]);
      subtype = text_of(inner["subType"]);
    } else {  // legacy: {"$binary":…,"$type":…}
      if (obj.MemberCount() != 2 || !inner.IsString() || !obj.HasMember("$type") ||
          !obj["$type"].IsString()) {
        return fail(kMalformedWrapper, path,
                    "legacy $binary must be {\"$binary\": string, \"$type\": string}");
      }
      base64 = text_of(inner);
      subtype = text_of(obj["$type"]);
    }
    // One or two hex digits ("04", "4").
    bool hex_ok = !subtype.empty() && subtype.size() <= 2 && is_hex(subtype[0]) &&
                  (subtype.size() == 1 || is_hex(subtype[1]));
    if (!hex_ok) {
      return fail(kMalformedWrapper, path,
                  "$binary subType \"" + event::excerpt(subtype, 16) +
                      "\" is not 1 or 2 hex digits");
    }
    unsigned type = 0;
    std::from_chars(subtype.data(), subtype.data() + subtype.size(), type, 16);
    auto bytes = decode_base64(base64);
    if (!bytes) {
      return fail(kBadBase64, path,
                  "\"" + event::excerpt(base64, 40) + "\" is not valid base64 (RFC 4648, padded)");
    }
    if (type == 3) {
      return fail(kUnsupportedBinary, path,
                  "binary subtype 03 is a legacy UUID whose byte order depends on the driver "
                  "that wrote it; export it as subtype 04 (standard UUID)");
    }
    if (type != 4) {
      return fail(kUnsupportedBinary, path,
                  "binary subtype " + std::string(subtype) +
                      " has no JSON form an event can hold (only 04, a UUID, is converted)");
    }
    if (bytes->size() != 16) {
      return fail(kBadUuid, path,
                  "a UUID (binary subtype 04) has 16 bytes, this one " +
                      std::to_string(bytes->size()));
    }
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string text;
    text.reserve(36);
    for (std::size_t i = 0; i < 16; ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) text.push_back('-');
      auto b = static_cast<unsigned char>((*bytes)[i]);
      text.push_back(kDigits[b >> 4]);
      text.push_back(kDigits[b & 15]);
    }
    w_.String(text.data(), static_cast<rapidjson::SizeType>(text.size()), true);
    return true;
  }

  bool uuid(const Value& v, const std::string& path) {
    if (!v.IsString()) return fail(kBadUuid, path, "$uuid must be a string");
    std::string_view s = text_of(v);
    if (!event::is_uuid(s)) {
      return fail(kBadUuid, path,
                  "$uuid \"" + event::excerpt(s, 40) +
                      "\" is not 32 hex digits in the 8-4-4-4-12 form");
    }
    std::string text(s);
    for (char& c : text) c = lower(c);
    w_.String(text.data(), static_cast<rapidjson::SizeType>(text.size()), true);
    return true;
  }

  bool date(const Value& v, const std::string& path) {
    std::optional<std::int64_t> ms;
    if (v.IsString()) {  // relaxed: ISO 8601 with an offset
      ms = event::iso8601_to_epoch_ms(text_of(v));
      if (!ms) {
        return fail(kBadDate, path,
                    "$date \"" + event::excerpt(text_of(v), 40) + "\" is not an ISO 8601 date");
      }
    } else if (v.IsObject() && v.MemberCount() == 1 && v.HasMember("$numberLong") &&
               v["$numberLong"].IsString()) {  // canonical: epoch milliseconds
      ms = whole_integer<std::int64_t>(text_of(v["$numberLong"]));
      if (!ms) {
        return fail(kBadDate, path,
                    "$date's $numberLong \"" + event::excerpt(text_of(v["$numberLong"]), 40) +
                        "\" is not a 64-bit integer");
      }
    } else if (v.IsInt64()) {  // Extended JSON v1's relaxed form
      ms = v.GetInt64();
    } else {
      return fail(kBadDate, path,
                  "$date must be an ISO 8601 string, {\"$numberLong\": string} or an integer");
    }
    auto text = format_utc_ms(*ms);
    if (!text) {
      return fail(kBadDate, path,
                  std::to_string(*ms) +
                      " ms since 1970 is outside the years 0000 to 9999 an ISO 8601 date holds");
    }
    w_.String(text->data(), static_cast<rapidjson::SizeType>(text->size()), true);
    return true;
  }

  bool object_id(const Value& v, const std::string& path) {
    bool ok = v.IsString() && v.GetStringLength() == 24;
    for (std::size_t i = 0; ok && i < 24; ++i) ok = is_hex(v.GetString()[i]);
    if (!ok) return fail(kBadObjectId, path, "$oid must be a string of 24 hex digits");
    std::string text(text_of(v));
    for (char& c : text) c = lower(c);
    w_.String(text.data(), static_cast<rapidjson::SizeType>(text.size()), true);
    return true;
  }

  bool number(std::string_view op, const Value& v, const std::string& path) {
    const std::string name(op);
    if (!v.IsString()) return fail(kBadNumber, path, name + " must be a string");
    std::string_view s = text_of(v);
    if (op == "$numberInt") {
      auto i = whole_integer<std::int32_t>(s);
      if (!i) return fail(kBadNumber, path, bad_text(name, s, "a 32-bit integer"));
      w_.Int(*i);
      return true;
    }
    if (op == "$numberLong") {
      auto i = whole_integer<std::int64_t>(s);
      if (!i) return fail(kBadNumber, path, bad_text(name, s, "a 64-bit integer"));
      w_.Int64(*i);
      return true;
    }
    // $numberDouble and $numberDecimal.
    if (s == "Infinity" || s == "-Infinity" || s == "NaN" || s == "-NaN") {
      return fail(kNonFiniteNumber, path,
                  name + " \"" + std::string(s) + "\" is not a number JSON can hold");
    }
    if (!json_number_text(s)) return fail(kBadNumber, path, bad_text(name, s, "a number"));
    event::detail::Number n = event::detail::read_number(s);
    switch (n.kind) {
      case event::detail::Number::Kind::kInt: w_.Int(static_cast<int>(n.i)); return true;
      case event::detail::Number::Kind::kUint: w_.Uint(static_cast<unsigned>(n.u)); return true;
      case event::detail::Number::Kind::kInt64: w_.Int64(n.i); return true;
      case event::detail::Number::Kind::kUint64: w_.Uint64(n.u); return true;
      case event::detail::Number::Kind::kDouble:
        if (std::isfinite(n.d) && w_.Double(n.d)) return true;
        break;
      case event::detail::Number::Kind::kTooBig: break;
    }
    return fail(kBadNumber, path, bad_text(name, s, "a number within a double's range"));
  }

  static std::string bad_text(const std::string& op, std::string_view s, const char* expected) {
    return op + " \"" + event::excerpt(s, 40) + "\" is not " + expected;
  }

  Writer& w_;
  Error error_;
};

}  // namespace

event::JsonLimits document_limits(const event::JsonLimits& events) {
  event::JsonLimits limits = events;
  limits.max_depth = events.max_depth + 1;
  limits.max_bytes = events.max_bytes > std::numeric_limits<std::size_t>::max() / 2
                         ? std::numeric_limits<std::size_t>::max()
                         : events.max_bytes * 2;
  return limits;
}

Result<std::string> convert_document(std::string_view document, const event::JsonLimits& limits) {
  rapidjson::Document doc;
  constexpr unsigned kFlags =
      rapidjson::kParseValidateEncodingFlag | rapidjson::kParseFullPrecisionFlag;
  if (event::JsonError error = event::parse_bounded<kFlags>(doc, document, limits)) {
    return Error{std::string(event::reason_code(error.problem)), std::move(error.detail)};
  }
  rapidjson::StringBuffer out;
  Writer writer(out);
  Converter converter(writer);
  if (!converter.document(doc)) return converter.error();
  return std::string(out.GetString(), out.GetSize());
}

std::optional<std::string> decode_base64(std::string_view text) {
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=' && last && j >= 2) {
        v[j] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      v[j] = sextet(c);
      if (v[j] < 0) return std::nullopt;
    }
    std::uint32_t bits = (static_cast<std::uint32_t>(v[0]) << 18) |
                         (static_cast<std::uint32_t>(v[1]) << 12) |
                         (static_cast<std::uint32_t>(v[2]) << 6) | static_cast<std::uint32_t>(v[3]);
    // Canonical encoding only: the bits the padding drops must be zero.
    if ((pad == 1 && (bits & 0xFF) != 0) || (pad == 2 && (bits & 0xFFFF) != 0)) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(bits >> 16));
    if (pad < 2) out.push_back(static_cast<char>((bits >> 8) & 0xFF));
    if (pad < 1) out.push_back(static_cast<char>(bits & 0xFF));
  }
  return out;
}

std::optional<std::string> format_utc_ms(std::int64_t epoch_ms) {
  constexpr std::int64_t kMin = -62167219200000;  // 0000-01-01T00:00:00.000Z
  constexpr std::int64_t kMax = 253402300799999;  // 9999-12-31T23:59:59.999Z
  if (epoch_ms < kMin || epoch_ms > kMax) return std::nullopt;
  return event::epoch_ms_to_iso8601(epoch_ms);  // the history's own form of an instant
}

}  // namespace pemx::import
