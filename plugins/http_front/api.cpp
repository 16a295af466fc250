#include "http_front/api.hpp"

#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "event/event.hpp"
#include "event/json.hpp"
#include "event/time.hpp"
#include "event/validate.hpp"
#include "http_front/history_answer.hpp"
#include "http_front/js_number.hpp"
#include "http_front/push_scan.hpp"

namespace pemx::http_front {

namespace {
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

std::string quote(std::string_view s) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  str(w, s);
  return std::string(buf.GetString(), buf.GetSize());
}
std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}
}  // namespace

bool valid_utf8(std::string_view s) {
  // RapidJSON's validator: no overlong forms, no surrogates, nothing past U+10FFFF.
  struct Discard {
    void Put(char) {}
  } out;
  rapidjson::MemoryStream in(s.data(), s.size());
  while (in.Tell() < s.size()) {
    if (!rapidjson::UTF8<>::Validate(in, out)) return false;
  }
  return true;
}

Answer errors_answer(int status, const std::vector<FieldError>& errors) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("errors");
  w.StartArray();
  for (const auto& e : errors) {
    w.StartObject();
    w.Key("type");
    w.String("field");
    if (e.value_json) {
      w.Key("value");
      w.RawValue(e.value_json->data(), e.value_json->size(), rapidjson::kObjectType);
    }
    w.Key("msg");
    str(w, e.msg);
    w.Key("path");
    str(w, e.path);
    w.Key("location");
    str(w, e.location);
    if (!e.reason.empty()) {
      w.Key("reason");
      str(w, e.reason);
    }
    if (!e.pointer.empty()) {
      w.Key("pointer");
      str(w, e.pointer);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {status, std::string(buf.GetString(), buf.GetSize()), {}};
}

std::string json_quote(std::string_view s) { return quote(s); }

Answer error_answer(int status, std::string_view message) {
  return {status, "{\"error\":" + quote(message) + "}", {}};
}

Answer store_error_answer(const Error& error) {
  if (error.code == "bad_cursor") return error_answer(400, error.message);
  if (error.code == "store_busy") {
    Answer a = error_answer(503, error.message);
    a.headers.emplace_back("Retry-After", "1");
    return a;
  }
  return error_answer(error.code == "unsupported" ? 503 : 500, error.message);
}

std::optional<std::string> url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int v = 0;
      auto [p, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, v, 16);
      if (ec != std::errc() || p != text.data() + i + 3) return std::nullopt;
      out += static_cast<char>(v);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    auto key = url_decode(part.substr(0, eq));
    auto value = url_decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1));
    if (!key || !value) return std::nullopt;
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

std::vector<std::string> split_product_ids(std::string_view text) {
  std::vector<std::string> list;
  while (true) {
    auto comma = text.find(',');
    std::string id = trim(text.substr(0, comma));
    if (!id.empty()) list.push_back(std::move(id));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return list;
}

std::variant<std::size_t, Answer> parse_recent_request(std::string_view query_string) {
  auto params = parse_query(query_string);
  if (!params) return error_answer(400, "malformed percent-encoding in the query string");
  std::size_t limit = kDefaultRecentProducts;
  std::vector<FieldError> errors;
  for (const auto& [k, v] : *params) {
    if (!valid_utf8(k) || !valid_utf8(v)) {
      return error_answer(400, "the query string is not valid UTF-8 once decoded");
    }
    if (k != "limit") {
      errors.push_back({quote(v), "unknown parameter " + k + "; only limit is accepted", k,
                        "query"});
      continue;
    }
    std::size_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n < 1 || n > kMaxRecentProducts) {
      errors.push_back({quote(v), "limit must be an integer from 1 to " +
                                      std::to_string(kMaxRecentProducts), "limit", "query"});
    } else {
      limit = n;
    }
  }
  if (!errors.empty()) return errors_answer(400, errors);
  return limit;
}

