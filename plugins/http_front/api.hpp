#pragma once
// The HTTP API's pure core: request parsing, the reference's validations with its exact
// messages and error shapes, and the JSON answers. No IO, no threads; the server calls these.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "event/json.hpp"
#include "pemx/event_check.hpp"
#include "pemx/event_store.hpp"

namespace pemx::http_front {

inline constexpr std::size_t kMaxIds = 200;
inline constexpr std::size_t kMaxEvents = 200;

inline constexpr std::string_view kMsgZeroEvents = "Zero events entered";
inline constexpr std::string_view kMsgTooManyEvents =
    "Events out of the limit, between 1 and 200 events can be pushed at a time";
inline constexpr std::string_view kMsgNoProductIds = "Product Id is missing in query";
inline constexpr std::string_view kMsgTooManyIds =
    "Product Ids out of the limit, between 1 and 200 product ids can be fetched at a time";

// One express-validator style error: {"type":"field","value":…,"msg":…,"path":…,"location":…}.
struct FieldError {
  std::optional<std::string> value_json;  // absent when the value was missing
  std::string msg;
  std::string path;
  std::string location;  // "body" or "query"
  std::string reason{};  // the router's dead-letter code when it refuses the event, else empty
};

// An answer the server sends as it is.
struct Answer {
  int status = 200;
  std::string body;  // JSON
  std::vector<std::pair<std::string, std::string>> headers;
};

Answer errors_answer(int status, const std::vector<FieldError>& errors);
Answer error_answer(int status, std::string_view message);  // {"error": message}

bool valid_utf8(std::string_view s);
// Decodes %XX and '+' in a query component; nullopt on a malformed escape.
std::optional<std::string> url_decode(std::string_view text);
// Splits "a=1&b=2" into decoded pairs; nullopt on a malformed escape.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view q);

struct HistoryLimits {
  std::size_t default_limit = 1000;
  std::size_t max_limit = 10000;
};

// "A, B,,C" -> {"A", "B", "C"}: split on commas, trimmed, empty ids left out.
std::vector<std::string> split_product_ids(std::string_view text);

// GET /event?productIds=A,B&limit=&cursor=&eventType=&from=&to= → a query, or the 400.
std::variant<EventQuery, Answer> parse_history_request(std::string_view query_string,
                                                       const HistoryLimits& limits);
// The reference's answer: a JSON array of the six fields, newest first; the next page's
// cursor in the X-Next-Cursor and Link headers, so the body stays the reference's.
Answer history_answer(const EventPage& page, std::string_view path, std::string_view query);

struct PushEvent {
  std::string key;    // productId
  std::string value;  // the event, re-serialised compactly from the request
};
// What the push accepts beyond the reference's field rules.
struct PushRules {
  event::JsonLimits limits;      // of one event: nesting depth, bytes (as produced)
  EventCheck* check = nullptr;   // the router's decision for each event; null: none
};
// POST /event {"events": [...]}: the events to produce, or the 400 with every problem: the
// reference's validation messages first; then, for events that pass them, each event the
// router would dead-letter (with its reason) or that is too large. A body nested deeper than
// an event may be, or with a duplicate key anywhere, is refused whole.
std::variant<std::vector<PushEvent>, Answer> parse_push_request(std::string_view body,
                                                                const PushRules& rules = {});

}  // namespace pemx::http_front
