// The admin endpoints' guard (guards.hpp) and POST /api/admin/reload's answer
// (admin_handler.hpp): pure functions.
#include <catch2/catch.hpp>

#include "http_front/admin_handler.hpp"
#include "http_front/auth.hpp"

namespace pemx::http_front {
namespace {

using Catch::Matchers::Contains;

TEST_CASE("the admin routes: 403 while no token has the admin role, 401 without a right one",
          "[unit][http_front][reload]") {
  TokenSources none;
  none.write_tokens = {"writer-token-0123456789"};
  const Credentials writers = load_credentials(none).credentials;
  CHECK(authorize(writers, Access::kAdmin, "").status == 403);  // never open
  CHECK(authorize(writers, Access::kAdmin, "Bearer writer-token-0123456789").status == 403);
  CHECK(authorize(Credentials{}, Access::kAdmin, "").status == 403);

  TokenSources sources = none;
  sources.admin_tokens = {"admin-token-0123456789"};
  auto loaded = load_credentials(sources);
  REQUIRE(loaded.errors.empty());
  const Credentials& c = loaded.credentials;
  CHECK(c.tokens.back().name == "admin_tokens[0]");
  CHECK(authorize(c, Access::kAdmin, "").status == 401);
  CHECK(authorize(c, Access::kAdmin, "Bearer admin-token-012345678").status == 401);
  CHECK(authorize(c, Access::kAdmin, "admin-token-0123456789").status == 401);
  CHECK(authorize(c, Access::kAdmin, "Bearer writer-token-0123456789").status == 403);
  CHECK(authorize(c, Access::kAdmin, "Bearer admin-token-0123456789").status == 0);
  CHECK(authorize(c, Access::kWrite, "Bearer admin-token-0123456789").status == 403);
}

TEST_CASE("the reload's answer: the version and time loaded, or 422 with the error",
          "[unit][http_front][reload]") {
  ReloadOutcome ok;
  ok.ok = true;
  ok.at_ms = 1'700'000'000'500;
  ok.rules = {{"router", {"0123456789abcdef", 1'700'000'000'000}}};
  ok.swapped = {"router"};
  ok.restart_keys = {"kafka.brokers"};
  auto a = reload_answer(ok);
  CHECK(a.status == 200);
  CHECK(a.body ==
        R"({"ok":true,"version":"0123456789abcdef","loadedAt":"2023-11-14T22:13:20.000Z",)"
        R"("stages":[{"stage":"router","version":"0123456789abcdef",)"
        R"("loadedAt":"2023-11-14T22:13:20.000Z"}],)"
        R"("reloadedAt":"2023-11-14T22:13:20.500Z",)"
        R"("swapped":["router"],"needsRestart":["kafka.brokers"]})");

  ReloadOutcome refused = ok;
  refused.ok = false;
  refused.error = "invalid config: pemx.toml:3: stages.router.rules[0].topic: unclosed '{'";
  auto r = reload_answer(refused);
  CHECK(r.status == 422);
  CHECK_THAT(r.body, Contains(R"("ok":false,"error":"invalid config: pemx.toml:3: )"
                              R"(stages.router.rules[0].topic)"));
  CHECK_THAT(r.body, Contains(R"("version":"0123456789abcdef")"));

  ReloadOutcome web;
  web.ok = true;
  auto w = reload_answer(web);
  CHECK(w.status == 200);
  CHECK_THAT(w.body, Contains(R"("version":null)"));
  CHECK_THAT(w.body, Contains("no rules to swap"));

  ReloadStatus status{ok.rules, 3, 1};
  CHECK(rules_status_json(status) ==
        R"({"version":"0123456789abcdef","loadedAt":"2023-11-14T22:13:20.000Z",)"
        R"("stages":[{"stage":"router","version":"0123456789abcdef",)"
        R"("loadedAt":"2023-11-14T22:13:20.000Z"}],"reloads":3,"reloadFailures":1})");
}

}  // namespace
}  // namespace pemx::http_front