Answer recent_answer(const std::vector<RecentProduct>& products) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("products");
  w.StartArray();
  for (const auto& p : products) {
    w.StartObject();
    w.Key("productId");
    w.String(p.product_id.data(), static_cast<rapidjson::SizeType>(p.product_id.size()));
    const std::string at = normalise_created_at(p.last_created_at);
    w.Key("lastCreatedAt");
    w.String(at.data(), static_cast<rapidjson::SizeType>(at.size()));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {200, std::string(buf.GetString(), buf.GetSize()), {}};
}

Answer count_answer(const EventCount& count) {
  return {200,
          "{\"count\":" + std::to_string(count.count) +
              ",\"capped\":" + (count.capped ? "true" : "false") + "}",
          {}};
}

std::variant<EventQuery, Answer> parse_history_request(std::string_view query_string,
                                                       const HistoryLimits& limits) {
  auto params = parse_query(query_string);
  if (!params) return error_answer(400, "malformed percent-encoding in the query string");
  for (const auto& [k, v] : *params) {
    if (!valid_utf8(k) || !valid_utf8(v)) {
      return error_answer(400, "the query string is not valid UTF-8 once decoded");
    }
  }
  EventQuery q;
  q.limit = limits.default_limit;
  std::optional<std::string> ids;
  std::vector<std::string> all_ids;  // every productIds given
  std::vector<FieldError> errors;
  for (const auto& [k, v] : *params) {
    if (k == "productIds") {
      ids = v;
      all_ids.push_back(v);
    } else if (k == "limit") {
      std::size_t n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size() || n < 1 || n > limits.max_limit) {
        errors.push_back({quote(v), "limit must be an integer from 1 to " +
                                        std::to_string(limits.max_limit), "limit", "query"});
      } else {
        q.limit = n;
      }
    } else if (k == "cursor") {
      q.cursor = v;
    } else if (k == "eventType") {
      q.event_type = v;
    } else if (k == "from" || k == "to") {
      auto ms = event::iso8601_to_epoch_ms(v);
      if (!ms) {
        errors.push_back({quote(v), k + " must be a valid ISO 8601 date", k, "query"});
      } else {
        (k == "from" ? q.from_ms : q.to_ms) = *ms;
      }
    }
  }
  std::vector<std::string> list = ids ? split_product_ids(*ids) : std::vector<std::string>{};
  if (all_ids.size() > 1) {
    // Express made an array of them and the reference crashed into a 500; searching for one
    // of them would depend on their order. The value is the array, as express-validator shows.
    std::string value = "[";
    for (const auto& v : all_ids) value += (value.size() > 1 ? "," : "") + quote(v);
    errors.insert(errors.begin(),
                  {value + "]",
                   "productIds given more than once: put every id in one comma-separated "
                   "productIds",
                   "productIds", "query"});
  } else if (!ids) {
    // Missing: express-validator leaves out "value". (The reference crashes into a 500 here;
    // this 400 is what it meant.)
    errors.insert(errors.begin(),
                  {std::nullopt, std::string(kMsgNoProductIds), "productIds", "query"});
  } else if (list.size() > kMaxIds) {
    errors.insert(errors.begin(),
                  {quote(*ids), std::string(kMsgTooManyIds), "productIds", "query"});
  }
  if (!errors.empty()) return errors_answer(400, errors);
  // Present but naming no id: the reference finds nothing and answers []; the old page shows
  // "No results found" (an error there leaves its spinner turning).
  if (list.empty()) return Answer{200, "[]", {}};
  q.product_ids = std::move(list);
  return q;
}

namespace {
// Percent-encoding: unreserved characters (and the ones in `keep`) as they are, every other
// byte as %XX. A path segment keeps nothing more; a query value keeps ',' (productIds lists).
std::string percent_encode(std::string_view s, std::string_view keep = {}) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        keep.find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}
}  // namespace

