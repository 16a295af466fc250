// The route table (routes.hpp): HEAD is routed like GET, OPTIONS is the preflight on any path,
// a path no route has is a 404, a route that says so answers another method with a 405 and
// Allow, and the server's own table (api_routes) keeps today's answers.
#include "http_front/routes.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "http_front/handlers.hpp"

using namespace pemx::http_front;
namespace http = boost::beast::http;

namespace {

void get_a(Session&) {}
void post_a(Session&) {}
void any_b(Session&) {}
bool starts_with_files(std::string_view path) { return path.rfind("/files/", 0) == 0; }
void files(Session&) {}

constexpr Route kTable[] = {
    {"/a", nullptr, kGet, "/a", get_a, OtherMethods::kNotAllowed},
    {"/a", nullptr, kPost, "/a", post_a, OtherMethods::kNotAllowed},
    {"/b", nullptr, kAnyMethod, "/b", any_b},
    {"", starts_with_files, kGet, "files", files},
};

std::string header(const Answer& a, const std::string& name) {
  for (const auto& [k, v] : a.headers) {
    if (k == name) return v;
  }
  return "<none>";
}

}  // namespace

TEST_CASE("routes: method and path choose the handler; HEAD is GET", "[unit][http][routes]") {
  CHECK(match_route(kTable, http::verb::get, "/a").route->handler == get_a);
  CHECK(match_route(kTable, http::verb::head, "/a").route->handler == get_a);
  CHECK(match_route(kTable, http::verb::post, "/a").route->handler == post_a);
  for (auto m : {http::verb::get, http::verb::post, http::verb::delete_, http::verb::put}) {
    auto match = match_route(kTable, m, "/b");
    REQUIRE(match.route != nullptr);
    CHECK(match.route->handler == any_b);
    CHECK(match.name == "/b");
  }
  auto f = match_route(kTable, http::verb::get, "/files/x.js");
  REQUIRE(f.route != nullptr);
  CHECK(f.route->handler == files);
  CHECK(f.name == "files");
}

TEST_CASE("routes: another method is a 405 with Allow, or a 404 where the route says so",
          "[unit][http][routes]") {
  auto m = match_route(kTable, http::verb::delete_, "/a");
  CHECK(m.route == nullptr);
  CHECK(m.name == "/a");
  CHECK(m.answer.status == 405);
  CHECK(m.answer.body == R"({"error":"use GET, HEAD or POST on /a"})");
  CHECK(header(m.answer, "Allow") == "GET, HEAD, POST, OPTIONS");
  // The files route leaves other methods to the rest of the table: here, a 404.
  auto p = match_route(kTable, http::verb::post, "/files/x.js");
  CHECK(p.route == nullptr);
  CHECK(p.answer.status == 404);
  CHECK(p.name == "other");
}

TEST_CASE("routes: an unknown path is a 404 naming it (at most 200 bytes)",
          "[unit][http][routes]") {
  auto m = match_route(kTable, http::verb::get, "/nothing");
  CHECK(m.route == nullptr);
  CHECK(m.name == "other");
  CHECK(m.answer.status == 404);
  CHECK(m.answer.body == R"({"error":"no such route: /nothing"})");
  const std::string long_path = "/" + std::string(300, 'x');
  auto l = match_route(kTable, http::verb::get, long_path);
  CHECK(l.answer.body == R"({"error":"no such route: )" + long_path.substr(0, 200) + R"("})");
  CHECK(match_route(kTable, http::verb::get, "/a/").answer.status == 404);  // exact paths
}

TEST_CASE("routes: OPTIONS is the CORS preflight on any path", "[unit][http][routes]") {
  for (const char* path : {"/a", "/b", "/nothing", "/files/x.js"}) {
    INFO(path);
    auto m = match_route(kTable, http::verb::options, path);
    CHECK(m.route == nullptr);
    CHECK(m.name == "preflight");
    CHECK(m.answer.status == 204);
    CHECK(m.answer.body.empty());
  }
}

