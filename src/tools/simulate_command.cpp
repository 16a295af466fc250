#include <ostream>

#include "core/config.hpp"
#include "tools/commands.hpp"
#include "tools/simulate/options.hpp"
#include "tools/simulate/simulate.hpp"

namespace pemx::tools {

// Its options are its own (--rate, --watch, ...; --config and --set among them), so it does
// not use parse_common_args, and its --help is its own usage.
int simulate(const Invocation& invocation) {
  auto options = sim::parse_simulate_options(invocation.args);
  if (!options) {
    invocation.err << "pemx simulate: " << options.error().message
                   << "\nRun pemx simulate --help for usage.\n";
    return 2;
  }
  if (options->help) {
    invocation.out << sim::kSimulateUsage;
    return 0;
  }
  CommonArgs config_args;
  config_args.config = options->config;
  config_args.sets = options->sets;
  auto config = load_config_or_report(config_args, invocation.registry, invocation.err);
  if (!config) return 2;
  return sim::simulate(*config, options.value(), invocation.out, invocation.err);
}

}  // namespace pemx::tools