Answer schema_list_answer(const event::SchemaSet* schemas) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("schemas");
  w.StartArray();
  if (schemas != nullptr) {
    for (const auto& type : schemas->types()) {
      w.StartObject();
      w.Key("eventType");
      str(w, type);
      w.Key("href");
      str(w, std::string(kSchemasPath) + "/" + percent_encode(type));
      w.EndObject();
    }
  }
  w.EndArray();
  w.EndObject();
  return {200, std::string(buf.GetString(), buf.GetSize()), {}};
}

Answer schema_answer(const event::SchemaSet* schemas, std::string_view segment) {
  // %XX decoded; '+' is a plus in a path.
  std::string type;
  for (std::size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] != '%') {
      type += segment[i];
      continue;
    }
    int v = 0;
    if (i + 2 >= segment.size()) {
      return error_answer(400, "malformed percent-encoding in the event type");
    }
    auto [p, ec] = std::from_chars(segment.data() + i + 1, segment.data() + i + 3, v, 16);
    if (ec != std::errc() || p != segment.data() + i + 3) {
      return error_answer(400, "malformed percent-encoding in the event type");
    }
    type += static_cast<char>(v);
    i += 2;
  }
  const event::Schema* schema = schemas == nullptr ? nullptr : schemas->find(type);
  if (schema == nullptr) {
    std::string known;
    if (schemas != nullptr) {
      for (const auto& t : schemas->types()) known += (known.empty() ? "" : ", ") + t;
    }
    return error_answer(404, "no schema for eventType \"" + event::excerpt(type) + "\" (" +
                                 (known.empty() ? std::string("the config names none")
                                                : "schemas exist for " + known) +
                                 "; GET /api/schemas lists them)");
  }
  Answer a{200, schema->text(), {}};
  a.content_type = "application/schema+json";
  return a;
}

namespace {
bool already_normal(std::string_view t);  // below, with normalise_created_at

// The buffer's first room, as the events' sizes are not known before they are written: a
// request of 10 products answered about 4.3 KB, one product about 440 bytes
// (bench/run_history.sh); rapidjson grows it by half when a larger answer needs more.
constexpr std::size_t kHistoryBodyReserve = 8192;
}  // namespace

HistoryAnswer::HistoryAnswer() : writer_(out_) {
  out_.Reserve(kHistoryBodyReserve);
  writer_.StartArray();
}

namespace {
// Whether rapidjson's Writer would escape a byte of `s` (its WriteString's table: control
// characters, '"' and '\\'; every other byte, valid UTF-8 or not, it copies as it is). Eight
// bytes at a time: a word has a byte below 0x20 when (x - 0x20 in every byte) & ~x has a high
// bit set, and a byte equal to c when x ^ c in every byte has a zero byte (Bit Twiddling Hacks,
// "determine if a word has a byte less than n" and "has a zero byte"; both exact for "any").
bool needs_escape(std::string_view s) {
  constexpr std::uint64_t kOnes = 0x0101010101010101u;
  constexpr std::uint64_t kHighs = 0x8080808080808080u;
  const auto zero_byte = [](std::uint64_t v) { return (v - kOnes) & ~v; };
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t x;
    std::memcpy(&x, s.data() + i, 8);
    const std::uint64_t hit = ((x - kOnes * 0x20) & ~x) | zero_byte(x ^ (kOnes * '"')) |
                              zero_byte(x ^ (kOnes * '\\'));
    if ((hit & kHighs) != 0) return true;
  }
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') return true;
  }
  return false;
}
}  // namespace

// A string with nothing to escape (the usual stored id, type, region and time) is copied into
// the buffer in one go, where Writer::String copies it byte by byte (the answer's largest cost
// after SQLite's, docs/benchmarks.md); the writer still puts its separator and keeps its state
// (a raw value of no bytes). Any other string the writer escapes itself: the same bytes.
void HistoryAnswer::string(std::string_view s) {
  if (needs_escape(s)) {
    writer_.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    return;
  }
  writer_.RawValue("", 0, rapidjson::kStringType);
  char* p = out_.Push(s.size() + 2);
  p[0] = '"';
  std::memcpy(p + 1, s.data(), s.size());
  p[s.size() + 1] = '"';
}

