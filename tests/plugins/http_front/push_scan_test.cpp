// The push's fast path (push_scan.hpp): it decides the common body itself, slicing each event
// out of it, and leaves everything else to the DOM path; either way parse_push_request answers
// exactly as parse_push_request_dom does.
#include <catch2/catch.hpp>

#include <string>
#include <variant>
#include <vector>

#include "http_front/api.hpp"
#include "http_front/push_scan.hpp"
#include "sim/event_generator.hpp"
#include "support/config_fixture.hpp"

using namespace pemx;
using namespace pemx::http_front;

namespace {

const std::string kValid =
    R"({"eventId":"6f1c2a34-1111-4aaa-8bbb-000000000001","eventType":"ProductPriceUpdate","productId":"P1","region":"EU","createdAt":"2024-07-26T14:41:17.123Z","data":{"newPrice":7.31,"previousPrice":2,"tags":["a",true,null,false],"n":-1.25e-7}})";

std::string body_of(const std::vector<std::string>& events) {
  std::string body = R"({"events":[)";
  for (std::size_t i = 0; i < events.size(); ++i) body += (i ? "," : "") + events[i];
  return body + "]}";
}
std::string with(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

// parse_push_request and the DOM path give the same answer or the same events.
void check_same_as_dom(const std::string& body, const PushRules& rules = {}) {
  INFO("body: " << body.substr(0, 400));
  auto got = parse_push_request(body, rules);
  auto dom = parse_push_request_dom(body, rules);
  REQUIRE(got.index() == dom.index());
  if (const auto* a = std::get_if<Answer>(&got)) {
    CHECK(a->status == std::get<Answer>(dom).status);
    CHECK(a->body == std::get<Answer>(dom).body);
    return;
  }
  const auto& e = std::get<std::vector<PushEvent>>(got);
  const auto& d = std::get<std::vector<PushEvent>>(dom);
  REQUIRE(e.size() == d.size());
  for (std::size_t i = 0; i < e.size(); ++i) {
    CHECK(e[i].key == d[i].key);
    CHECK(e[i].value == d[i].value);
    CHECK(e[i].event_id == d[i].event_id);
  }
}

}  // namespace

TEST_CASE("push scan: a compact valid body is sliced, event by event, as sent",
          "[unit][http][push_scan]") {
  const std::string body = body_of({kValid, with(kValid, "\"P1\"", "\"P2\"")});
  auto events = scan_push_request(body, {});
  REQUIRE(events.has_value());
  REQUIRE(events->size() == 2);
  CHECK((*events)[0].key == "P1");
  CHECK((*events)[0].value == kValid);
  CHECK((*events)[1].key == "P2");
  check_same_as_dom(body);
}

TEST_CASE("push scan: 200 generated events are decided by the fast path, as the DOM path would",
          "[unit][http][push_scan]") {
  sim::EventGenerator generator;
  std::vector<std::string> events;
  for (int i = 0; i < 200; ++i) events.push_back(generator.next().json);
  const std::string body = body_of(events);
  auto scanned = scan_push_request(body, {});
  REQUIRE(scanned.has_value());
  REQUIRE(scanned->size() == 200);
  // The generator writes some prices as RapidJSON does ("930.0"): those events are written as
  // JSON.stringify writes them ("930"), the others produced as sent.
  std::size_t as_sent = 0;
  for (std::size_t i = 0; i < events.size(); ++i) as_sent += (*scanned)[i].value == events[i];
  CHECK(as_sent >= 190);
  check_same_as_dom(body);
}

TEST_CASE("push scan: whitespace around the events is fine, the events are still sliced",
          "[unit][http][push_scan]") {
  const std::string body = " {\n  \"other\": [1.0, {\"x\": \"y\"}],\n  \"events\" : [ " + kValid +
                           " ,\n " + kValid + " ]\n}\n";
  auto events = scan_push_request(body, {});
  REQUIRE(events.has_value());
  CHECK(events->size() == 2);
  check_same_as_dom(body);
}

TEST_CASE("push scan: an event in another form than the DOM path writes is written as it does",
          "[unit][http][push_scan]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\"region\":", "\"region\": "},
      {"{\"newPrice\"", "{ \"newPrice\""},
      {"7.31", "7.30"},
      {"7.31", "1.0"},
      {"7.31", "-0"},
      {"7.31", "1e2"},
      {"7.31", "1e21"},
      {"7.31", "123456789012345678901"},
      {"7.31", "123456789.123456789"},
  };
  for (const auto& [from, to] : cases) {
    INFO(to);
    // The event alone, and between two events sent in the DOM path's form.
    const std::string other = with(kValid, "\"P1\"", "\"P2\"");
    const std::string body = body_of({other, with(kValid, from, to), other});
    auto events = scan_push_request(body, {});
    REQUIRE(events.has_value());
    REQUIRE(events->size() == 3);
    CHECK((*events)[0].value == other);
    CHECK((*events)[2].value == other);
    check_same_as_dom(body);
  }
}

