#pragma once
// group.instance.id (Kafka's static group membership, KIP-345) as PEMX's config gives it.
//
// The one expansion rule: every "${NAME}" in the value is replaced by the environment
// variable NAME; "${HOSTNAME}", when HOSTNAME is not in the environment (systemd does not
// export it, shells do not by default), is the machine's host name (gethostname()). A
// variable that is unset or empty, or a "${" without its "}", is an error: an instance id
// that silently became "" or "dist-" would make every instance the same member. Nothing
// else is special ("$" alone is kept; "$${" is a literal "${"). Kafka client properties take
// the same rule (kafka/properties_config.hpp).
//
// Legal ids are Kafka's: 1 to 249 characters of [A-Za-z0-9._-] (the broker refuses others).
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "pemx/result.hpp"

namespace pemx::kafka {

inline constexpr std::size_t kMaxGroupInstanceIdLength = 249;

// A variable's value, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process's environment, HOSTNAME falling back to gethostname(). Reads the environment
// when called (config load), never later.
std::optional<std::string> process_env(const std::string& name);

// Expands the placeholders of `text` (the rule above). Error codes: "unset_variable",
// "unterminated_placeholder"; messages name the variable.
Result<std::string> expand_placeholders(std::string_view text, const EnvLookup& lookup);

// nullopt when `id` is a legal group.instance.id; otherwise why not, for the operator.
std::optional<std::string> group_instance_id_problem(std::string_view id);

}  // namespace pemx::kafka
