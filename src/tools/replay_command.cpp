#include <ostream>

#include "core/config.hpp"
#include "tools/commands.hpp"
#include "tools/replay/options.hpp"
#include "tools/replay/replay.hpp"

namespace pemx::tools {

// Its own options first (tools/replay/options.hpp), then the shared ones (--role, --config,
// --set, --help) from what is left.
int replay(const Invocation& invocation) {
  auto options = pemx::replay::parse_replay_args(invocation.args);
  if (!options) return usage_error(invocation.err, options.error().message);
  Invocation rest{options->rest, invocation.registry, invocation.in, invocation.out,
                  invocation.err, invocation.usage};
  ParsedArgs parsed = parse_common_args(rest, Operands::kNone);
  if (parsed.exit_code) return *parsed.exit_code;
  auto config = load_config_or_report(parsed.args, invocation.registry, invocation.err);
  if (!config) return 2;
  const std::string role = parsed.args.role.empty() ? "dist" : parsed.args.role;
  return pemx::replay::run(*config, role, options.value(), invocation.out, invocation.err);
}

}  // namespace pemx::tools
