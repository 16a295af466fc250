#pragma once
// The request guards: pure functions of a request's headers and the settings, no IO. The Host
// check against DNS rebinding (every request), the bearer token and the Origin of writes, and
// the CORS headers an answer carries. The session and the push handler call them; tests aim here.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pemx::http_front {

// The DNS-rebinding guard: may a request with this Host header be served? A loopback listener
// answers to localhost, 127.x.x.x and ::1 (any port) and to `allowed` ("*": anything); any other
// listener to anything when `allowed` is empty, else to its own address and `allowed`.
bool host_allowed(std::string_view host_header, const std::string& listen_host,
                  const std::vector<std::string>& allowed);

// May a write come from the page at `origin`? Same origin (http:// or https:// followed by the
// request's Host: the page this server serves) or one of cors_origins ("*": any).
bool origin_allowed(std::string_view origin, std::string_view host_header,
                    const std::vector<std::string>& cors_origins);

// The Access-Control-Allow-Origin of an answer to a request from `origin`: "*" or the origin
// itself when cors_origins allows it; nullopt (no CORS headers) when it does not or when the
// request has no Origin. The other CORS headers then are the constants below.
std::optional<std::string_view> cors_allow_origin(std::string_view origin,
                                                  const std::vector<std::string>& cors_origins);
inline constexpr std::string_view kCorsAllowMethods = "GET, POST, OPTIONS";
inline constexpr std::string_view kCorsAllowHeaders =
    "Content-Type, Authorization, Prefer, Idempotency-Key";
inline constexpr std::string_view kCorsExposeHeaders =
    "X-Next-Cursor, Link, Preference-Applied, Idempotent-Replay, Idempotent-Replayed-Events, "
    "Retry-After";
inline constexpr std::string_view kCorsMaxAge = "600";

}  // namespace pemx::http_front