void HistoryAnswer::event(const StoredEventView& e) {
  auto& w = writer_;
  w.StartObject();
  string("eventId");
  string(e.event_id);
  string("eventType");
  string(e.event_type);
  string("productId");
  string(e.product_id);
  string("region");
  string(e.region);
  string("createdAt");
  // Most stored texts are already the normal form: written as they are, without a copy.
  if (already_normal(e.created_at)) {
    string(e.created_at);
  } else {
    string(normalise_created_at(e.created_at));
  }
  string("data");
  // The stored data is JSON text already: copied in one go, as above (Writer::RawValue copies
  // it byte by byte).
  w.RawValue("", 0, rapidjson::kObjectType);
  std::memcpy(out_.Push(e.data_json.size()), e.data_json.data(), e.data_json.size());
  w.EndObject();
}

Answer HistoryAnswer::finish(const std::optional<std::string>& next_cursor,
                             std::string_view path, std::string_view query) && {
  writer_.EndArray();
  Answer a{200, std::string(out_.GetString(), out_.GetSize()), {}};
  if (next_cursor) {
    a.headers.emplace_back("X-Next-Cursor", *next_cursor);
    // The same query with the cursor replaced.
    std::string next(path);
    next += "?";
    auto params = parse_query(query);
    bool first = true;
    auto encode = [](std::string_view s) { return percent_encode(s, ","); };
    if (params) {
      for (const auto& [k, v] : *params) {
        if (k == "cursor") continue;
        next += (first ? "" : "&") + encode(k) + "=" + encode(v);
        first = false;
      }
    }
    next += (first ? "" : "&") + std::string("cursor=") + encode(*next_cursor);
    a.headers.emplace_back("Link", "<" + next + ">; rel=\"next\"");
  }
  return a;
}

Answer history_answer(const EventPage& page, std::string_view path, std::string_view query) {
  HistoryAnswer answer;
  for (const auto& e : page.events) {
    answer.event({e.event_id, e.event_type, e.product_id, e.region, e.created_at, e.data_json});
  }
  return std::move(answer).finish(page.next_cursor, path, query);
}

std::variant<std::vector<PushEvent>, Answer> parse_push_request(std::string_view body,
                                                                const PushRules& rules) {
  if (auto events = scan_push_request(body, rules)) return std::move(*events);
  return parse_push_request_dom(body, rules);
}

namespace {

// "/data/items/2" in event i -> "events[i].data.items[2]" (express-validator's path form).
std::string path_of(const rapidjson::Value& event, std::size_t i, std::string_view pointer) {
  std::string path = "events[" + std::to_string(i) + "]";
  const rapidjson::Value* at = &event;
  while (!pointer.empty()) {
    pointer.remove_prefix(1);  // '/'
    const auto slash = pointer.find('/');
    std::string token(pointer.substr(0, slash));
    pointer = slash == std::string_view::npos ? std::string_view() : pointer.substr(slash);
    for (std::size_t p = 0; (p = token.find('~', p)) != std::string::npos; ++p) {
      if (p + 1 < token.size()) token.replace(p, 2, token[p + 1] == '1' ? "/" : "~");
    }
    if (at != nullptr && at->IsArray()) {
      path += "[" + token + "]";
      char* end = nullptr;
      const unsigned long n = std::strtoul(token.c_str(), &end, 10);
      at = *end == '\0' && n < at->Size() ? &(*at)[static_cast<rapidjson::SizeType>(n)] : nullptr;
    } else {
      path += "." + token;
      const rapidjson::Value* next = nullptr;
      if (at != nullptr && at->IsObject()) {
        auto it = at->FindMember(rapidjson::StringRef(token.data(), token.size()));
        if (it != at->MemberEnd()) next = &it->value;
      }
      at = next;
    }
  }
  return path;
}

FieldError schema_error(const rapidjson::Value& event, std::size_t i, const event::Schema& schema,
                        const event::SchemaFailure& failure) {
  const std::string prefix = "/events/" + std::to_string(i);
  std::optional<std::string> value;
  rapidjson::Pointer p(failure.pointer.c_str(), failure.pointer.size());
  if (const rapidjson::Value* v = p.IsValid() ? p.Get(event) : nullptr) value = to_js_json(*v);
  return {value,
          failure.describe(prefix) + " (the schema of " + schema.event_type() + ", " +
              failure.keyword + ")",
          path_of(event, i, failure.pointer), "body", std::string(event::kReasonSchema),
          prefix + failure.pointer};
}

}  // namespace

