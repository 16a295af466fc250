// pemx check-config refuses what start-up would refuse when it builds the stages: an HTTP
// stage whose `store` names no store stage before it in its role, whose `route_check` names no
// router, or that must choose between several routers; and with --role, a role start-up could
// not run (Supervisor::run and check-config ask role_problem alike). Each case is the shipped
// pemx.toml with one change, run through check_config in-process.
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

Run check(std::vector<std::string> args) {
  Registry registry = builtin_stages();
  std::istringstream in;
  std::ostringstream out, err;
  Run r;
  r.code = check_config(Invocation{std::move(args), registry, in, out, err, "USAGE\n"});
  r.out = out.str();
  r.err = err.str();
  return r;
}

Run check_sets(const std::vector<std::string>& sets, const std::string& config = kConfig) {
  std::vector<std::string> args{"--config", config};
  for (const auto& s : sets) {
    args.push_back("--set");
    args.push_back(s);
  }
  return check(args);
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// pemx.toml with a second router: a copy of [stages.router] named router2, in no role.
std::string with_second_router(const std::string& dir) {
  std::string text = read(kConfig);
  const auto begin = text.find("[stages.router]\n");
  REQUIRE(begin != std::string::npos);
  const auto end = text.find("\n[stages.", begin + 1);
  REQUIRE(end != std::string::npos);
  std::string copy = text.substr(begin, end + 1 - begin);
  // Its tables too: [[stages.router.rules]] -> [[stages.router2.rules]], ...
  for (auto at = copy.find("stages.router"); at != std::string::npos;
       at = copy.find("stages.router", at + 1)) {
    const char next = copy[at + std::string("stages.router").size()];
    if (next == ']' || next == '.') copy.insert(at + std::string("stages.router").size(), "2");
  }
  const std::string path = dir + "/two-routers.toml";
  std::ofstream(path) << text << "\n" << copy;
  return path;
}

}  // namespace

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

}  // namespace pemx::tools