TEST_CASE("push scan: what the fast path leaves to the DOM path, which answers the same",
          "[unit][http][push_scan]") {
  std::string many_keys = R"({"k0":0)";
  for (std::size_t i = 1; i <= kScanMaxKeysPerObject; ++i) {
    many_keys += ",\"k" + std::to_string(i) + "\":" + std::to_string(i);
  }
  many_keys += "}";
  const std::vector<std::pair<const char*, std::string>> cases = {
      // Valid, but left to the DOM path.
      {"an escape", body_of({with(kValid, "\"P1\"", "\"P\\u0031\"")})},
      {"an escaped slash", body_of({with(kValid, "\"EU\"", "\"E\\/U\"")})},
      {"an object with many keys",
       body_of({with(kValid, "{\"newPrice\"",
                     many_keys.substr(0, many_keys.size() - 1) + ",\"newPrice\"")})},
      // Invalid: the DOM path's 400.
      {"a missing eventId", body_of({with(kValid, "\"eventId\":", "\"eventID\":")})},
      {"a bad eventId", body_of({with(kValid, "6f1c2a34-", "6f1c2a3-")})},
      {"an empty productId", body_of({with(kValid, "\"P1\"", "\"\"")})},
      {"a number as region", body_of({with(kValid, "\"EU\"", "1")})},
      {"an object as eventType", body_of({with(kValid, "\"ProductPriceUpdate\"", "{}")})},
      {"a bad createdAt", body_of({with(kValid, "2024-07-26T", "2024-13-26T")})},
      {"a duplicate key in data", body_of({with(kValid, "\"previousPrice\"", "\"newPrice\"")})},
      {"a duplicate key at the top", R"({"events":[)" + kValid + R"(],"events":[]})"},
      {"an event that is not an object", body_of({kValid, "[]"})},
      {"an event that is a string", body_of({kValid, "\"e\""})},
      {"no events", body_of({})},
      {"201 events", body_of(std::vector<std::string>(201, kValid))},
      {"events an object", R"({"events":{"a":1}})"},
      {"events a string", R"({"events":"abc"})"},
      {"no events key", R"({"event":[1]})"},
      {"a root array", "[" + kValid + "]"},
      {"a root string", "\"x\""},
      {"empty", ""},
      {"truncated", body_of({kValid}).substr(0, 100)},
      {"trailing bytes", body_of({kValid}) + "x"},
      {"a NUL byte after the body", body_of({kValid}) + std::string(1, '\0') + "x"},
      {"invalid UTF-8", body_of({with(kValid, "\"P1\"", "\"P\xff\"")})},
      {"a number too big", body_of({with(kValid, "7.31", "1e400")})},
  };
  for (const auto& [name, body] : cases) {
    INFO(name);
    CHECK_FALSE(scan_push_request(body, {}).has_value());
    check_same_as_dom(body);
  }
}

TEST_CASE("push scan: the limits of the DOM path hold on the fast path",
          "[unit][http][push_scan]") {
  PushRules rules;
  SECTION("an event over max_bytes") {
    rules.limits.max_bytes = kValid.size() + 1;  // with its key "P1": one byte over
    const std::string body = body_of({kValid});
    CHECK_FALSE(scan_push_request(body, rules).has_value());
    check_same_as_dom(body, rules);
    rules.limits.max_bytes = kValid.size() + 2;
    CHECK(scan_push_request(body, rules).has_value());
    check_same_as_dom(body, rules);
  }
  SECTION("nesting deeper than an event may") {
    rules.limits.max_depth = 3;  // the event, data, data.tags
    const std::string body = body_of({kValid});
    CHECK(scan_push_request(body, rules).has_value());
    rules.limits.max_depth = 2;
    CHECK_FALSE(scan_push_request(body, rules).has_value());
    check_same_as_dom(body, rules);
  }
}

