// pemx: argv, config, registry, supervisor. Nothing else lives here: the subcommands are in
// src/tools/ (one function each), and this table names them; `pemx --help` is made from it.
#include <librdkafka/rdkafka.h>

#include <iostream>
#include <string>
#include <vector>

#include "builtin_stages.hpp"
#include "core/config.hpp"
#include "core/supervisor.hpp"
#include "pemx/version.hpp"
#include "tools/command.hpp"
#include "tools/commands.hpp"

namespace {

// pemx --role=ROLE: runs the role's stages under the supervisor until a signal or a failure.
int run_role(const pemx::tools::Invocation& invocation) {
  auto parsed = pemx::tools::parse_common_args(invocation, pemx::tools::Operands::kNone);
  if (parsed.exit_code) return *parsed.exit_code;
  const std::string& role = parsed.args.role;
  if (role.empty()) return pemx::tools::usage_error(invocation.err, "--role is required");
  auto loaded = pemx::tools::load_config_or_report(parsed.args, invocation.registry,
                                                   invocation.err);
  if (!loaded) return 2;
  const pemx::Config& config = *loaded;

  pemx::block_shutdown_signals();
  pemx::block_reload_signal();  // SIGHUP reloads the routing rules (core/reload.hpp)
  auto sink = pemx::make_stderr_sink(config.common.log_level);
  pemx::Logger log(sink, "pemx");
  std::string compiled;
  for (const auto& t : invocation.registry.types()) {
    compiled += (compiled.empty() ? "" : ",") + t;
  }
  log.info("starting", {{"version", pemx::kVersion},
                        {"role", role},
                        {"config", config.file},
                        {"compiled_stages", compiled}});
  pemx::Metrics metrics;
  metrics.gauge_fn("pemx_build_info",
                   "The running build (always 1): PEMX's version, the role, librdkafka's version",
                   {{"version", pemx::kVersion},
                    {"role", role},
                    {"librdkafka", rd_kafka_version_str()}},
                   [] { return 1.0; });
  // A reload reads the same file with the same --set overrides, through the same loader.
  pemx::Supervisor supervisor(config, role, log, metrics, [&parsed, &invocation] {
    return pemx::load_config(parsed.args.config, parsed.args.sets, invocation.registry);
  });
  return supervisor.run();
}

// The subcommands, in --help's order. "run" is also the command when the first argument names
// none, so its usage line shows only its options.
constexpr pemx::tools::Command kCommands[] = {
    {"run", "--role=ROLE [--config FILE] [--set KEY=VALUE ...]", "run a role (dist, web, all)",
     run_role},
    {"check-config", "check-config [--role=ROLE] [--config FILE] [--set KEY=VALUE ...]",
     "validate (and that ROLE can run); print the routing table", pemx::tools::check_config},
    {"route", "route [--role=ROLE] [--config FILE] [--set ...]",
     "route JSON lines from stdin, offline", pemx::tools::route},
    {"import", "import FILE [--role=ROLE] [--config FILE] [--set ...]",
     "import a mongoexport of the original's events collection\n"
     "(FILE - for stdin) into the role's store (default role\n"
     "web); see docs/importing.md",
     pemx::tools::import},
    {"replay",
     "replay --from TIME --to TIME [--products ID,...] [--topics T,...] [--dry-run] "
     "[--role=ROLE] [--config FILE] [--set ...]",
     "send the stored events whose createdAt is in [from, to) again\n"
     "through the role's current rules and sink (default role dist;\n"
     "store: the role's, else the web role's); TIME is ISO 8601 or\n"
     "epoch ms; --topics only those targets; --dry-run prints what\n"
     "would go where; see docs/replay.md",
     pemx::tools::replay},
    {"simulate", "simulate [--rate N|max] [--count N] [--watch] ...",
     "random events; see simulate --help", pemx::tools::simulate},
};

}  // namespace

int main(int argc, char** argv) {
  pemx::Registry registry = pemx::builtin_stages();
  return pemx::tools::dispatch(kCommands, "run", std::vector<std::string>(argv + 1, argv + argc),
                               registry, std::cin, std::cout, std::cerr);
}
