#pragma once
// The endpoints' handlers, one Handler (routes.hpp) each, grouped by file: ops_handlers.cpp
// (/healthz, /readyz, /metrics, /openapi.json), page_handlers.cpp (/api/info, /api/overview,
// /api/schemas and the page's files), history_handler.cpp (GET /event,
// /api/products/recent, /api/events/count), push_handler.cpp
// (POST /event), admin_handler.cpp (POST /api/admin/reload) and live_stream.cpp (/api/live).
// Each runs on the connection's strand and never blocks: work that may wait goes to the query
// pool (Session::offload) or answers later (Session::answer_later).
#include <string_view>

namespace pemx::http_front {

class Session;

namespace handlers {

void healthz(Session& s);
void readyz(Session& s);
void metrics(Session& s);
void openapi(Session& s);
void info(Session& s);
void overview(Session& s);
void schemas(Session& s);             // GET /api/schemas
bool is_schema(std::string_view path);  // /api/schemas/{eventType}
void schema(Session& s);
void live(Session& s);
void page(Session& s);
bool is_page(std::string_view path);  // a file of the page ("/" is index.html)
void history(Session& s);
void recent_products(Session& s);  // GET /api/products/recent
void count(Session& s);            // GET /api/events/count
void analytics(Session& s);        // GET /api/analytics (analytics_handler.cpp)
bool is_lineage(std::string_view path);  // /event/{eventId}/lineage (lineage_handler.cpp)
void lineage(Session& s);
void push(Session& s);
void admin_reload(Session& s);

}  // namespace handlers
}  // namespace pemx::http_front