namespace {
// Refuses events whose bytes contain "refuse"; counts what it was asked.
class RefuseMarked final : public EventCheck {
 public:
  std::optional<EventRefusal> check(std::string_view event_json) override {
    asked.emplace_back(event_json);
    if (event_json.find("refuse") == std::string_view::npos) return std::nullopt;
    return EventRefusal{"unknown_event_type", "refused by the test", "eventType"};
  }
  std::vector<std::string> asked;
};

// Records the tokens the scan hands over with each event (and answers as RefuseMarked).
class RecordTokens final : public EventCheck {
 public:
  std::optional<EventRefusal> check(std::string_view) override { return std::nullopt; }
  std::optional<EventRefusal> check_tokens(std::string_view event_json,
                                           const JsonTokens& tokens) override {
    events.emplace_back(event_json);
    std::string shown;  // one line per token: kind, count or text
    for (const JsonToken& t : tokens) {
      shown += std::to_string(static_cast<int>(t.kind)) + " " +
               (t.text.data() != nullptr ? std::string(t.text) : std::to_string(t.count)) + "\n";
    }
    seen.push_back(shown);
    return std::nullopt;
  }
  std::vector<std::string> events;
  std::vector<std::string> seen;
};
}  // namespace

TEST_CASE("push scan: the router's check gets each event's SAX events with its bytes, strings "
          "and numbers as in the body",
          "[unit][http][push_scan]") {
  RecordTokens check;
  PushRules rules;
  rules.check = &check;
  const std::string data = R"({"newPrice":7.31,"previousPrice":2,"tags":["a",true,null,false],"n":-1.25e-7})";
  const std::string nested = R"({"a":[],"b":{},"c":[[1,{"d":-0.5}],"x"],"e":""})";
  auto events = scan_push_request(
      body_of({kValid, with(kValid, "\"P1\"", "\"P2\""), with(kValid, data, nested)}), rules);
  REQUIRE(events.has_value());
  REQUIRE(check.events.size() == 3);
  CHECK(check.events[0] == kValid);
  using K = JsonToken::Kind;
  auto line = [](K k, const std::string& text) {
    return std::to_string(static_cast<int>(k)) + " " + text + "\n";
  };
  const std::string head =
      line(K::kStartObject, "0") + line(K::kKey, "eventId") +
      line(K::kString, "6f1c2a34-1111-4aaa-8bbb-000000000001") + line(K::kKey, "eventType") +
      line(K::kString, "ProductPriceUpdate") + line(K::kKey, "productId") +
      line(K::kString, "P1") + line(K::kKey, "region") + line(K::kString, "EU") +
      line(K::kKey, "createdAt") + line(K::kString, "2024-07-26T14:41:17.123Z") +
      line(K::kKey, "data");
  const std::string first =
      head + line(K::kStartObject, "0") + line(K::kKey, "newPrice") + line(K::kNumber, "7.31") +
      line(K::kKey, "previousPrice") + line(K::kNumber, "2") + line(K::kKey, "tags") +
      line(K::kStartArray, "0") + line(K::kString, "a") + line(K::kTrue, "0") +
      line(K::kNull, "0") + line(K::kFalse, "0") + line(K::kEndArray, "4") +
      line(K::kKey, "n") + line(K::kNumber, "-1.25e-7") + line(K::kEndObject, "4") +
      line(K::kEndObject, "6");
  CHECK(check.seen[0] == first);
  CHECK(check.seen[1] == with(first, line(K::kString, "P1"), line(K::kString, "P2")));
  CHECK(check.seen[2] ==
        head + line(K::kStartObject, "0") + line(K::kKey, "a") + line(K::kStartArray, "0") +
            line(K::kEndArray, "0") + line(K::kKey, "b") + line(K::kStartObject, "0") +
            line(K::kEndObject, "0") + line(K::kKey, "c") + line(K::kStartArray, "0") +
            line(K::kStartArray, "0") + line(K::kNumber, "1") + line(K::kStartObject, "0") +
            line(K::kKey, "d") + line(K::kNumber, "-0.5") + line(K::kEndObject, "1") +
            line(K::kEndArray, "2") + line(K::kString, "x") + line(K::kEndArray, "2") +
            line(K::kKey, "e") + line(K::kString, "") + line(K::kEndObject, "4") +
            line(K::kEndObject, "6"));
}