TEST_CASE("the server's routes answer as before", "[unit][http][routes]") {
  const auto table = api_routes();
  struct Case {
    http::verb method;
    const char* path;
    const char* name;
    Handler handler;  // null: answered without one, with `status`
    int status;
  };
  const Case cases[] = {
      {http::verb::get, "/healthz", "/healthz", handlers::healthz, 0},
      {http::verb::delete_, "/healthz", "/healthz", handlers::healthz, 0},
      {http::verb::post, "/readyz", "/readyz", handlers::readyz, 0},
      {http::verb::put, "/metrics", "/metrics", handlers::metrics, 0},
      {http::verb::head, "/openapi.json", "/openapi.json", handlers::openapi, 0},
      {http::verb::get, "/api/info", "/api/info", handlers::info, 0},
      {http::verb::head, "/api/overview", "/api/overview", handlers::overview, 0},
      {http::verb::get, "/api/live", "/api/live", handlers::live, 0},
      {http::verb::get, "/api/analytics", "/api/analytics", handlers::analytics, 0},
      {http::verb::post, "/api/analytics", "other", nullptr, 404},
      {http::verb::post, "/api/info", "other", nullptr, 404},  // GET-only routes: 404, not 405
      {http::verb::post, "/api/live", "other", nullptr, 404},
      {http::verb::get, "/api/schemas", "/api/schemas", handlers::schemas, 0},
      {http::verb::get, "/api/schemas/Country", "/api/schemas/{eventType}", handlers::schema, 0},
      {http::verb::head, "/api/schemas/Country", "/api/schemas/{eventType}", handlers::schema, 0},
      {http::verb::get, "/api/schemas/", "other", nullptr, 404},
      {http::verb::get, "/api/schemas/a/b", "other", nullptr, 404},
      {http::verb::post, "/api/schemas/Country", "other", nullptr, 404},
      {http::verb::get, "/", "page", handlers::page, 0},
      {http::verb::head, "/", "page", handlers::page, 0},
      {http::verb::post, "/", "other", nullptr, 404},
      {http::verb::get, "/event", "/event", handlers::history, 0},
      {http::verb::head, "/event", "/event", handlers::history, 0},
      {http::verb::post, "/event", "/event", handlers::push, 0},
      {http::verb::delete_, "/event", "/event", nullptr, 405},
      {http::verb::put, "/event", "/event", nullptr, 405},
      {http::verb::get, "/event/E1/lineage", "/event/{eventId}/lineage", handlers::lineage, 0},
      {http::verb::head, "/event/E1/lineage", "/event/{eventId}/lineage", handlers::lineage, 0},
      {http::verb::post, "/event/E1/lineage", "/event/{eventId}/lineage", nullptr, 405},
      {http::verb::get, "/event//lineage", "other", nullptr, 404},
      {http::verb::options, "/event", "preflight", nullptr, 204},
      {http::verb::options, "/nowhere", "preflight", nullptr, 204},
      {http::verb::get, "/nowhere", "other", nullptr, 404},
      {http::verb::get, "/event/", "other", nullptr, 404},
  };
  for (const auto& c : cases) {
    INFO(http::to_string(c.method) << " " << c.path);
    auto m = match_route(table, c.method, c.path);
    CHECK(m.name == c.name);
    if (c.handler != nullptr) {
      REQUIRE(m.route != nullptr);
      CHECK(m.route->handler == c.handler);
    } else {
      CHECK(m.route == nullptr);
      CHECK(m.answer.status == c.status);
    }
  }
  auto wrong = match_route(table, http::verb::delete_, "/event");
  CHECK(wrong.answer.body == R"({"error":"use GET, HEAD or POST on /event"})");
  CHECK(header(wrong.answer, "Allow") == "GET, HEAD, POST, OPTIONS");
}
