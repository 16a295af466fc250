#include "http_front/js_number.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <string_view>

namespace pemx::http_front {

std::string js_number(double d) {
  if (d == 0) return "0";
  char sci[32];
  // Shortest round-trip digits, as "-d.ddde+XX".
  auto [end, ec] = std::to_chars(sci, sci + sizeof sci, d, std::chars_format::scientific);
  const std::string_view text(sci, static_cast<std::size_t>(end - sci));
  const std::size_t e_at = text.find('e');
  std::string out = d < 0 ? "-" : "";
  std::string digits;
  for (char c : text.substr(d < 0 ? 1 : 0, e_at - (d < 0 ? 1 : 0))) {
    if (c != '.') digits += c;
  }
  int exp = 0;
  std::string_view e_text = text.substr(e_at + 1);
  if (e_text.front() == '+') e_text.remove_prefix(1);
  std::from_chars(e_text.data(), e_text.data() + e_text.size(), exp);
  const int k = static_cast<int>(digits.size());
  const int n = exp + 1;  // the value is 0.digits × 10^n
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, static_cast<std::size_t>(n));
    out += '.';
    out += digits.substr(static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out += digits.substr(1);
    }
    out += n - 1 >= 0 ? "e+" : "e-";
    out += std::to_string(n - 1 >= 0 ? n - 1 : 1 - n);
  }
  return out;
}

namespace {
// RapidJSON's writer with JavaScript's doubles (Accept calls the handler's Double by name).
class JsWriter : public rapidjson::Writer<rapidjson::StringBuffer> {
 public:
  using Writer::Writer;
  bool Double(double d) {
    const std::string s = js_number(d);
    return RawValue(s.data(), s.size(), rapidjson::kNumberType);
  }
};
}  // namespace

std::string to_js_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  JsWriter w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace pemx::http_front
