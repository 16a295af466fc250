// Fuzz target history_query: the bytes a client controls in the HTTP API's pure core, all
// from one input:
//  - as GET /event's query string: parse_history_request, then the store's decoding of the
//    cursor it carries (as SqliteEventReader::query does);
//  - as a cursor on its own: decode_cursor, and encode_cursor of what it decoded must decode
//    to the same key;
//  - as GET /api/analytics's query string: parse_analytics_request, whose query must pass the
//    stores' own check (store::check_analytics), and as GET /api/products/recent's;
//  - as POST /event's body: parse_push_request, which must answer exactly as its DOM path
//    (parse_push_request_dom) does, whether its fast path (push_scan.hpp) decided or not.
// Any crash, sanitizer report, leak or failed check is a finding (docs/fuzzing.md).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "http_front/analytics.hpp"
#include "http_front/api.hpp"
#include "store/analytics.hpp"
#include "store/cursor.hpp"

namespace {

using namespace pemx;

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "history_query: %s: %s\n", what, detail.c_str());
  std::abort();
}

void check_cursor(std::string_view text) {
  auto key = store::decode_cursor(text);
  if (!key) {
    if (key.error().code != store::kBadCursor) fail("cursor error code", key.error().code);
    return;
  }
  std::string again = store::encode_cursor(key.value());
  auto round = store::decode_cursor(again);
  if (!round) fail("a cursor encode_cursor made does not decode", again);
  if (!(round.value() == key.value())) fail("cursor round trip changed the key", again);
}

using Push = std::variant<std::vector<http_front::PushEvent>, http_front::Answer>;
void check_same_as_dom(const Push& got, const Push& dom) {
  if (got.index() != dom.index()) fail("push: the fast path and the DOM path disagree", "");
  if (const auto* a = std::get_if<http_front::Answer>(&got)) {
    const auto& b = std::get<http_front::Answer>(dom);
    if (a->status != b.status || a->body != b.body) fail("push: answers differ", a->body);
    return;
  }
  const auto& a = std::get<std::vector<http_front::PushEvent>>(got);
  const auto& b = std::get<std::vector<http_front::PushEvent>>(dom);
  if (a.size() != b.size()) fail("push: event counts differ", std::to_string(a.size()));
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].key != b[i].key || a[i].value != b[i].value || a[i].event_id != b[i].event_id) {
      fail("push: an event differs from the DOM path's", a[i].value + " vs " + b[i].value);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const http_front::HistoryLimits limits;
  auto history = http_front::parse_history_request(input, limits);
  if (const auto* query = std::get_if<EventQuery>(&history)) {
    if (query->product_ids.empty() || query->product_ids.size() > http_front::kMaxIds) {
      fail("product ids out of 1..200", std::to_string(query->product_ids.size()));
    }
    for (const auto& id : query->product_ids) {
      if (id.empty()) fail("empty product id", "");
    }
    if (query->limit == 0 || query->limit > limits.max_limit) {
      fail("limit out of range", std::to_string(query->limit));
    }
    if (query->cursor) check_cursor(*query->cursor);
  } else {
    const auto& answer = std::get<http_front::Answer>(history);
    if (answer.status == 200) {
      // The reference's empty search: productIds present but naming no id answers [] at once.
      if (answer.body != "[]") fail("an answer without a query is not []", answer.body);
    } else if (answer.status < 400 || answer.status > 499) {
      fail("a refused query is not a 4xx", std::to_string(answer.status));
    }
  }

  check_cursor(input);

  // A fixed "now" (2026-01-01T00:00:00Z): the default window must be a valid one too.
  auto analytics = http_front::parse_analytics_request(input, 1'767'225'600'000);
  if (const auto* q = std::get_if<AnalyticsQuery>(&analytics)) {
    if (auto refused = store::check_analytics(*q)) {
      fail("an accepted analytics query fails the stores' check", refused->message);
    }
  } else if (const auto& answer = std::get<http_front::Answer>(analytics);
             answer.status < 400 || answer.status > 499) {
    fail("a refused analytics query is not a 4xx", std::to_string(answer.status));
  }

  auto recent = http_front::parse_recent_request(input);
  if (const auto* answer = std::get_if<http_front::Answer>(&recent);
      answer != nullptr && (answer->status < 400 || answer->status > 499)) {
    fail("a refused recent-products query is not a 4xx", std::to_string(answer->status));
  }

  auto push = http_front::parse_push_request(input);
  check_same_as_dom(push, http_front::parse_push_request_dom(input));
  if (const auto* events = std::get_if<std::vector<http_front::PushEvent>>(&push)) {
    if (events->empty() || events->size() > http_front::kMaxEvents) {
      fail("pushed events out of 1..200", std::to_string(events->size()));
    }
  } else {
    const auto& answer = std::get<http_front::Answer>(push);
    if (answer.status < 400 || answer.status > 499) {
      fail("a refused push is not a 4xx", std::to_string(answer.status));
    }
  }
  return 0;
}