std::variant<std::vector<PushEvent>, Answer> parse_push_request_dom(std::string_view body,
                                                                    const PushRules& rules) {
  rapidjson::Document d;
  // Full precision: numbers are produced as the reference's JSON.stringify writes them
  // (to_json: the shortest text that reads back the same), never rounded by the parse. The body's
  // own size is the server's max_body_bytes; its depth is an event's plus the body object and
  // the events array.
  const event::JsonLimits body_limits{rules.limits.max_depth + 2, body.size()};
  if (event::JsonError e = event::parse_bounded<rapidjson::kParseValidateEncodingFlag |
                                                rapidjson::kParseFullPrecisionFlag>(
          d, body, body_limits)) {
    switch (e.problem) {
      case event::JsonProblem::kTooDeep:
        return error_answer(400, "request body is nested too deeply: an event may nest objects "
                                 "and arrays at most " + std::to_string(rules.limits.max_depth) +
                                 " levels (" + e.detail + ")");
      case event::JsonProblem::kDuplicateKey:
        return error_answer(400, "request body has a " + e.detail +
                                     ": a key may appear only once in an object");
      default:
        return error_answer(400, "request body is not valid JSON: " + e.detail);
    }
  }
  std::vector<FieldError> errors;
  const rapidjson::Value* events = nullptr;
  if (d.IsObject()) {
    auto it = d.FindMember("events");
    if (it != d.MemberEnd()) events = &it->value;
  }
  // The reference's chain: exists() "Zero events entered", then isArray({min: 1, max: 200})
  // "Events out of the limit, …", both run (no bail). An absent `events` fails both, with no
  // "value" (express-validator leaves out undefined); anything else that is not an array of
  // 1 to 200 ([], {}, "abc", null, 201 items) fails only the second, its whole value sent back.
  if (events == nullptr) {
    errors.push_back({std::nullopt, std::string(kMsgZeroEvents), "events", "body"});
    errors.push_back({std::nullopt, std::string(kMsgTooManyEvents), "events", "body"});
    return errors_answer(400, errors);
  }
  if (!events->IsArray() || events->Empty() || events->Size() > kMaxEvents) {
    errors.push_back({to_js_json(*events), std::string(kMsgTooManyEvents), "events", "body"});
    return errors_answer(400, errors);
  }
  std::vector<PushEvent> out;
  for (rapidjson::SizeType i = 0; i < events->Size(); ++i) {
    const rapidjson::Value& e = (*events)[i];
    std::string base = "events[" + std::to_string(i) + "]";
    if (!e.IsObject()) {  // every field is missing
      for (const auto& fe : event::validate_event(rapidjson::Value(rapidjson::kObjectType))) {
        errors.push_back({std::nullopt, fe.msg, base + "." + fe.field, "body"});
      }
      continue;
    }
    auto field_errors = event::validate_event(e);
    for (const auto& fe : field_errors) {
      auto it = e.FindMember(fe.field.c_str());
      std::optional<std::string> value;
      if (it != e.MemberEnd()) value = to_js_json(it->value);
      errors.push_back({value, fe.msg, base + "." + fe.field, "body"});
    }
    if (!field_errors.empty()) continue;
    // What is produced, byte for byte, is what the router is asked about.
    std::string value = to_js_json(e);
    auto pid = e.FindMember("productId");
    // The message is the event and its key (productId).
    const std::size_t size = value.size() + pid->value.GetStringLength();
    if (size > rules.limits.max_bytes) {
      errors.push_back({std::nullopt,
                        "the event with its key is " +
                            event::detail::too_large_detail(size, rules.limits.max_bytes),
                        base, "body", std::string(event::kReasonTooLarge)});
      continue;
    }
    if (rules.schemas != nullptr) {
      auto type = e.FindMember("eventType");  // a non-empty string: validate_event passed
      const event::Schema* schema = rules.schemas->find(
          std::string_view(type->value.GetString(), type->value.GetStringLength()));
      if (schema != nullptr) {
        // The text that is produced is what is validated (as the router will see it).
        if (auto failure = schema->validate(value, rules.limits)) {
          errors.push_back(schema_error(e, i, *schema, *failure));
          continue;
        }
      }
    }
    if (rules.check != nullptr) {
      if (auto refusal = rules.check->check(value)) {
        std::optional<std::string> at;
        const rapidjson::Value* v =
            refusal->field.empty() ? nullptr : event::find_path(e, refusal->field);
        if (v != nullptr) at = to_js_json(*v);
        errors.push_back({at, "the router would not deliver this event (" + refusal->reason +
                                  "): " + refusal->detail,
                          refusal->field.empty() ? base : base + "." + refusal->field, "body",
                          refusal->reason});
        continue;
      }
    }
    auto id = e.FindMember("eventId");
    out.push_back({std::string(pid->value.GetString(), pid->value.GetStringLength()),
                   std::move(value),
                   std::string(id->value.GetString(), id->value.GetStringLength())});
  }
  if (!errors.empty()) return errors_answer(400, errors);
  return out;
}

