#include "kafka/topic_name.hpp"

namespace pemx::kafka {

std::optional<std::string> topic_name_problem(std::string_view name) {
  if (name.empty()) return "topic name is empty";
  if (name.size() > kMaxTopicLength) {
    return "topic name is " + std::to_string(name.size()) + " characters long; the limit is " +
           std::to_string(kMaxTopicLength);
  }
  if (name == "." || name == "..") return "topic name cannot be \".\" or \"..\"";
  if (name.substr(0, 2) == "__") return "topic names starting with \"__\" are Kafka-internal";
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
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
