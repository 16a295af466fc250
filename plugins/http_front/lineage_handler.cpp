// GET /event/{eventId}/lineage (lineage.hpp): the lookup runs on the lineage pool, at most
// lineage_max_concurrent at once; another is refused at once with a 503 and Retry-After.
#include "http_front/handlers.hpp"
#include "http_front/session.hpp"

namespace pemx::http_front::handlers {

bool is_lineage(std::string_view path) { return is_lineage_path(path); }

void lineage(Session& s) {
  auto& server = s.server();
  auto parsed = lineage_event_id(s.path());
  if (auto* a = std::get_if<Answer>(&parsed)) return s.send(std::move(*a));
  if (!server.reader) {
    return s.send(error_answer(503, "this role has no event store; ask the web role"));
  }
  if (!server.settings.lineage.enabled || !server.settings.lineage_lookup) {
    return s.send(error_answer(404, "lineage is off on this listener (lineage = false)"));
  }
  const std::size_t limit = server.settings.lineage.max_concurrent;
  if (server.lineage_running.fetch_add(1) >= limit) {
    server.lineage_running.fetch_sub(1);
    Answer busy = error_answer(503, "every one of the " + std::to_string(limit) +
                                        " lineage lookups is busy; retry later");
    busy.headers.emplace_back("Retry-After", "1");
    return s.send(std::move(busy));
  }
  s.offload_to(server.lineage_pool, [&server, id = std::get<std::string>(std::move(parsed))]() {
    struct Running {  // one lookup less when it ends, however it ends
      std::atomic<std::size_t>& n;
      ~Running() { n.fetch_sub(1); }
    } running{server.lineage_running};
    return server.settings.lineage_lookup->lookup(id);
  });
}

}  // namespace pemx::http_front::handlers
