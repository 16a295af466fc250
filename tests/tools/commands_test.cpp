// The offline commands (src/tools/check_config.cpp, route.cpp, import.cpp) run in-process on
// the shipped pemx.toml: what they print, which role they pick and their usage errors. The
// whole binary is tested by tests/integration/cli_test.cpp.
#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "builtin_stages.hpp"
#include "tools/commands.hpp"

namespace pemx::tools {
namespace {

using Catch::Matchers::Contains;

const std::string kConfig = PEMX_SOURCE_DIR "/pemx.toml";

struct Run {
  int code = -1;
  std::string out, err;
};

Run run(int (*command)(const Invocation&), std::vector<std::string> args,
        const std::string& input = {}) {
  Registry registry = builtin_stages();
  std::istringstream in(input);
  std::ostringstream out, err;
  Run r;
  r.code = command(Invocation{std::move(args), registry, in, out, err, "USAGE\n"});
  r.out = out.str();
  r.err = err.str();
  return r;
}

TEST_CASE("check-config prints the roles and every stage's summary", "[unit][tools]") {
  Run r = run(check_config, {"--config", kConfig});
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Contains("config " + kConfig + ": ok\n"));
  CHECK_THAT(r.out, Contains("\nrole dist: dist_ingest router dist_sink"));
  CHECK_THAT(r.out, Contains("\nstage router (rules_router): "));
  CHECK(r.err.empty());
}

TEST_CASE("check-config: every config error, then exit 2", "[unit][tools]") {
  Run r = run(check_config, {"--config", kConfig, "--set", "stages.dist_sink.max_in_flight=0",
                             "--set", "bogus.key=1"});
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Contains("config error: "));
  CHECK_THAT(r.err, Contains("2 configuration error(s); nothing was started.\n"));
  CHECK(run(check_config, {"--help"}).out == "USAGE\n");
  CHECK(run(check_config, {"extra"}).code == 2);
}

TEST_CASE("route: the dist role's router by default; a role without one is a usage error",
          "[unit][tools]") {
  Run r = run(route, {"--config", kConfig}, "not json\n");
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Contains(R"("line":1,"topics":["product-event-dlq-pemx"])"));

  Run web = run(route, {"--config", kConfig, "--role=web"}, "not json\n");
  CHECK(web.code == 2);
  CHECK_THAT(web.err, Contains("pemx: role \"web\" has no routing stage\n"));
  Run none = run(route, {"--config", kConfig, "--role=nope"});
  CHECK(none.code == 2);
  CHECK_THAT(none.err, Contains("pemx: no role \"nope\" in the config\n"));
}

TEST_CASE("import: one FILE, checked before the config is read; a role without a store",
          "[unit][tools]") {
  // The config file does not exist: the missing FILE is reported, not the config.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--config", "/nonexistent/pemx.toml"},
           {"a.json", "b.json", "--config", "/nonexistent/pemx.toml"}}) {
    Run r = run(import, args);
    CHECK(r.code == 2);
    CHECK(r.err == "pemx: import needs one FILE (\"-\" for standard input)\n"
                   "Run pemx --help for usage.\n");
  }
  Run dist = run(import, {"-", "--config", kConfig, "--role", "dist"}, "");
  CHECK(dist.code == 2);
  CHECK_THAT(dist.err, Contains("pemx: role \"dist\" has no store stage to import into\n"));
}

TEST_CASE("simulate: its own options and usage, before any config is read", "[unit][tools]") {
  Run help = run(simulate, {"--help"});
  CHECK(help.code == 0);
  CHECK_THAT(help.out, Contains("pemx simulate"));
  Run bad = run(simulate, {"--rate", "fast", "--config", "/nonexistent/pemx.toml"});
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Contains("pemx simulate: "));
  CHECK_THAT(bad.err, Contains("\nRun pemx simulate --help for usage.\n"));
}

}  // namespace
}  // namespace pemx::tools
