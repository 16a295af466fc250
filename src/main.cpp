// pemx: argv, config, registry, supervisor. Nothing else lives here.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "builtin_stages.hpp"
#include "core/config.hpp"
#include "core/supervisor.hpp"
#include "pemx/version.hpp"
#include "sim/options.hpp"
#include "sim/simulate.hpp"

namespace {

constexpr const char* kUsage = R"(pemx — Product Events Message Exchange

Usage:
  pemx --role=ROLE [--config FILE] [--set KEY=VALUE ...]   run a role (dist, web, all)
  pemx check-config [--config FILE] [--set KEY=VALUE ...]  validate; print the routing table
  pemx route [--role=ROLE] [--config FILE] [--set ...]     route JSON lines from stdin, offline
  pemx import FILE [--role=ROLE] [--config FILE] [--set ...]
                                    import a mongoexport of the original's events collection
                                    (FILE - for stdin) into the role's store (default role
                                    web); see docs/importing.md
  pemx simulate [--rate N|max] [--count N] [--watch] ...   random events; see simulate --help
  pemx --help | --version

Options:
  --config FILE     the configuration (default ./pemx.toml)
  --set KEY=VALUE   override any config key, e.g. --set kafka.brokers=embedded
                    --set http.listen=127.0.0.1:9090 --set store.path=/var/lib/pemx/pemx.db
  --role=ROLE       a role from [roles] in the config

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad configuration,
            3 (import) done, but some lines were rejected (listed in the summary).
)";

struct Args {
  std::string command = "run";
  std::string role;
  std::string config = "pemx.toml";
  std::vector<std::string> sets;
  std::vector<std::string> operands;  // import's FILE
};

int usage_error(const std::string& message) {
  std::cerr << "pemx: " << message << "\nRun pemx --help for usage.\n";
  return 2;
}

// Returns -1 to continue, or an exit code.
int parse_args(int argc, char** argv, Args& a) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&](const std::string& name, std::string& out) -> bool {
      if (arg.rfind(name + "=", 0) == 0) {
        out = arg.substr(name.size() + 1);
        return true;
      }
      if (arg == name) {
        if (i + 1 >= args.size()) return false;
        out = args[++i];
        return true;
      }
      return false;
    };
    std::string v;
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--version") {
      std::cout << "pemx " << pemx::kVersion << "\n";
      return 0;
    }
    if (arg.rfind("--role", 0) == 0) {
      if (!value("--role", a.role)) return usage_error("--role needs a value");
    } else if (arg.rfind("--config", 0) == 0) {
      if (!value("--config", a.config)) return usage_error("--config needs a file");
    } else if (arg.rfind("--set", 0) == 0) {
      if (!value("--set", v)) return usage_error("--set needs KEY=VALUE");
      a.sets.push_back(v);
    } else if (i == 0 && (arg == "check-config" || arg == "route" || arg == "run" ||
                          arg == "import")) {
      a.command = arg;
    } else if (a.command == "import" && (arg == "-" || arg.rfind("-", 0) != 0)) {
      a.operands.push_back(arg);
    } else {
      return usage_error("unknown argument \"" + arg + "\"");
    }
  }
  if (a.command == "run" && a.role.empty()) return usage_error("--role is required");
  if (a.command == "import" && a.operands.size() != 1) {
    return usage_error("import needs one FILE (\"-\" for standard input)");
  }
  return -1;
}

// The config, or null after printing every error (exit 2).
std::unique_ptr<pemx::Config> load(const std::string& file, const std::vector<std::string>& sets,
                                   const pemx::Registry& registry) {
  pemx::LoadResult loaded = pemx::load_config(file, sets, registry);
  for (const auto& e : loaded.errors) std::cerr << "config error: " << e.str() << "\n";
  if (!loaded.errors.empty()) {
    std::cerr << loaded.errors.size() << " configuration error(s); nothing was started.\n";
  }
  return std::move(loaded.config);
}

// pemx simulate [options]: its own options (src/sim/options.cpp), then src/sim/simulate.cpp.
int simulate(const std::vector<std::string>& args, const pemx::Registry& registry) {
  auto options = pemx::sim::parse_simulate_options(args);
  if (!options) {
    std::cerr << "pemx simulate: " << options.error().message
              << "\nRun pemx simulate --help for usage.\n";
    return 2;
  }
  if (options->help) {
    std::cout << pemx::sim::kSimulateUsage;
    return 0;
  }
  auto config = load(options->config, options->sets, registry);
  if (!config) return 2;
  return pemx::sim::simulate(*config, options.value(), std::cout, std::cerr);
}

}  // namespace

int main(int argc, char** argv) {
  pemx::Registry registry = pemx::builtin_stages();
  if (argc > 1 && std::string(argv[1]) == "simulate") {
    return simulate(std::vector<std::string>(argv + 2, argv + argc), registry);
  }
  Args args;
  if (int rc = parse_args(argc, argv, args); rc >= 0) return rc;

  auto loaded = load(args.config, args.sets, registry);
  if (!loaded) return 2;
  const pemx::Config& config = *loaded;

  if (args.command == "check-config") {
    std::cout << "config " << config.file << ": ok\n";
    for (const auto& [role, stages] : config.roles) {
      std::cout << "role " << role << ":";
      for (const auto& s : stages) std::cout << " " << s;
      std::cout << "\n";
    }
    for (const auto& st : config.stages) {
      std::cout << "stage " << st.name << " (" << st.type << "): " << st.spec->describe();
    }
    return 0;
  }
  if (args.command == "route") {
    std::string role = args.role.empty() ? "dist" : args.role;
    auto it = config.roles.find(role);
    if (it == config.roles.end()) return usage_error("no role \"" + role + "\" in the config");
    for (const auto& name : it->second) {
      int rc = config.stage(name)->spec->run_tool("route", std::cin, std::cout);
      if (rc >= 0) return rc;
    }
    return usage_error("role \"" + role + "\" has no routing stage");
  }
  if (args.command == "import") {
    std::string role = args.role.empty() ? "web" : args.role;
    auto it = config.roles.find(role);
    if (it == config.roles.end()) return usage_error("no role \"" + role + "\" in the config");
    pemx::ToolCall call{"import", args.operands, std::cin, std::cout, std::cerr};
    for (const auto& name : it->second) {
      int rc = config.stage(name)->spec->run_command(call);
      if (rc >= 0) return rc;
    }
    return usage_error("role \"" + role + "\" has no store stage to import into");
  }

  pemx::block_shutdown_signals();
  auto sink = pemx::make_stderr_sink(config.common.log_level);
  pemx::Logger log(sink, "pemx");
  std::string compiled;
  for (const auto& t : registry.types()) compiled += (compiled.empty() ? "" : ",") + t;
  log.info("starting", {{"version", pemx::kVersion},
                        {"role", args.role},
                        {"config", config.file},
                        {"compiled_stages", compiled}});
  pemx::Metrics metrics;
  pemx::Supervisor supervisor(config, args.role, log, metrics);
  return supervisor.run();
}
