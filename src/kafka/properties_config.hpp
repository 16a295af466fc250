#pragma once
// Kafka client properties as the config gives them ([kafka.properties], a stage's
// `properties`): name = value pairs whose values may take "${NAME}" from the environment, so
// a secret such as sasl.password can come from a Kubernetes Secret or a systemd
// EnvironmentFile instead of sitting in the config file. The rule is group.instance.id's
// (kafka/group_instance.hpp): every "${NAME}" is the variable's value, an unset or empty
// variable is a config error naming the property and the variable (for a secret only the
// property: a literal password may hold "${"; never the value), "$${"
// is a literal "${". Expanded once, when the config is read.
#include <string_view>

#include "core/config_section.hpp"
#include "kafka/group_instance.hpp"
#include "kafka/kafka_config.hpp"

namespace pemx::kafka {

// Whether librdkafka property `name` holds a secret (a password, a client secret, a private
// key): its problems never quote its text.
bool holds_secret(std::string_view name);

// The table `key` of `section` with its placeholders expanded; each problem is an error of
// `section` at `key`.
Properties read_properties(ConfigSection& section, std::string_view key = "properties",
                           const EnvLookup& lookup = &process_env);

}  // namespace pemx::kafka
