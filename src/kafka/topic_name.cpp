#include "kafka/topic_name.hpp"

#include <array>

namespace pemx::kafka {

namespace {
// The characters Kafka allows in a topic name, as a table: the router checks every topic it
// renders, for every event.
constexpr std::array<bool, 256> kLegal = [] {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  t['.'] = t['_'] = t['-'] = true;
  return t;
}();
}  // namespace

std::optional<std::string> topic_name_problem(std::string_view name) {
  if (name.empty()) return "topic name is empty";
  if (name.size() > kMaxTopicLength) {
    return "topic name is " + std::to_string(name.size()) + " characters long; the limit is " +
           std::to_string(kMaxTopicLength);
  }
  if (name == "." || name == "..") return "topic name cannot be \".\" or \"..\"";
  if (name.substr(0, 2) == "__") return "topic names starting with \"__\" are Kafka-internal";
  for (char c : name) {
    if (!kLegal[static_cast<unsigned char>(c)]) {
      std::string shown = (static_cast<unsigned char>(c) < 0x20 || c == 0x7f ||
                           static_cast<unsigned char>(c) >= 0x80)
                              ? "byte " + std::to_string(static_cast<unsigned char>(c))
                              : "'" + std::string(1, c) + "'";
      return "topic name contains " + shown +
             "; only letters, digits, '.', '_' and '-' are allowed";
    }
  }
  return std::nullopt;
}

}  // namespace pemx::kafka
