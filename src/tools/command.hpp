#pragma once
// pemx's subcommands as one table: a name, a usage line, a one-line help and the function that
// runs the command. src/main.cpp holds the table; this file dispatches argv through it, makes
// `pemx --help` from it, and parses the options the config-reading commands share (--role,
// --config, --set). Adding a command: a function (src/tools/commands.hpp) and a table line.
// Threads: everything here runs on main's thread.
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pemx {
class Registry;
struct Config;
}  // namespace pemx

namespace pemx::tools {

// What a command is given.
struct Invocation {
  std::vector<std::string> args;  // the arguments after the command's name
  const Registry& registry;       // the stages compiled in
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
  std::string_view usage;  // pemx --help's text, which the shared options answer --help with
};

struct Command {
  std::string_view name;
  // What follows "pemx " in --help: the name and the options (the fallback command, which runs
  // without its name, shows its options only).
  std::string_view usage;
  // One line beside the usage; "\n" continues it. When the usage is too long to leave room,
  // the help goes on the lines below it.
  std::string_view help;
  int (*run)(const Invocation&);
};

// `pemx --help`: the title, one entry per command, then the shared options and exit codes.
std::string usage_text(std::span<const Command> commands);

// The command named `name`, or null.
const Command* find_command(std::span<const Command> commands, std::string_view name);

// Runs the command that args[0] names with the rest of args, or the command named `fallback`
// with all of args when args[0] names none (`pemx --role=dist` runs the role). Its exit code.
int dispatch(std::span<const Command> commands, std::string_view fallback,
             std::vector<std::string> args, const Registry& registry, std::istream& in,
             std::ostream& out, std::ostream& err);

// The options shared by run, check-config, route and import.
struct CommonArgs {
  std::string role;  // empty: not given (each command has its own default)
  std::string config = "pemx.toml";
  std::vector<std::string> sets;      // --set KEY=VALUE, in order
  std::vector<std::string> operands;  // only when the command accepts them ("-" is one)
};

enum class Operands { kNone, kAccepted };

struct ParsedArgs {
  CommonArgs args;
  // Set: the command stops with this exit code; --help and --version printed their answer
  // (0), a usage error was printed (2).
  std::optional<int> exit_code;
};

// --role, --config and --set as "--name value" or "--name=value"; --help or -h prints
// invocation.usage, --version the version; anything else is a usage error (exit 2), except
// operands ("-" or not starting with "-") when the command accepts them.
ParsedArgs parse_common_args(const Invocation& invocation, Operands operands);

// Prints "pemx: MESSAGE" and where to find the usage; returns 2.
int usage_error(std::ostream& err, const std::string& message);

// The config, or null after printing every error to `err` (the command then exits 2).
std::unique_ptr<Config> load_config_or_report(const CommonArgs& args, const Registry& registry,
                                              std::ostream& err);

}  // namespace pemx::tools
