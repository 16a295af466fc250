#include "event/time.hpp"

#include <cstdio>

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
// The date of a day count since 1970-01-01 (the inverse, from the same source).
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
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

std::string epoch_ms_to_iso8601(std::int64_t ms) {
  constexpr std::int64_t kDay = 86'400'000;
  std::int64_t days = ms / kDay, rest = ms % kDay;
  if (rest < 0) {  // floor, not truncation, before 1970
    rest += kDay;
    --days;
  }
  std::int64_t year = 0;
  unsigned month = 0, day = 0;
  civil_from_days(days, year, month, day);
  const auto time = static_cast<long long>(rest);
  char buf[40];
  const int n = year >= 0 && year <= 9999
                    ? std::snprintf(buf, sizeof buf, "%04lld", static_cast<long long>(year))
                    : std::snprintf(buf, sizeof buf, "%c%06lld", year < 0 ? '-' : '+',
                                    static_cast<long long>(year < 0 ? -year : year));
  std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n),
                "-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", month, day, time / 3'600'000,
                time / 60'000 % 60, time / 1000 % 60, time % 1000);
  return buf;
}

}  // namespace pemx::event
