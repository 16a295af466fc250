#include "tools/command.hpp"

#include <iostream>

#include "core/config.hpp"
#include "pemx/registry.hpp"
#include "pemx/version.hpp"

namespace pemx::tools {

namespace {

constexpr std::string_view kTitle = "pemx — Product Events Message Exchange\n\nUsage:\n";

constexpr std::string_view kFooter = R"(  pemx --help | --version

Options:
  --config FILE     the configuration (default ./pemx.toml)
  --set KEY=VALUE   override any config key, e.g. --set kafka.brokers=embedded
                    --set http.listen=127.0.0.1:9090 --set store.path=/var/lib/pemx/pemx.db
  --role=ROLE       a role from [roles] in the config

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad configuration,
            3 (import) done, but some lines were rejected (listed in the summary).
)";

constexpr std::string_view kPrefix = "  pemx ";
// The help starts in this column when the usage leaves two spaces before it ...
constexpr std::size_t kHelpColumn = 59;
// ... and otherwise on the lines below the usage, indented this far.
constexpr std::size_t kHelpBelowIndent = 36;

void append_help(std::string& out, std::string_view help, std::size_t indent, bool first_inline) {
  bool first = true;
  while (true) {
    auto end = help.find('\n');
    if (!(first && first_inline)) out.append(indent, ' ');
    out.append(help.substr(0, end));
    out += '\n';
    first = false;
    if (end == std::string_view::npos) break;
    help.remove_prefix(end + 1);
  }
}

}  // namespace

std::string usage_text(std::span<const Command> commands) {
  std::string out(kTitle);
  for (const Command& c : commands) {
    out.append(kPrefix).append(c.usage);
    const std::size_t used = kPrefix.size() + c.usage.size();
    if (used + 2 <= kHelpColumn) {
      out.append(kHelpColumn - used, ' ');
      append_help(out, c.help, kHelpColumn, true);
    } else {
      out += '\n';
      append_help(out, c.help, kHelpBelowIndent, false);
    }
  }
  out.append(kFooter);
  return out;
}

const Command* find_command(std::span<const Command> commands, std::string_view name) {
  for (const Command& c : commands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

int dispatch(std::span<const Command> commands, std::string_view fallback,
             std::vector<std::string> args, const Registry& registry, std::istream& in,
             std::ostream& out, std::ostream& err) {
  const Command* command = args.empty() ? nullptr : find_command(commands, args.front());
  if (command != nullptr) {
    args.erase(args.begin());
  } else {
    command = find_command(commands, fallback);
  }
  if (command == nullptr) return usage_error(err, "no command \"" + std::string(fallback) + "\"");
  const std::string usage = usage_text(commands);
  return command->run(Invocation{std::move(args), registry, in, out, err, usage});
}

ParsedArgs parse_common_args(const Invocation& invocation, Operands operands) {
  ParsedArgs parsed;
  CommonArgs& a = parsed.args;
  const std::vector<std::string>& args = invocation.args;
  auto fail = [&](const std::string& message) {
    parsed.exit_code = usage_error(invocation.err, message);
    return parsed;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    // "--name=value" or "--name value"; false when the value is missing.
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
      invocation.out << invocation.usage;
      parsed.exit_code = 0;
      return parsed;
    }
    if (arg == "--version") {
      invocation.out << "pemx " << kVersion << "\n";
      parsed.exit_code = 0;
      return parsed;
    }
    if (arg.rfind("--role", 0) == 0) {
      if (!value("--role", a.role)) return fail("--role needs a value");
    } else if (arg.rfind("--config", 0) == 0) {
      if (!value("--config", a.config)) return fail("--config needs a file");
    } else if (arg.rfind("--set", 0) == 0) {
      if (!value("--set", v)) return fail("--set needs KEY=VALUE");
      a.sets.push_back(v);
    } else if (operands == Operands::kAccepted && (arg == "-" || arg.rfind("-", 0) != 0)) {
      a.operands.push_back(arg);
    } else {
      return fail("unknown argument \"" + arg + "\"");
    }
  }
  return parsed;
}

int usage_error(std::ostream& err, const std::string& message) {
  err << "pemx: " << message << "\nRun pemx --help for usage.\n";
  return 2;
}

std::unique_ptr<Config> load_config_or_report(const CommonArgs& args, const Registry& registry,
                                              std::ostream& err) {
  LoadResult loaded = load_config(args.config, args.sets, registry);
  for (const auto& e : loaded.errors) err << "config error: " << e.str() << "\n";
  if (!loaded.errors.empty()) {
    err << loaded.errors.size() << " configuration error(s); nothing was started.\n";
  }
  return std::move(loaded.config);
}

}  // namespace pemx::tools
