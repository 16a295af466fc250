#include "kafka/group_instance.hpp"

#include <unistd.h>

#include <climits>
#include <cstdlib>

namespace pemx::kafka {

std::optional<std::string> process_env(const std::string& name) {
  if (const char* v = std::getenv(name.c_str()); v != nullptr) return std::string(v);
  if (name != "HOSTNAME") return std::nullopt;
  char host[HOST_NAME_MAX + 1] = {};
  if (gethostname(host, sizeof host - 1) != 0) return std::nullopt;
  return std::string(host);
}

Result<std::string> expand_placeholders(std::string_view text, const EnvLookup& lookup) {
  std::string out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t open = text.find("${", at);
    if (open == std::string_view::npos) break;
    if (open > at && text[open - 1] == '$') {  // "$${" is a literal "${"
      out.append(text.substr(at, open - 1 - at));
      out += "${";
      at = open + 2;
      continue;
    }
    out.append(text.substr(at, open - at));
    std::size_t close = text.find('}', open + 2);
    if (close == std::string_view::npos) {
      return Error{"unterminated_placeholder",
                   "\"${\" at character " + std::to_string(open + 1) +
                       " has no closing \"}\"; write ${NAME}"};
    }
    std::string name(text.substr(open + 2, close - open - 2));
    auto value = lookup(name);
    if (!value || value->empty()) {
      return Error{"unset_variable",
                   "${" + name + "} expands to nothing: the environment variable " + name +
                       (value ? " is empty" : " is not set") +
                       "; set it in the service's environment, or write the value literally"};
    }
    out += *value;
    at = close + 1;
  }
  if (at < text.size()) out.append(text.substr(at));
  return out;
}

std::optional<std::string> group_instance_id_problem(std::string_view id) {
  if (id.empty()) return "is empty; remove the key for dynamic membership";
  if (id.size() > kMaxGroupInstanceIdLength) {
    return "is " + std::to_string(id.size()) + " characters long; Kafka's limit is " +
           std::to_string(kMaxGroupInstanceIdLength);
  }
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      auto u = static_cast<unsigned char>(c);
      std::string shown = (u < 0x20 || u == 0x7f || u >= 0x80) ? "byte " + std::to_string(u)
                                                                : "'" + std::string(1, c) + "'";
      return "contains " + shown + "; Kafka allows only letters, digits, '.', '_' and '-'";
    }
  }
  return std::nullopt;
}

}  // namespace pemx::kafka
