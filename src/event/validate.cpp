#include "event/validate.hpp"

#include <cctype>

namespace pemx::event {

namespace {
bool hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly n digits at pos into out.
bool digits(std::string_view s, std::size_t& pos, int n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (int i = 0; i < n; ++i) {
    if (!digit(s[pos + i])) return false;
    out = out * 10 + (s[pos + i] - '0');
  }
  pos += n;
  return true;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int days_in(int y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : d[m - 1];
}

bool non_empty_string(const rapidjson::Value& obj, std::string_view field) {
  auto it = obj.FindMember(rapidjson::Value(rapidjson::StringRef(field.data(), field.size())));
  return it != obj.MemberEnd() && it->value.IsString() && it->value.GetStringLength() > 0;
}
const rapidjson::Value* member(const rapidjson::Value& obj, std::string_view field) {
  auto it = obj.FindMember(rapidjson::Value(rapidjson::StringRef(field.data(), field.size())));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}
}  // namespace

std::optional<ValidationMode> parse_validation_mode(std::string_view text) {
  if (text == "off") return ValidationMode::kOff;
  if (text == "report") return ValidationMode::kReport;
  if (text == "strict") return ValidationMode::kStrict;
  return std::nullopt;
}

std::string_view validation_mode_name(ValidationMode mode) {
  return kValidationModeNames[static_cast<int>(mode)];
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !hex(s[i])) return false;
  }
  return true;
}

bool is_iso8601(std::string_view s) {
  std::size_t pos = 0;
  int year = 0, month = 0, day = 0;
  if (!digits(s, pos, 4, year)) return false;
  if (pos == s.size()) return true;  // a year alone ("2024"), as the reference accepts
  bool extended = s[pos] == '-';
  if (extended) ++pos;
  if (!digits(s, pos, 2, month) || month < 1 || month > 12) return false;
  if (extended && pos == s.size()) return true;  // "2024-07"
  if (extended && (pos >= s.size() || s[pos] != '-')) return false;
  if (extended) ++pos;
  if (!digits(s, pos, 2, day) || day < 1 || day > days_in(year, month)) return false;
  if (pos == s.size()) return true;  // a date alone
  if (s[pos] != 'T' && s[pos] != ' ') return false;
  ++pos;
  int hour = 0, minute = 0, second = 0;
  bool fraction = false;  // a non-zero fraction of a second
  if (!digits(s, pos, 2, hour) || hour > 24) return false;
  if (extended && (pos >= s.size() || s[pos] != ':')) return false;
  if (extended) ++pos;
  if (!digits(s, pos, 2, minute) || minute > 59) return false;
  bool has_seconds = extended ? (pos < s.size() && s[pos] == ':') : (pos < s.size() && digit(s[pos]));
  if (has_seconds) {
    if (extended) ++pos;
    if (!digits(s, pos, 2, second) || second > 60) return false;  // 60: leap second
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      ++pos;
      std::size_t start = pos;
      while (pos < s.size() && digit(s[pos])) fraction |= s[pos++] != '0';
      if (pos == start) return false;
    }
  }
  // 24:00 is the end of the day, nothing past it (JS Date refuses "T24:00:00.001" too).
  if (hour == 24 && (minute != 0 || second != 0 || fraction)) return false;
  if (pos == s.size()) return true;  // local time
  if (s[pos] == 'Z' || s[pos] == 'z') return pos + 1 == s.size();
  if (s[pos] != '+' && s[pos] != '-') return false;
  ++pos;
  int oh = 0, om = 0;
  if (!digits(s, pos, 2, oh) || oh > 23) return false;
  if (pos == s.size()) return true;
  if (s[pos] == ':') ++pos;
  if (!digits(s, pos, 2, om) || om > 59) return false;
  return pos == s.size();
}

std::vector<FieldError> validate_event(const rapidjson::Value& event) {
  std::vector<FieldError> errors;
  const rapidjson::Value* id = member(event, "eventId");
  if (id == nullptr || !id->IsString() ||
      !is_uuid(std::string_view(id->GetString(), id->GetStringLength()))) {
    errors.push_back({"eventId", std::string(kMsgEventId)});
  }
  if (!non_empty_string(event, "eventType")) errors.push_back({"eventType", std::string(kMsgEventType)});
  if (!non_empty_string(event, "productId")) errors.push_back({"productId", std::string(kMsgProductId)});
  if (!non_empty_string(event, "region")) errors.push_back({"region", std::string(kMsgRegion)});
  const rapidjson::Value* created = member(event, "createdAt");
  if (created == nullptr || !created->IsString() ||
      !is_iso8601(std::string_view(created->GetString(), created->GetStringLength()))) {
    errors.push_back({"createdAt", std::string(kMsgCreatedAt)});
  }
  return errors;
}

}  // namespace pemx::event
