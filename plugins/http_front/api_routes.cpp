// The server's routes, in the order they are tried, with who may call them (auth.hpp: reads
// are open unless require_read_token; writes need a writer token once one exists). A new
// endpoint is a handler (handlers.hpp), a line here, its entry in docs/openapi.json and a test.
#include "http_front/handlers.hpp"
#include "http_front/routes.hpp"

namespace pemx::http_front {

namespace {

using enum OtherMethods;
constexpr Access kRead = Access::kRead;
constexpr Access kWrite = Access::kWrite;
constexpr Access kAdmin = Access::kAdmin;

constexpr Route kRoutes[] = {
    // path             matches             methods      route label        handler
    {"/healthz",        nullptr,            kAnyMethod,  "/healthz",        handlers::healthz},
    {"/readyz",         nullptr,            kAnyMethod,  "/readyz",         handlers::readyz},
    {"/metrics",        nullptr,            kAnyMethod,  "/metrics",        handlers::metrics},
    {"/openapi.json",   nullptr,            kAnyMethod,  "/openapi.json",   handlers::openapi},
    {"/api/info",       nullptr,            kGet,        "/api/info",       handlers::info,
     kNotFound, kRead},
    {"/api/overview",   nullptr,            kGet,        "/api/overview",   handlers::overview,
     kNotFound, kRead},
    {"/api/live",       nullptr,            kGet,        "/api/live",       handlers::live,
     kNotFound, kRead},
    {"/api/products/recent", nullptr,       kGet,        "/api/products/recent",
     handlers::recent_products, kNotFound, kRead},
    {"/api/events/count", nullptr,          kGet,        "/api/events/count",
     handlers::count, kNotFound, kRead},
    {"/api/analytics",  nullptr,            kGet,        "/api/analytics",  handlers::analytics,
     kNotFound, kRead},
    {"/api/schemas",    nullptr,            kGet,        "/api/schemas",    handlers::schemas,
     kNotFound, kRead},
    {"",                handlers::is_schema, kGet,       "/api/schemas/{eventType}",
     handlers::schema, kNotFound, kRead},
    {"",                handlers::is_page,  kGet,        "page",            handlers::page},
    {"/event",          nullptr,            kGet,        "/event",          handlers::history,
     kNotAllowed, kRead},
    {"/event",          nullptr,            kPost,       "/event",          handlers::push,
     kNotAllowed, kWrite},
    {"",                handlers::is_lineage, kGet,      "/event/{eventId}/lineage",
     handlers::lineage, kNotAllowed, kRead},
    {"/api/admin/reload", nullptr,          kPost,       "/api/admin/reload",
     handlers::admin_reload, kNotAllowed, kAdmin},
};

}  // namespace

std::span<const Route> api_routes() { return kRoutes; }

}  // namespace pemx::http_front
