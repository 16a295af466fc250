// The server's routes, in the order they are tried. A new endpoint is a handler
// (handlers.hpp), a line here, its entry in docs/openapi.json and a test.
#include "http_front/handlers.hpp"
#include "http_front/routes.hpp"

namespace pemx::http_front {

namespace {

using enum OtherMethods;

constexpr Route kRoutes[] = {
    // path             matches             methods      route label        handler
    {"/healthz",        nullptr,            kAnyMethod,  "/healthz",        handlers::healthz},
    {"/readyz",         nullptr,            kAnyMethod,  "/readyz",         handlers::readyz},
    {"/metrics",        nullptr,            kAnyMethod,  "/metrics",        handlers::metrics},
    {"/openapi.json",   nullptr,            kAnyMethod,  "/openapi.json",   handlers::openapi},
    {"/api/info",       nullptr,            kGet,        "/api/info",       handlers::info},
    {"/api/overview",   nullptr,            kGet,        "/api/overview",   handlers::overview},
    {"/api/live",       nullptr,            kGet,        "/api/live",       handlers::live},
    {"/api/schemas",    nullptr,            kGet,        "/api/schemas",    handlers::schemas},
    {"",                handlers::is_schema, kGet,       "/api/schemas/{eventType}",
     handlers::schema},
    {"",                handlers::is_page,  kGet,        "page",            handlers::page},
    {"/event",          nullptr,            kGet,        "/event",          handlers::history,
     kNotAllowed},
    {"/event",          nullptr,            kPost,       "/event",          handlers::push,
     kNotAllowed},
};

}  // namespace

std::span<const Route> api_routes() { return kRoutes; }

}  // namespace pemx::http_front
