#pragma once
// The route table: which handler answers a method and a path. Matching is pure (no IO), so the
// rules every route follows are tested without a server: HEAD is routed like GET (the session
// answers it with GET's headers and no body), OPTIONS on any path is the CORS preflight (204),
// an unknown path is a 404, and a route that says so answers another method with a 405 and
// Allow. The table the server uses is api_routes() (api_routes.cpp); its handlers are in
// handlers.hpp. Adding an endpoint: a handler, a line in that table, its entry in
// docs/openapi.json and a test.
#include <ostream>  // before boost/beast/http/verb.hpp, which needs it but does not include it
#include <span>
#include <string_view>

#include <boost/beast/http/verb.hpp>

#include "http_front/api.hpp"
#include "http_front/auth.hpp"

namespace pemx::http_front {

class Session;
// Runs on the connection's strand (an I/O thread) and answers through the session, now or
// later (Session::offload, Session::answer_later); it never blocks.
using Handler = void (*)(Session&);

// The methods a route takes, a bit set. kGet takes HEAD too.
enum RouteMethods : unsigned { kGet = 1u << 0, kPost = 1u << 1, kAnyMethod = ~0u };

// What a route answers on a method it does not take.
enum class OtherMethods {
  kNotFound,    // as if the path were unknown: the next routes are tried, then 404
  kNotAllowed,  // 405 naming the methods it takes, with Allow (those and OPTIONS)
};

struct Route {
  std::string_view path;  // matched exactly; empty: `matches` decides
  bool (*matches)(std::string_view path) = nullptr;
  unsigned methods = kGet;
  std::string_view name;  // the route label of pemx_http_requests_total and the latency
  Handler handler = nullptr;
  OtherMethods other_methods = OtherMethods::kNotFound;
  // Who may call it (auth.hpp); the session checks the token and the rate limit before the
  // handler runs: kRead routes count as "read" and kWrite routes as "push" (rate_limit.hpp).
  Access access = Access::kOpen;
};

// The route to run, or the answer there is without one (the preflight's 204, a 404, a 405),
// and the label it is counted under ("preflight", "other", or the route's name).
struct RouteMatch {
  const Route* route = nullptr;
  Answer answer;  // when route is null
  std::string_view name;
};

// The first route whose path and method match, in table order.
RouteMatch match_route(std::span<const Route> table, boost::beast::http::verb method,
                       std::string_view path);

// The server's table.
std::span<const Route> api_routes();

}  // namespace pemx::http_front
