#include "event/time.hpp"

#include "event/validate.hpp"

namespace pemx::event {

namespace {
bool digit(char c) { return c >= '0' && c <= '9'; }
// Reads n digits; the caller has validated the text, so this only converts.
int take(std::string_view s, std::size_t& pos, int n) {
  int v = 0;
  for (int i = 0; i < n; ++i) v = v * 10 + (s[pos++] - '0');
  return v;
}
// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}
}  // namespace

std::optional<std::int64_t> iso8601_to_epoch_ms(std::string_view s) {
  if (!is_iso8601(s)) return std::nullopt;
  std::size_t pos = 0;
  int year = take(s, pos, 4), month = 1, day = 1;
  bool extended = pos < s.size() && s[pos] == '-';
  if (pos < s.size()) {
    if (extended) ++pos;
    month = take(s, pos, 2);
    if (pos < s.size() && (!extended || s[pos] == '-')) {
      if (extended) ++pos;
      day = take(s, pos, 2);
    }
  }
  std::int64_t ms = days_from_civil(year, month, day) * 86'400'000;
  if (pos == s.size()) return ms;
  ++pos;  // 'T' or ' '
  int hour = take(s, pos, 2);
  if (extended) ++pos;
  int minute = take(s, pos, 2), second = 0, millis = 0;
  if (pos < s.size() && (s[pos] == ':' || digit(s[pos]))) {
    if (s[pos] == ':') ++pos;
    second = take(s, pos, 2);
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      ++pos;
      int scale = 100;
      while (pos < s.size() && digit(s[pos])) {
        millis += (s[pos++] - '0') * scale;
        scale /= 10;
      }
    }
  }
  ms += ((hour * 60LL + minute) * 60 + second) * 1000 + millis;
  if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos++] == '+' ? 1 : -1;
    int oh = take(s, pos, 2), om = 0;
    if (pos < s.size()) {
      if (s[pos] == ':') ++pos;
      om = take(s, pos, 2);
    }
    ms -= sign * (oh * 60LL + om) * 60'000;  // local = UTC + offset
  }
  return ms;
}

}  // namespace pemx::event
