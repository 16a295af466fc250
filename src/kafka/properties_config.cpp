#include "kafka/properties_config.hpp"

#include <string>

namespace pemx::kafka {

namespace {
constexpr std::string_view kSecretProblem =
    "a ${NAME} in it names an environment variable that is not set or is empty, or a \"${\" "
    "has no closing \"}\" (the value is a secret: not shown); set the variable, or write a "
    "literal \"${\" as \"$${\"";
}  // namespace

bool holds_secret(std::string_view name) {
  return name.find("password") != std::string_view::npos ||
         name.find("secret") != std::string_view::npos || name == "ssl.key.pem" ||
         name == "sasl.oauthbearer.config";
}

Properties read_properties(ConfigSection& section, std::string_view key,
                           const EnvLookup& lookup) {
  Properties properties;
  for (auto& [name, value] : section.string_map(key)) {
    if (value.find("${") == std::string::npos) {
      properties.emplace_back(std::move(name), std::move(value));
      continue;
    }
    auto expanded = expand_placeholders(value, lookup);
    if (!expanded) {  // left out, so that librdkafka's check does not judge the raw text
      // A secret's text is never shown, not even the part that looked like a placeholder
      // (a literal password holding "${").
      section.error(key, "\"" + name + "\": " +
                             (holds_secret(name) ? std::string(kSecretProblem)
                                                 : expanded.error().message));
      continue;
    }
    properties.emplace_back(std::move(name), std::move(expanded.value()));
  }
  return properties;
}

}  // namespace pemx::kafka