// pemx.toml's router as the check: the scan (its tokens) and the DOM path (the text, all
// checks) refuse and accept the same events.
TEST_CASE("push scan: with pemx.toml's router, the fast path's check from the scan's events "
          "answers as the DOM path's from the text",
          "[unit][http][push_scan]") {
  auto loaded = test::load(std::string(test::kPemxToml));
  REQUIRE(loaded.config);
  auto check = loaded.config->stage("router")->spec->event_check();
  REQUIRE(check);
  PushRules rules;
  rules.check = check.get();
  sim::EventGenerator gen;
  std::vector<std::string> events;
  for (int i = 0; i < 200; ++i) events.push_back(gen.next().json);
  check_same_as_dom(body_of(events), rules);
  CHECK(scan_push_request(body_of(events), rules).has_value());
  // Each way the router refuses, alone in a body and among valid events.
  const std::string country =
      R"({"eventId":"6f1c2a34-1111-4aaa-8bbb-000000000001","eventType":"Country","productId":"P1","region":"EU","createdAt":"2024-07-26T14:41:17.123Z","data":{"country":"SE"}})";
  for (const std::string& refused :
       {with(country, "\"SE\"", "\"a b\""),           // illegal_topic
        with(country, "\"SE\"", "1.5"),                 // missing_placeholder (not an integer)
        with(country, "\"SE\"", "[\"SE\"]"),          // missing_placeholder (an array)
        with(country, "\"Country\"", "\"Nope\""),     // unknown type or no rule
        with(country, "\"SE\"", "12345678901234567890123"),  // a double, not an integer
        with(country, "{\"country\":\"SE\"}", "{\"country\":{\"a\":[1,{}]}}")}) {
    INFO(refused);
    check_same_as_dom(body_of({refused}), rules);
    check_same_as_dom(body_of({country, refused, country}), rules);
  }
  for (const std::string& routed : {with(country, "\"SE\"", "12"),  // an integer renders
                                    with(country, "\"SE\"", "null"),  // the default
                                    with(country, "\"SE\"", "\"\"")}) {
    INFO(routed);
    check_same_as_dom(body_of({routed}), rules);
    CHECK(scan_push_request(body_of({routed}), rules).has_value());
  }
}

TEST_CASE("push scan: the router's check is asked about each event's bytes as produced",
          "[unit][http][push_scan]") {
  RefuseMarked check;
  PushRules rules;
  rules.check = &check;
  const std::string body = body_of({kValid, with(kValid, "\"P1\"", "\"P2\"")});
  auto events = scan_push_request(body, rules);
  REQUIRE(events.has_value());
  REQUIRE(check.asked.size() == 2);
  CHECK(check.asked[0] == kValid);
  const std::string refused = body_of({kValid, with(kValid, "ProductPriceUpdate", "refuse")});
  CHECK_FALSE(scan_push_request(refused, rules).has_value());
  check_same_as_dom(refused, rules);
}

TEST_CASE("push scan: with schemas, the fast path and the DOM path give the same verdict",
          "[unit][http][push_scan][schema]") {
  std::vector<std::string> errors;
  PushRules rules;
  rules.schemas = event::SchemaSet::compile(
      {{"ProductPriceUpdate", "price.json",
        R"({"properties": {"data": {"type": "object", "required": ["newPrice"],
            "properties": {"newPrice": {"type": "number", "minimum": 0},
                           "tags": {"type": "array",
                                    "items": {"type": ["string", "boolean", "null"]}},
                           "n": {"type": "number", "maximum": 0}}}}})"}},
      errors);
  REQUIRE(errors.empty());
  // Valid: decided by the fast path, sliced as sent.
  const std::string body = body_of({kValid, with(kValid, "\"P1\"", "\"P2\"")});
  auto fast = scan_push_request(body, rules);
  REQUIRE(fast.has_value());
  CHECK(fast->at(0).value == kValid);
  check_same_as_dom(body, rules);
  // Failing: the fast path leaves it to the DOM path, which names the pointer.
  for (const auto& bad : {with(kValid, "7.31", "-7.31"), with(kValid, "\"newPrice\":7.31,", ""),
                          with(kValid, "\"a\",true", "\"a\",1"), with(kValid, "-1.25e-7", "2"),
                          with(kValid, "7.31", "-7.30")}) {
    const std::string b = body_of({kValid, bad});
    CHECK_FALSE(scan_push_request(b, rules).has_value());
    check_same_as_dom(b, rules);
    auto a = std::get<Answer>(parse_push_request(b, rules));
    CHECK_THAT(a.body, Catch::Matchers::Contains(R"("pointer":"/events/1/data/)"));
  }
  // A type without a schema, and the rewritten form ("1.0" produced as 1), still pass.
  check_same_as_dom(body_of({with(kValid, "ProductPriceUpdate", "Country")}), rules);
  check_same_as_dom(body_of({with(kValid, "7.31", "1.0")}), rules);
  CHECK(scan_push_request(body_of({with(kValid, "7.31", "1.0")}), rules).has_value());
  // Many generated events of every type, with and without the schema applying.
  sim::EventGenerator gen;
  std::vector<std::string> events;
  for (int i = 0; i < 200; ++i) events.push_back(gen.next().json);
  check_same_as_dom(body_of(events), rules);
}
