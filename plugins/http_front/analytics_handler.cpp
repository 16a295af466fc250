// GET /api/analytics: events per type and region over time, the products that change most and
// the spread of price and discount changes in a time window, computed by the store
// (EventReader::analytics) on the query pool, never on an I/O thread.
#include "http_front/analytics.hpp"
#include "http_front/handlers.hpp"
#include "http_front/session.hpp"
#include "pemx/activity.hpp"

namespace pemx::http_front::handlers {

void analytics(Session& s) {
  auto& server = s.server();
  if (!valid_utf8(s.query())) {
    return s.send(error_answer(400, "the query string is not valid UTF-8"));
  }
  auto parsed = parse_analytics_request(s.query(), epoch_ms_now());
  if (auto* a = std::get_if<Answer>(&parsed)) return s.send(std::move(*a));
  if (!server.reader) {
    return s.send(error_answer(503, "this role has no event store; ask the web role"));
  }
  s.offload([&server, q = std::get<AnalyticsQuery>(parsed)]() {
    auto computed = server.reader->analytics(q);
    if (!computed) {
      const std::string& code = computed.error().code;
      if (code == "bad_query") return error_answer(400, computed.error().message);
      // A query over its time budget would most likely run over it again: no Retry-After.
      if (code == "timeout") return error_answer(503, computed.error().message);
      return store_error_answer(computed.error());  // store_busy: 503 with Retry-After
    }
    return analytics_answer(q, computed.value());
  });
}

}  // namespace pemx::http_front::handlers
