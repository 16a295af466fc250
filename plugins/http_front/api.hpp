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
#include "event/schema.hpp"
#include "pemx/event_check.hpp"
#include "pemx/event_store.hpp"

namespace pemx::http_front {

inline constexpr std::size_t kMaxIds = 200;
inline constexpr std::size_t kMaxEvents = 200;

inline constexpr std::string_view kMsgZeroEvents = "Zero events entered";
inline constexpr std::string_view kMsgTooManyEvents =
    "Events out of the limit, between 1 and 200 events can be pushed at a time";
inline constexpr std::string_view kMsgNoProductIds = "Product Id is missing in query";
// The reference's text, its misspelling included: scripts match on it.
inline constexpr std::string_view kMsgTooManyIds =
    "Product ids out of the limit, must be between 1 and 200 product ids at a time and should be "
    "comma seprated";
// The reference's 201 body (Express res.send of a string: text/html; charset=utf-8).
inline constexpr std::string_view kMsgPushed = "Events pushed to the queue successfully";
inline constexpr std::string_view kPushedContentType = "text/html; charset=utf-8";

// One express-validator style error: {"type":"field","value":…,"msg":…,"path":…,"location":…}.
struct FieldError {
  std::optional<std::string> value_json;  // absent when the value was missing
  std::string msg;
  std::string path;
  std::string location;  // "body" or "query"
  std::string reason{};  // the router's dead-letter code when it refuses the event, else empty
  // A schema failure ([schemas]): the JSON pointer of the failing value in the request body
  // ("/events/3/data/newPrice"), else empty. Not in the reference's shape: added with reason.
  std::string pointer{};
};

// An answer the server sends as it is.
struct Answer {
  int status = 200;
  std::string body;  // JSON, unless content_type says otherwise
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type{};  // empty: the server's choice (application/json)
};

Answer errors_answer(int status, const std::vector<FieldError>& errors);
Answer error_answer(int status, std::string_view message);  // {"error": message}
// `s` as a JSON string literal, quotes and escapes included.
std::string json_quote(std::string_view s);
// A store reader's error as every read route answers it: bad_cursor 400; store_busy (every
// reader connection stayed busy) 503 with Retry-After: 1; unsupported (this store cannot) 503;
// anything else 500. The message is the store's.
Answer store_error_answer(const Error& error);

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

// GET /event?productIds=A,B&limit=&cursor=&eventType=&from=&to= → a query, or the answer
// without one: the 400, or the reference's 200 [] when productIds is present but names no id
// (empty, or only blanks and commas: what the old page sends when Search has no chip).
std::variant<EventQuery, Answer> parse_history_request(std::string_view query_string,
                                                       const HistoryLimits& limits);
// The reference's answer: a JSON array of the six fields, newest first; the next page's
// cursor in the X-Next-Cursor and Link headers, so the body stays the reference's. createdAt
// is normalised as the reference's store did (the instant in UTC with milliseconds, see
// normalise_created_at); the stored text is kept.
Answer history_answer(const EventPage& page, std::string_view path, std::string_view query);

// GET /api/products/recent?limit=N (1..kMaxRecentProducts, default 20): N, or the 400 (a
// limit out of range or not a number, a parameter other than limit).
inline constexpr std::size_t kDefaultRecentProducts = 20;
std::variant<std::size_t, Answer> parse_recent_request(std::string_view query_string);
// {"products": [{"productId": …, "lastCreatedAt": …}, …]}, most recently stored first;
// lastCreatedAt normalised as the history's createdAt.
Answer recent_answer(const std::vector<RecentProduct>& products);

// GET /api/events/count (GET /event's productIds, eventType, from and to): {"count": N,
// "capped": bool}, N at most kMaxEventCount (capped: more match).
Answer count_answer(const EventCount& count);

struct PushEvent {
  std::string key;    // productId
  std::string value;  // the event, compact, as JSON.stringify writes it (often its bytes as sent)
  std::string event_id{};  // its eventId (a UUID as sent): what the push's idempotency keys on
};
// What the push accepts beyond the reference's field rules.
struct PushRules {
  event::JsonLimits limits;      // of one event: nesting depth, bytes (as produced)
  EventCheck* check = nullptr;   // the router's decision for each event; null: none
  // A JSON Schema per eventType ([schemas]); an event whose type has one must pass it. Null:
  // none, and nothing is looked up.
  std::shared_ptr<const event::SchemaSet> schemas{};
};
// POST /event {"events": [...]}: the events to produce, or the 400 with every problem: the
// reference's validation messages first; then, for events that pass them, each event the
// router would dead-letter (with its reason), that fails its type's schema (reason "schema", the
// failing value's JSON pointer in "pointer" and at the start of "msg") or that is too large.
// A body nested deeper than
// an event may be, or with a duplicate key anywhere, is refused whole.
// Most valid bodies are decided by one SAX pass that slices each event out of the body
// (push_scan.hpp); the rest, errors included, by the DOM path below, with the same result.
std::variant<std::vector<PushEvent>, Answer> parse_push_request(std::string_view body,
                                                                const PushRules& rules = {});
// The DOM path alone: parse, validate, write each event back as JSON.stringify would.
std::variant<std::vector<PushEvent>, Answer> parse_push_request_dom(std::string_view body,
                                                                    const PushRules& rules = {});

// GET /api/schemas: {"schemas": [{"eventType": …, "href": "/api/schemas/…"}, …]} sorted by
// eventType ([] when the config names none; `schemas` may be null).
Answer schema_list_answer(const event::SchemaSet* schemas);
// GET /api/schemas/{eventType} (`segment` as in the path, percent-encoded): the schema file's
// text as application/schema+json, or a 404 naming the types that have one.
Answer schema_answer(const event::SchemaSet* schemas, std::string_view segment);
inline constexpr std::string_view kSchemasPath = "/api/schemas";

// createdAt as the reference's history answered it: the instant in UTC with milliseconds
// (JS Date.toISOString: "2024-07-26T16:41:17.5+02:00" -> "2024-07-26T14:41:17.500Z", digits
// past the milliseconds truncated); a text that is not an ISO 8601 date-time comes back as is.
std::string normalise_created_at(std::string_view created_at);

// One event of a push as Kafka acknowledged it.
struct Delivered {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;  // -1: the broker did not report one
};

// What a Prefer request header (RFC 7240) asks of the answer's body.
enum class ReturnPreference { kNone, kMinimal, kRepresentation };
// The first "return" preference among the Prefer field values (several fields joined with ","):
// a comma-separated list of token [= word] with ";"-separated parameters; tokens compare
// case-insensitively, a word may be a quoted-string, malformed elements are ignored.
ReturnPreference return_preference(std::string_view prefer);

// The 201 of an acknowledged push: the reference's text body by default; with
// return=representation the JSON receipt {message, count, events:[{topic, partition,
// offset}]} (in the request's order), Preference-Applied saying so. Both carry Vary: Prefer.
Answer pushed_answer(const std::vector<Delivered>& delivered, ReturnPreference preference);

}  // namespace pemx::http_front
