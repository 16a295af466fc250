// GET /event/{eventId}/lineage (lineage.hpp): the lookup runs on the lineage pool, at most
// lineage_max_concurrent at once; another is refused at once with a 503 and Retry-After. A
// lookup whose client goes away is cancelled (pemx_http_front_lineage_cancelled_total).
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
  // A client that closes its connection meanwhile cancels the lookup (its answer would go
  // nowhere): the session watches the socket, the lookup checks the flag between its polls.
  auto gone = std::make_shared<std::atomic<bool>>(false);
  s.watch_disconnect(gone);
  s.offload_to(server.lineage_pool,
               [&server, gone, id = std::get<std::string>(std::move(parsed))]() {
                 struct Running {  // one lookup less when it ends, however it ends
                   std::atomic<std::size_t>& n;
                   ~Running() { n.fetch_sub(1); }
                 } running{server.lineage_running};
                 Answer a = server.settings.lineage_lookup->lookup(id, *gone);
                 if (gone->load()) {
                   server.lineage_cancelled.inc();
                   // Counted as 499 (the client closed the request), never as the 503 or 504
                   // a cut-short lookup would answer: no one is there to read it.
                   return error_answer(499, "the client closed the connection");
                 }
                 return a;
               });
}

}  // namespace pemx::http_front::handlers
