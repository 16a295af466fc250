// The offline commands (src/tools/check_config.cpp, route.cpp, import.cpp) run in-process on
// the shipped pemx.toml: what they print, which role they pick and their usage errors. The
// whole binary is tested by tests/integration/cli_test.cpp.
#include <catch2/catch.hpp>

#include <stdlib.h>  // mkdtemp

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "builtin_stages.hpp"
#include "core/config.hpp"
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

// check-config refuses what start-up would refuse when it builds the stages: an HTTP stage
// whose `store` names no store stage before it in its role, whose `route_check` names no
// router, or that must choose between several routers; and with --role, a role start-up could
// not run (Supervisor::run and check-config ask role_problem alike). Each case is the shipped
// pemx.toml with one change.
Run check(std::vector<std::string> args) { return run(check_config, std::move(args)); }

Run check_sets(const std::vector<std::string>& sets, const std::string& config = kConfig) {
  std::vector<std::string> args{"--config", config};
  for (const auto& s : sets) {
    args.push_back("--set");
    args.push_back(s);
  }
  return check(args);
}

// pemx.toml with a second router: a copy of [stages.router] named router2, in no role.
std::string with_second_router(const std::string& dir) {
  std::ifstream in(kConfig);
  std::stringstream read;
  read << in.rdbuf();
  std::string text = read.str();
  const auto begin = text.find("[stages.router]\n");
  REQUIRE(begin != std::string::npos);
  const auto end = text.find("\n[stages.", begin + 1);
  REQUIRE(end != std::string::npos);
  std::string copy = text.substr(begin, end + 1 - begin);
  // Its tables too: [[stages.router.rules]] -> [[stages.router2.rules]], ...
  const std::string name = "stages.router";
  for (auto at = copy.find(name); at != std::string::npos; at = copy.find(name, at + 1)) {
    const char next = copy[at + name.size()];
    if (next == ']' || next == '.') copy.insert(at + name.size(), "2");
  }
  const std::string path = dir + "/two-routers.toml";
  std::ofstream(path) << text << "\n" << copy;
  return path;
}

TEST_CASE("check-config: the shipped config and each of its roles pass", "[unit][tools][config]") {
  CHECK(check_sets({}).code == 0);
  for (const char* role : {"dist", "web", "all", "demo"}) {
    INFO(role);
    Run r = check({"--config", kConfig, "--role", role});
    CHECK(r.code == 0);
    CHECK(r.err.empty());
  }
}

TEST_CASE("check-config: an HTTP stage's store must be a store stage before it in the role",
          "[unit][tools][config]") {
  SECTION("a stage that does not exist") {
    Run r = check_sets({"stages.http.store=\"nostore\""});
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("roles.web: stages.http.store names \"nostore\", which is no "
                               "store stage"));
    CHECK_THAT(r.err, Contains("roles.all: stages.http.store names \"nostore\""));
  }
  SECTION("a stage that is no store") {
    Run r = check_sets({"stages.http.store=\"router\""});
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("stages.http.store names \"router\", which is no store stage"));
  }
  SECTION("a store listed after it") {
    Run r = check_sets({"roles.web=[\"http\", \"store_ingest\", \"store\"]"});
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("roles.web: stages.http.store names \"store\", which is no store "
                               "stage (sqlite_store, postgres_store) listed before this stage"));
    CHECK_THAT(r.err, !Contains("roles.all:"));
  }
  SECTION("no store: no history, no problem") {
    CHECK(check_sets({"stages.http.store=\"\"", "roles.web=[\"http\"]"}).code == 0);
  }
}

TEST_CASE("check-config: route_check must name a router, and one is needed among several",
          "[unit][tools][config]") {
  SECTION("a stage that is no router") {
    Run r = check_sets({"stages.http.route_check=\"store\""});
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("stages.http.route_check names \"store\", which is not a "
                               "rules_router stage of the config"));
  }
  SECTION("several routers") {
    char dir_template[] = "/tmp/pemx-refs-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    const std::string config = with_second_router(dir_template);
    Run r = check_sets({}, config);
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("stages.http.route_check is unset and the config has several "
                               "routers (router, router2)"));
    CHECK(check_sets({"stages.http.route_check=\"router2\""}, config).code == 0);
    CHECK(check_sets({"stages.http.route_check=\"\""}, config).code == 0);
    CHECK(check_sets({"stages.http.push_topic=\"\""}, config).code == 0);
    std::remove(config.c_str());
    std::remove(dir_template);
  }
}

TEST_CASE("check-config --role: a role start-up could not run is refused",
          "[unit][tools][config]") {
  Run unknown = check({"--config", kConfig, "--role", "nope"});
  CHECK(unknown.code == 2);
  CHECK_THAT(unknown.err, Contains("unknown role \"nope\"; the config defines: all, demo, dist, "
                                   "web"));
  Run empty = check({"--config", kConfig, "--role", "none", "--set", "roles.none=[]"});
  CHECK(empty.code == 2);
  CHECK_THAT(empty.err, Contains("role \"none\" lists no stages"));
}

TEST_CASE("role_problem: what start-up refuses to run", "[unit][config]") {
  Config config;
  config.roles["web"] = {"http"};
  config.roles["none"] = {};
  CHECK_FALSE(role_problem(config, "web"));
  CHECK(role_problem(config, "none").value_or("").find("lists no stages") != std::string::npos);
  CHECK(role_problem(config, "dist").value_or("") ==
        "unknown role \"dist\"; the config defines: none, web");
}

}  // namespace
}  // namespace pemx::tools
