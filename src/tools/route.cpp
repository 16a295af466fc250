#include "core/config.hpp"
#include "pemx/registry.hpp"
#include "tools/commands.hpp"

namespace pemx::tools {

int route(const Invocation& invocation) {
  ParsedArgs parsed = parse_common_args(invocation, Operands::kNone);
  if (parsed.exit_code) return *parsed.exit_code;
  auto config = load_config_or_report(parsed.args, invocation.registry, invocation.err);
  if (!config) return 2;
  const std::string role = parsed.args.role.empty() ? "dist" : parsed.args.role;
  auto it = config->roles.find(role);
  if (it == config->roles.end()) {
    return usage_error(invocation.err, "no role \"" + role + "\" in the config");
  }
  for (const auto& name : it->second) {
    int rc = config->stage(name)->spec->run_tool("route", invocation.in, invocation.out);
    if (rc >= 0) return rc;
  }
  return usage_error(invocation.err, "role \"" + role + "\" has no routing stage");
}

}  // namespace pemx::tools