namespace {
// "YYYY-MM-DDTHH:MM:SS.mmmZ" with an hour below 24 and a second below 60: the form the
// normalisation writes, so such a text is its own normal form (a valid one formats back to
// the same bytes, an invalid date such as February 30 does not parse and is kept as is).
// Most stored events arrive in this form; they skip the parse and the format.
bool already_normal(std::string_view t) {
  if (t.size() != 24) return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    switch (i) {
      case 4: case 7: if (c != '-') return false; break;
      case 10: if (c != 'T') return false; break;
      case 13: case 16: if (c != ':') return false; break;
      case 19: if (c != '.') return false; break;
      case 23: if (c != 'Z') return false; break;
      default: if (c < '0' || c > '9') return false;
    }
  }
  const int hour = (t[11] - '0') * 10 + (t[12] - '0');
  const int second = (t[17] - '0') * 10 + (t[18] - '0');
  return hour < 24 && second < 60;  // 24:00 and a leap second normalise to other text
}
}  // namespace

std::string normalise_created_at(std::string_view created_at) {
  // Parsing the stored text again needs nothing from the store: the text is whatever the store
  // accepted (an unparsable one, from the Kafka path, comes back as received).
  if (already_normal(created_at)) return std::string(created_at);
  if (auto ms = event::iso8601_to_epoch_ms(created_at)) return event::epoch_ms_to_iso8601(*ms);
  return std::string(created_at);
}

