#include "core/config.hpp"
#include "pemx/registry.hpp"
#include "tools/commands.hpp"

namespace pemx::tools {

int import(const Invocation& invocation) {
  ParsedArgs parsed = parse_common_args(invocation, Operands::kAccepted);
  if (parsed.exit_code) return *parsed.exit_code;
  if (parsed.args.operands.size() != 1) {
    return usage_error(invocation.err, "import needs one FILE (\"-\" for standard input)");
  }
  auto config = load_config_or_report(parsed.args, invocation.registry, invocation.err);
  if (!config) return 2;
  const std::string role = parsed.args.role.empty() ? "web" : parsed.args.role;
  auto it = config->roles.find(role);
  if (it == config->roles.end()) {
    return usage_error(invocation.err, "no role \"" + role + "\" in the config");
  }
  ToolCall call{"import", parsed.args.operands, invocation.in, invocation.out, invocation.err};
  for (const auto& name : it->second) {
    int rc = config->stage(name)->spec->run_command(call);
    if (rc >= 0) return rc;
  }
  return usage_error(invocation.err, "role \"" + role + "\" has no store stage to import into");
}

}  // namespace pemx::tools
