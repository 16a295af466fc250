// pemx: argv, config, registry, supervisor. Nothing else lives here.
#include <iostream>
#include <string>
#include <vector>

#include "builtin_stages.hpp"
#include "core/config.hpp"
#include "core/supervisor.hpp"
#include "pemx/version.hpp"

namespace {

constexpr const char* kUsage = R"(pemx — Product Events Message Exchange

Usage:
  pemx --role=ROLE [--config FILE] [--set KEY=VALUE ...]   run a role (dist, web, all)
  pemx check-config [--config FILE] [--set KEY=VALUE ...]  validate; print the routing table
  pemx route [--role=ROLE] [--config FILE] [--set ...]     route JSON lines from stdin, offline
  pemx --help | --version

Options:
  --config FILE     the configuration (default ./pemx.toml)
  --set KEY=VALUE   override any config key, e.g. --set kafka.brokers=embedded
                    --set http.listen=127.0.0.1:9090 --set store.path=/var/lib/pemx/pemx.db
  --role=ROLE       a role from [roles] in the config

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad configuration.
)";

struct Args {
  std::string command = "run";
  std::string role;
  std::string config = "pemx.toml";
  std::vector<std::string> sets;
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
    } else if (i == 0 && (arg == "check-config" || arg == "route" || arg == "run")) {
      a.command = arg;
    } else {
      return usage_error("unknown argument \"" + arg + "\"");
    }
  }
  if (a.command == "run" && a.role.empty()) return usage_error("--role is required");
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (int rc = parse_args(argc, argv, args); rc >= 0) return rc;

  pemx::Registry registry = pemx::builtin_stages();
  pemx::LoadResult loaded = pemx::load_config(args.config, args.sets, registry);
  if (!loaded.errors.empty()) {
    for (const auto& e : loaded.errors) std::cerr << "config error: " << e.str() << "\n";
    std::cerr << loaded.errors.size() << " configuration error(s); nothing was started.\n";
    return 2;
  }
  const pemx::Config& config = *loaded.config;

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
