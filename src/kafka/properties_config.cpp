#include "kafka/properties_config.hpp"

#include <string>

namespace pemx::kafka {

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
      section.error(key, "\"" + name + "\": " + expanded.error().message);
      continue;
    }
    properties.emplace_back(std::move(name), std::move(expanded.value()));
  }
  return properties;
}

}  // namespace pemx::kafka
