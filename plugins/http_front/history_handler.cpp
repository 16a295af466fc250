// GET /event: the history, as the reference answered it (api.hpp parses and answers), and
// GET /api/products/recent: the most recently stored products (the page's first look), and
// GET /api/events/count: how many events a history query matches (capped).
#include "http_front/handlers.hpp"
#include "http_front/history_answer.hpp"
#include "http_front/history_async.hpp"
#include "http_front/session.hpp"

namespace pemx::http_front::handlers {

namespace {
constexpr std::size_t kInlineMaxIds = 10;  // history queries small enough to run inline
constexpr std::size_t kInlineMaxLimit = 1000;
}  // namespace

void history(Session& s) {
  auto& server = s.server();
  const std::string_view path = s.path();
  const std::string_view query = s.query();
  if (!valid_utf8(query)) return s.send(error_answer(400, "the query string is not valid UTF-8"));
  auto parsed = parse_history_request(query, server.settings.history);
  if (auto* a = std::get_if<Answer>(&parsed)) return s.send(std::move(*a));
  if (!server.reader) {
    return s.send(error_answer(503, "this role has no event store; ask the web role"));
  }
  EventQuery q = std::get<EventQuery>(std::move(parsed));
  // A small query runs here, on the I/O thread, when a reader connection is free at once:
  // on the mapped, cached store it is CPU work of well under a millisecond, and a hand-off
  // between threads cost more than that (bench/run_history.sh). Anything larger, or when
  // every connection is busy, goes to the query pool, so it never stalls this thread's
  // other connections.
  if (server.settings.inline_queries && q.product_ids.size() <= kInlineMaxIds &&
      q.limit <= kInlineMaxLimit) {
    // A reader that can (SQLite) gives the rows as it steps them, and the answer is written
    // from them without copying them into a page first: the same bytes either way.
    if (server.rows != nullptr) {
      HistoryAnswer written;
      if (auto next = server.rows->try_query_into(q, written)) {
        if (!*next) return s.send(store_error_answer(next->error()));
        return s.send(std::move(written).finish(next->value(), path, query));
      }
    } else if (server.async_history != nullptr) {
      // A store a round trip away (PostgreSQL) is sent the query from here and answers when
      // its socket is readable: this thread serves its other connections meanwhile.
      if (auto call = server.async_history->try_start(q)) {
        return answer_history_async(s, std::move(call), std::move(q));
      }
      schedule_history_upkeep(s);  // none free: perhaps lost connections to re-establish
    } else if (auto page = server.reader->try_query(q)) {
      if (!*page) return s.send(store_error_answer(page->error()));
      return s.send(history_answer(page->value(), path, query));
    }
  }
  answer_history_on_pool(s, std::move(q));
}

void recent_products(Session& s) {
  auto& server = s.server();
  if (!valid_utf8(s.query())) {
    return s.send(error_answer(400, "the query string is not valid UTF-8"));
  }
  auto parsed = parse_recent_request(s.query());
  if (auto* a = std::get_if<Answer>(&parsed)) return s.send(std::move(*a));
  if (!server.reader) {
    return s.send(error_answer(503, "this role has no event store; ask the web role"));
  }
  // Always on the query pool: a PostgreSQL reader makes a round trip, and this is not the hot
  // path that history's inline queries serve.
  s.offload([&server, limit = std::get<std::size_t>(parsed)]() {
    auto products = server.reader->recent_products(limit);
    if (!products) return store_error_answer(products.error());
    return recent_answer(products.value());
  });
}

void count(Session& s) {
  auto& server = s.server();
  if (!valid_utf8(s.query())) {
    return s.send(error_answer(400, "the query string is not valid UTF-8"));
  }
  // GET /event's parameters and checks; its limit and cursor are accepted and not used.
  auto parsed = parse_history_request(s.query(), server.settings.history);
  if (auto* a = std::get_if<Answer>(&parsed)) {
    if (a->status == 200) return s.send(count_answer({}));  // productIds naming no id
    return s.send(std::move(*a));
  }
  if (!server.reader) {
    return s.send(error_answer(503, "this role has no event store; ask the web role"));
  }
  s.offload([&server, q = std::get<EventQuery>(std::move(parsed))]() {
    auto counted = server.reader->count(q);
    if (!counted) return store_error_answer(counted.error());
    return count_answer(counted.value());
  });
}

}  // namespace pemx::http_front::handlers