namespace {

// RFC 9110 5.6.2 tchar.
bool tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
bool ows(char c) { return c == ' ' || c == '\t'; }
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Reads RFC 7240's preference or parameter shape at `s` (after OWS): token [BWS "=" BWS word].
// False when the text there is not that shape. The value of a quoted-string is unescaped.
bool read_pair(std::string_view& s, std::string& name, std::string& value, bool& has_value) {
  std::size_t i = 0;
  while (i < s.size() && tchar(s[i])) ++i;
  if (i == 0) return false;
  name.assign(s.substr(0, i));
  value.clear();
  has_value = false;
  std::size_t j = i;
  while (j < s.size() && ows(s[j])) ++j;
  if (j < s.size() && s[j] == '=') {
    ++j;
    while (j < s.size() && ows(s[j])) ++j;
    has_value = true;
    if (j < s.size() && s[j] == '"') {
      ++j;
      bool closed = false;
      while (j < s.size()) {
        char c = s[j++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (j == s.size()) return false;
          c = s[j++];
        }
        value += c;
      }
      if (!closed) return false;
    } else {
      std::size_t k = j;
      while (k < s.size() && tchar(s[k])) ++k;
      if (k == j) return false;
      value.assign(s.substr(j, k - j));
      j = k;
    }
    i = j;
  }
  s.remove_prefix(i);
  return true;
}

// Skips to just after the next comma outside a quoted-string (or to the end).
void skip_element(std::string_view& s) {
  bool quoted = false;
  std::size_t i = 0;
  for (; i < s.size(); ++i) {
    if (quoted && s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      quoted = !quoted;
    } else if (!quoted && s[i] == ',') {
      break;
    }
  }
  s.remove_prefix(std::min(i + 1, s.size()));
}

}  // namespace

ReturnPreference return_preference(std::string_view s) {
  // #preference: elements separated by commas, empty ones allowed; each element is
  // token [= word] *( OWS ";" [ OWS parameter ] ). Only the first "return" counts
  // (RFC 7240 2: a preference given more than once is considered at its first instance).
  std::string name, value, pname, pvalue;
  bool has_value = false, has_pvalue = false;
  while (!s.empty()) {
    while (!s.empty() && (ows(s.front()) || s.front() == ',')) s.remove_prefix(1);
    if (s.empty()) break;
    std::string_view element = s;
    bool ok = read_pair(element, name, value, has_value);
    while (ok) {  // parameters, until the element ends
      while (!element.empty() && ows(element.front())) element.remove_prefix(1);
      if (element.empty() || element.front() == ',') break;
      if (element.front() != ';') {
        ok = false;
        break;
      }
      element.remove_prefix(1);
      while (!element.empty() && ows(element.front())) element.remove_prefix(1);
      if (element.empty() || element.front() == ',' || element.front() == ';') continue;
      ok = read_pair(element, pname, pvalue, has_pvalue);
    }
    if (!ok) {  // not a preference: ignored
      skip_element(s);
      continue;
    }
    s = element;
    if (!iequals(name, "return")) continue;
    if (has_value && iequals(value, "representation")) {
      return ReturnPreference::kRepresentation;
    }
    if (has_value && iequals(value, "minimal")) return ReturnPreference::kMinimal;
    return ReturnPreference::kNone;  // the first "return" has a value this server has not
  }
  return ReturnPreference::kNone;
}

Answer pushed_answer(const std::vector<Delivered>& delivered, ReturnPreference preference) {
  if (preference != ReturnPreference::kRepresentation) {
    return {201, std::string(kMsgPushed), {{"Vary", "Prefer"}}, std::string(kPushedContentType)};
  }
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("message");
  w.String("Events pushed");
  w.Key("count");
  w.Uint64(delivered.size());
  w.Key("events");
  w.StartArray();
  for (const auto& d : delivered) {
    w.StartObject();
    w.Key("topic");
    str(w, d.topic);
    w.Key("partition");
    w.Int(d.partition);
    w.Key("offset");
    w.Int64(d.offset);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {201,
          std::string(buf.GetString(), buf.GetSize()),
          {{"Preference-Applied", "return=representation"}, {"Vary", "Prefer"}}};
}

}  // namespace pemx::http_front
