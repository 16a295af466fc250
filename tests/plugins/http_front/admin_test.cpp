// The admin endpoints' guard (guards.hpp) and POST /api/admin/reload's answer
// (admin_handler.hpp): pure functions.
#include <catch2/catch.hpp>

#include "http_front/admin_handler.hpp"
#include "http_front/guards.hpp"

namespace pemx::http_front {
namespace {

using Catch::Matchers::Contains;

TEST_CASE("the admin guard: 403 without admin tokens, 401 without a right one",
          "[unit][http_front][reload]") {
  const std::vector<std::string> tokens = {"admin-token-0123456789"};
  CHECK(admin_refusal({}, "") == 403);
  CHECK(admin_refusal({}, "Bearer admin-token-0123456789") == 403);  // never open
  CHECK(admin_refusal(tokens, "") == 401);
  CHECK(admin_refusal(tokens, "Bearer admin-token-012345678") == 401);
  CHECK(admin_refusal(tokens, "admin-token-0123456789") == 401);
  CHECK(admin_refusal(tokens, "Bearer admin-token-0123456789") == std::nullopt);
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
