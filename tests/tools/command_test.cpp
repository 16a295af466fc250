// The command table (src/tools/command.*): dispatch by the first argument or to the fallback,
// --help made from the table, and the options the config-reading commands share.
#include "tools/command.hpp"

#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "pemx/registry.hpp"

namespace pemx::tools {
namespace {

using Catch::Matchers::Contains;

// What the fake commands saw: which one ran, with which arguments and usage.
struct Seen {
  std::string command;
  std::vector<std::string> args;
  std::string usage;
};
Seen seen;

int run_a(const Invocation& inv) {
  seen = {"a", inv.args, std::string(inv.usage)};
  return 11;
}
int run_b(const Invocation& inv) {
  seen = {"b", inv.args, std::string(inv.usage)};
  return 12;
}

constexpr Command kTable[] = {
    {"a", "--x=X [--y]", "the fallback", run_a},
    {"b", "b [--z]", "the other one", run_b},
};

struct Streams {
  std::istringstream in;
  std::ostringstream out, err;
};

int dispatch_args(std::vector<std::string> args, Streams& s, std::string_view fallback = "a") {
  Registry registry;
  return dispatch(kTable, fallback, std::move(args), registry, s.in, s.out, s.err);
}

TEST_CASE("dispatch: the first argument names the command, which gets the rest",
          "[unit][tools]") {
  Streams s;
  CHECK(dispatch_args({"b", "--z", "b"}, s) == 12);
  CHECK(seen.command == "b");
  CHECK(seen.args == std::vector<std::string>{"--z", "b"});
  CHECK(seen.usage == usage_text(kTable));
  CHECK(dispatch_args({"a"}, s) == 11);
  CHECK(seen.command == "a");
  CHECK(seen.args.empty());
}

TEST_CASE("dispatch: otherwise the fallback command gets every argument", "[unit][tools]") {
  Streams s;
  CHECK(dispatch_args({"--x=1", "b"}, s) == 11);
  CHECK(seen.command == "a");
  CHECK(seen.args == std::vector<std::string>{"--x=1", "b"});
  CHECK(dispatch_args({}, s) == 11);
  CHECK(seen.args.empty());
}

TEST_CASE("dispatch: a fallback missing from the table is a usage error", "[unit][tools]") {
  Streams s;
  CHECK(dispatch_args({"--x=1"}, s, "c") == 2);
  CHECK_THAT(s.err.str(), Contains("no command \"c\""));
}

TEST_CASE("usage: one line per command, the help in one column or below a long usage",
          "[unit][tools]") {
  const Command table[] = {
      {"a", "--x=X", "short\nsecond line", run_a},
      {"b", "b [--a-very-long-option-list-that-leaves-no-room-for-help ...]", "first\nsecond",
       run_b},
  };
  const std::string text = usage_text(table);
  CHECK(text.rfind("pemx — Product Events Message Exchange\n\nUsage:\n", 0) == 0);
  const std::string col(59 - 7 - 5, ' ');  // "  pemx " and "--x=X", then the padding
  CHECK_THAT(text, Contains("  pemx --x=X" + col + "short\n" + std::string(59, ' ') +
                            "second line\n"));
  CHECK_THAT(text, Contains("  pemx b [--a-very-long-option-list-that-leaves-no-room-for-help "
                            "...]\n" +
                            std::string(36, ' ') + "first\n" + std::string(36, ' ') +
                            "second\n  pemx --help | --version\n"));
  CHECK_THAT(text, Contains("\nOptions:\n  --config FILE"));
  CHECK_THAT(text, Contains("\nExit codes: 0 ok"));
}

TEST_CASE("usage: a usage that leaves exactly two spaces keeps its help beside it",
          "[unit][tools]") {
  const std::string fits(59 - 7 - 2, 'u');
  const std::string too_long(59 - 7 - 1, 'u');
  const Command table[] = {{"a", fits, "help", run_a}, {"b", too_long, "help", run_b}};
  const std::string text = usage_text(table);
  CHECK_THAT(text, Contains("  pemx " + fits + "  help\n"));
  CHECK_THAT(text, Contains("  pemx " + too_long + "\n" + std::string(36, ' ') + "help\n"));
}

ParsedArgs parse(std::vector<std::string> args, Streams& s, Operands operands = Operands::kNone) {
  Registry registry;
  Invocation inv{std::move(args), registry, s.in, s.out, s.err, "USAGE\n"};
  return parse_common_args(inv, operands);
}

TEST_CASE("common options: defaults and both forms of each option", "[unit][tools]") {
  Streams s;
  ParsedArgs none = parse({}, s);
  CHECK_FALSE(none.exit_code);
  CHECK(none.args.role.empty());
  CHECK(none.args.config == "pemx.toml");
  CHECK(none.args.sets.empty());

  ParsedArgs all = parse({"--role", "web", "--config=x.toml", "--set", "a=1", "--set=b=2"}, s);
  CHECK_FALSE(all.exit_code);
  CHECK(all.args.role == "web");
  CHECK(all.args.config == "x.toml");
  CHECK(all.args.sets == std::vector<std::string>{"a=1", "b=2"});
  CHECK(s.out.str().empty());
  CHECK(s.err.str().empty());
}

TEST_CASE("common options: --help and --version answer and stop with 0", "[unit][tools]") {
  Streams help;
  ParsedArgs h = parse({"--role=web", "-h", "--bogus"}, help);
  CHECK(h.exit_code == 0);
  CHECK(help.out.str() == "USAGE\n");
  Streams version;
  ParsedArgs v = parse({"--version"}, version);
  CHECK(v.exit_code == 0);
  CHECK(version.out.str().rfind("pemx ", 0) == 0);
}

TEST_CASE("common options: a missing value or an unknown argument is a usage error (2)",
          "[unit][tools]") {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--role"}, "pemx: --role needs a value\n"},
      {{"--config"}, "pemx: --config needs a file\n"},
      {{"--set"}, "pemx: --set needs KEY=VALUE\n"},
      {{"--bogus", "--help"}, "pemx: unknown argument \"--bogus\"\n"},
      {{"file"}, "pemx: unknown argument \"file\"\n"},
  };
  for (const auto& [args, message] : cases) {
    Streams s;
    ParsedArgs p = parse(args, s);
    CHECK(p.exit_code == 2);
    CHECK(s.err.str() == message + "Run pemx --help for usage.\n");
  }
}

TEST_CASE("common options: operands only where the command takes them", "[unit][tools]") {
  Streams s;
  ParsedArgs p = parse({"-", "--role=web", "events.json"}, s, Operands::kAccepted);
  CHECK_FALSE(p.exit_code);
  CHECK(p.args.operands == std::vector<std::string>{"-", "events.json"});
  ParsedArgs dash = parse({"-x"}, s, Operands::kAccepted);
  CHECK(dash.exit_code == 2);
  CHECK_THAT(s.err.str(), Contains("unknown argument \"-x\""));
}

}  // namespace
}  // namespace pemx::tools
