// The routing core: TopicTemplate::parse, check_routing and Router::route (event bytes ->
// topics or a dead-letter reason). The reference routing is checked here on hand-built
// rules, and through pemx.toml's rules in tests/plugins/rules_router/config_test.cpp.
#include "rules_router/routing.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace pemx::rules_router {
namespace {

using Topics = std::vector<std::string>;
using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;

constexpr const char* kStorageTopic = "product-event-storage-pemx";

Rule make_rule(std::string name, std::vector<Condition> when, std::string_view topic) {
  Rule rule;
  rule.name = std::move(name);
  rule.when = std::move(when);
  auto error = TopicTemplate::parse(topic, rule.topic);
  REQUIRE_FALSE(error);
  return rule;
}

Condition type_is(std::string type) {
  return {Condition::Kind::kEquals, "eventType", {std::move(type)}};
}

// The rules of pemx.toml, which reproduce the reference's routing.
RoutingConfig reference_config() {
  RoutingConfig config;
  config.event_types = {"ProductPriceUpdate", "Country", "SpecificProductDiscountUpdate"};
  config.rules.push_back(make_rule("price-update", {type_is("ProductPriceUpdate")},
                                   "product-price-update-v1-{region}"));
  Rule country = make_rule("country", {type_is("Country")}, "country-{data.country}");
  country.defaults["data.country"] = "US";
  config.rules.push_back(country);
  config.rules.push_back(make_rule("discount-update", {type_is("SpecificProductDiscountUpdate")},
                                   "specific-product-discount-update-{region}"));
  config.rules.push_back(make_rule("storage", {}, kStorageTopic));
  return config;
}

// A valid reference event; `data` is the JSON text of its data member ("" for none).
std::string event(const std::string& type, const std::string& region, const std::string& data,
                  const std::string& product = "AB12CD34EF") {
  std::string json = R"({"eventId":"3b241101-e2bb-4255-8caf-4136c566a962","eventType":")" +
                     type + R"(","productId":")" + product + R"(","region":")" + region +
                     R"(","createdAt":"2024-07-26T14:41:17.123Z")";
  if (!data.empty()) json += R"(,"data":)" + data;
  return json + "}";
}

// --- TopicTemplate ---------------------------------------------------------------------

TEST_CASE("a template splits into literal and placeholder pieces", "[unit][routing]") {
  TopicTemplate t;
  REQUIRE_FALSE(TopicTemplate::parse("country-{data.country}", t));
  CHECK(t.source == "country-{data.country}");
  REQUIRE(t.pieces.size() == 2);
  CHECK_FALSE(t.pieces[0].placeholder);
  CHECK(t.pieces[0].text == "country-");
  CHECK(t.pieces[1].placeholder);
  CHECK(t.pieces[1].text == "data.country");
  CHECK(t.placeholders() == std::vector<std::string>{"data.country"});
}

TEST_CASE("a template may hold several placeholders, or none", "[unit][routing]") {
  TopicTemplate t;
  REQUIRE_FALSE(TopicTemplate::parse("{region}.events-{data.country}-v1", t));
  REQUIRE(t.pieces.size() == 4);
  CHECK(t.pieces[0].placeholder);
  CHECK(t.pieces[1].text == ".events-");
  CHECK(t.pieces[3].text == "-v1");
  CHECK(t.placeholders() == std::vector<std::string>{"region", "data.country"});

  REQUIRE_FALSE(TopicTemplate::parse(kStorageTopic, t));
  REQUIRE(t.pieces.size() == 1);
  CHECK(t.pieces[0].text == kStorageTopic);
  CHECK(t.placeholders().empty());
}

TEST_CASE("malformed templates are refused with the reason", "[unit][routing]") {
  TopicTemplate t;
  CHECK(TopicTemplate::parse("country-{data.country", t) == "unclosed '{' at position 8");
  CHECK(TopicTemplate::parse("country-data.country}", t) == "unbalanced '}' at position 20");
  CHECK(TopicTemplate::parse("country-{}", t) == "empty placeholder {} at position 8");
  CHECK(TopicTemplate::parse("a-{b{c}", t) == "nested '{' in a placeholder");
  CHECK(TopicTemplate::parse("a-{b}}", t) == "unbalanced '}' at position 5");
  CHECK(TopicTemplate::parse("a-{.b}", t) == "placeholder {.b} is not a dotted field path");
  CHECK(TopicTemplate::parse("a-{b.}", t) == "placeholder {b.} is not a dotted field path");
  CHECK(TopicTemplate::parse("a-{b..c}", t) == "placeholder {b..c} is not a dotted field path");
  CHECK(TopicTemplate::parse("", t) == "topic is empty");
}

// --- check_routing ----------------------------------------------------------------------

TEST_CASE("the reference rules have no problem", "[unit][routing]") {
  CHECK(check_routing(reference_config()).empty());
}

TEST_CASE("check_routing finds rules that cannot work", "[unit][routing]") {
  RoutingConfig config = reference_config();
  Rule& price = config.rules[0];
  Rule& country = config.rules[1];
  Rule& storage = config.rules[3];
  std::vector<std::string> expected;

  SECTION("no rules at all") {
    config.rules.clear();
    expected = {"no rules: every event would be dead-lettered"};
  }
  SECTION("a default for something that is not a placeholder") {
    storage.defaults["region"] = "US";
    expected = {"rule \"storage\": default for \"region\", which is not a placeholder of "
                "\"product-event-storage-pemx\""};
  }
  SECTION("allowed values for something that is not a placeholder") {
    storage.allowed["region"] = {"US"};
    expected = {"rule \"storage\": allowed values for \"region\", which is not a placeholder "
                "of \"product-event-storage-pemx\""};
  }
  SECTION("an empty allowed list") {
    price.allowed["region"] = {};
    expected = {"rule \"price-update\": allowed values for \"region\" are empty"};
  }
  SECTION("a default that is not among the allowed values") {
    country.allowed["data.country"] = {"UnitedStates", "Sweden"};
    expected = {"rule \"country\": default \"US\" for \"data.country\" is not among its "
                "allowed values"};
  }
  SECTION("a rule on an eventType that is not declared") {
    config.event_types = {"ProductPriceUpdate", "Country"};
    expected = {"rule \"discount-update\": can never match: eventType "
                "SpecificProductDiscountUpdate is not in event_types"};
  }
  SECTION("literal text that no value can make legal") {
    REQUIRE_FALSE(TopicTemplate::parse("price update-{region}", price.topic));
    expected = {"rule \"price-update\": topic \"price update-{region}\" can never be legal: "
                "topic name contains ' '; only letters, digits, '.', '_' and '-' are allowed"};
  }
  CHECK(check_routing(config) == expected);
}

TEST_CASE("check_routing accepts what can work", "[unit][routing]") {
  RoutingConfig config = reference_config();
  SECTION("a default among the allowed values") {
    config.rules[1].allowed["data.country"] = {"US", "UnitedStates", "Sweden"};
  }
  SECTION("an eventType condition listing at least one declared type") {
    config.rules[0].when = {
        {Condition::Kind::kIn, "eventType", {"Undeclared", "ProductPriceUpdate"}}};
  }
  SECTION("any eventType when none is declared") {
    config.event_types.clear();
    config.rules[0].when = {type_is("AnythingAtAll")};
  }
  SECTION("a template made of one placeholder") {
    REQUIRE_FALSE(TopicTemplate::parse("{region}", config.rules[0].topic));
  }
  CHECK(check_routing(config).empty());
}

TEST_CASE("check_routing reports an eventType condition without values",
          "[unit][routing]") {
  // pemx.toml refuses an empty `in` list before check_routing runs, but check_routing itself
  // reads values.front() of it. A child process runs it, so a crash fails only this test.
  RoutingConfig config = reference_config();
  config.rules.push_back(
      make_rule("empty-in", {{Condition::Kind::kIn, "eventType", {}}}, "never"));
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // A crash must end the child quietly, not run Catch's fatal-signal reporter there.
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) std::signal(sig, SIG_DFL);
    _exit(check_routing(config).empty() ? 1 : 0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  INFO("the child was killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);  // 1: no problem reported
}

// --- Router::route: the reference routing ----------------------------------------------

TEST_CASE("the reference routing: ProductPriceUpdate", "[unit][routing]") {
  Router router(reference_config());
  Decision d = router.route(event("ProductPriceUpdate", "EU", R"({"newPrice":7.31})"));
  CHECK_FALSE(d.dead_letter());
  CHECK(d.topics == Topics{"product-price-update-v1-EU", kStorageTopic});
  CHECK(d.key == "AB12CD34EF");
  CHECK(d.event_id == "3b241101-e2bb-4255-8caf-4136c566a962");
  CHECK(d.event_type == "ProductPriceUpdate");
  CHECK(d.reason.empty());
}

TEST_CASE("the reference routing: Country", "[unit][routing]") {
  Router router(reference_config());
  auto topics_for = [&](const std::string& data) {
    Decision d = router.route(event("Country", "US", data));
    CHECK_FALSE(d.dead_letter());
    CHECK(d.key == "AB12CD34EF");
    return d.topics;
  };
  CHECK(topics_for(R"({"country":"UnitedStates","region":"US"})") ==
        Topics{"country-UnitedStates", kStorageTopic});
  CHECK(topics_for(R"({"country":"Sweden","region":"EU"})") ==
        Topics{"country-Sweden", kStorageTopic});
  // The reference's fallback: "US" when data.country is missing or empty.
  CHECK(topics_for(R"({"region":"EU"})") == Topics{"country-US", kStorageTopic});
  CHECK(topics_for(R"({"country":"","region":"EU"})") == Topics{"country-US", kStorageTopic});
  CHECK(topics_for(R"({"country":null})") == Topics{"country-US", kStorageTopic});
  CHECK(topics_for("") == Topics{"country-US", kStorageTopic});  // no data at all
}

TEST_CASE("a placeholder field of the wrong type is dead-lettered, not defaulted",
          "[unit][routing]") {
  // The default stands in for an absent value only: data.country = true is not "US".
  Router router(reference_config());
  for (std::string value : {"true", "false", "1.5", R"({"a":1})", R"(["SE"])"}) {
    INFO(value);
    Decision d = router.route(event("Country", "US", R"({"country":)" + value + "}"));
    CHECK(d.reason == kMissingPlaceholder);
    CHECK(d.field == "data.country");
    CHECK_THAT(d.detail, Catch::Contains("is not a non-empty string or integer: " + value));
    CHECK(d.topics.empty());
  }
  CHECK(router.route(event("Country", "US", R"({"country":7})")).topics ==
        Topics{"country-7", kStorageTopic});  // an integer renders, as in the reference
}

TEST_CASE("the reference routing: SpecificProductDiscountUpdate", "[unit][routing]") {
  Router router(reference_config());
  Decision d = router.route(event("SpecificProductDiscountUpdate", "US",
                                  R"({"newDiscountPercentage":40,"previousDiscountPercentage":15})",
                                  "ZZ99YY88XX"));
  CHECK_FALSE(d.dead_letter());
  CHECK(d.topics == Topics{"specific-product-discount-update-US", kStorageTopic});
  CHECK(d.key == "ZZ99YY88XX");
}

TEST_CASE("routing is per event: the same router gives each event its own topics",
          "[unit][routing]") {
  Router router(reference_config());
  Decision d;
  router.route(event("Country", "US", R"({"country":"Sweden"})"), d);
  CHECK(d.topics == Topics{"country-Sweden", kStorageTopic});
  router.route(R"({"not":"an event"})", d);
  CHECK(d.dead_letter());
  CHECK(d.topics.empty());
  CHECK(d.key.empty());
  CHECK(d.event_id.empty());
  router.route(event("ProductPriceUpdate", "US", "", "PRODUCT002"), d);
  CHECK_FALSE(d.dead_letter());
  CHECK(d.detail.empty());
  CHECK(d.topics == Topics{"product-price-update-v1-US", kStorageTopic});
  CHECK(d.key == "PRODUCT002");
}

// --- Router::route: dead letters ---------------------------------------------------------

TEST_CASE("unparsable JSON is dead-lettered as invalid_json", "[unit][routing]") {
  Router router(reference_config());
  for (const char* value : {"", "{", "not json", "[]", "\"Country\"", "{\"a\":1} trailing"}) {
    CAPTURE(value);
    Decision d = router.route(value);
    CHECK(d.reason == kInvalidJson);
    CHECK(d.topics.empty());
    CHECK_FALSE(d.detail.empty());
  }
}

TEST_CASE("a value nested 400,000 levels deep is nesting_too_deep, not a crash",
          "[unit][routing]") {
  // The recursive parse this replaced overflowed the stack. A child process routes it, so a
  // crash fails only this test. (400,000 levels: within the default 900,000 bytes per event.)
  const std::string deep = std::string(400'000, '[') + std::string(400'000, ']');
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) std::signal(sig, SIG_DFL);
    Router router(reference_config());
    Decision d = router.route(event("Country", "US", R"({"country":"US","x":)" + deep + "}"));
    _exit(d.reason == kTooDeep && d.topics.empty() ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  INFO("the child was killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  Router router(reference_config());
  Decision d = router.route(event("Country", "US", R"({"x":)" + deep.substr(0, 399'000) + "}"));
  CHECK(d.reason == kTooDeep);
  CHECK_THAT(d.detail, Contains("nested deeper than 64 levels"));
  CHECK(d.event_id.empty());  // nothing of a refused parse is trusted
  // The next event is routed as usual: the parse arena is reused.
  CHECK(router.route(event("Country", "US", R"({"country":"SE"})")).topics ==
        Topics{"country-SE", kStorageTopic});
}

TEST_CASE("the nesting and size limits come from the config", "[unit][routing]") {
  RoutingConfig config = reference_config();
  config.limits = {4, 300};
  Router router(config);
  // The event object is level 1, data 2, so data may hold two more levels.
  CHECK_FALSE(router.route(event("Country", "US", R"({"a":[{"b":1}]})")).dead_letter());
  CHECK(router.route(event("Country", "US", R"({"a":[{"b":[]}]})")).reason == kTooDeep);
  Decision d = router.route(event("Country", "US", "{\"a\":\"" + std::string(200, 'x') + "\"}"));
  CHECK(d.reason == kTooLarge);
  CHECK_THAT(d.detail, Contains("at most 300"));
}

TEST_CASE("an event whose routed message would be too large is event_too_large",
          "[unit][routing]") {
  // The output carries the event, its key (productId) and its type and id as headers: a
  // large productId doubles the message, so the event's own size is not enough to check.
  RoutingConfig config = reference_config();
  std::string product(300, 'P');
  std::string e = event("Country", "US", "{}", product);
  config.limits.max_bytes = e.size() + 200;
  Router router(config);
  Decision d = router.route(e);
  CHECK(d.reason == kTooLarge);
  CHECK_THAT(d.detail, Contains("each routed message would be"));
  CHECK(d.topics.empty());
  config.limits.max_bytes = e.size() + product.size() + 7 + 36;  // value, key, type, id
  CHECK_FALSE(Router(config).route(e).dead_letter());
}

TEST_CASE("report mode routes an event with a 600 KB eventId: the id is no header, so the "
          "message is not doubled", "[unit][routing]") {
  RoutingConfig config = reference_config();
  REQUIRE(config.validation == event::ValidationMode::kReport);
  std::string e = event("Country", "US", "{}");
  e.replace(e.find("\"eventId\":\"") + 11, 36, std::string(600'000, 'i'));
  REQUIRE(e.size() < config.limits.max_bytes);
  REQUIRE(e.size() * 2 > config.limits.max_bytes);
  Decision d = Router(config).route(e);
  CHECK_FALSE(d.dead_letter());
  CHECK(d.event_id.size() == 600'000);
  CHECK_FALSE(fits_id_header(d.event_id));
  CHECK(fits_id_header(std::string(36, 'a')));
}

TEST_CASE("an event with a duplicate key is duplicate_key, at any level", "[unit][routing]") {
  Router router(reference_config());
  // RapidJSON finds the first "eventType", JSON.parse keeps the last: refused either way.
  std::string twice = event("Country", "US", R"({"country":"SE"})");
  twice.insert(1, R"("eventType":"ProductPriceUpdate",)");
  Decision d = router.route(twice);
  CHECK(d.reason == kDuplicateKey);
  CHECK(d.detail == R"(duplicate key "eventType" at the top level)");
  CHECK(d.topics.empty());

  d = router.route(event("Country", "US", R"({"country":"SE","country":"US"})"));
  CHECK(d.reason == kDuplicateKey);
  CHECK(d.detail == R"(duplicate key "country" in data)");
}

RoutingConfig strict_config() {
  RoutingConfig config = reference_config();
  config.validation = event::ValidationMode::kStrict;
  return config;
}

TEST_CASE("a refusal names the event field at fault", "[unit][routing]") {
  Router router(strict_config());
  CHECK(router.route(event("InventoryUpdate", "US", "{}")).field == "eventType");
  CHECK(router.route(event("ProductPriceUpdate", "US/EU", "{}")).field == "region");
  CHECK(router.route(event("Country", "US", R"({"country":"New Zealand"})")).field ==
        "data.country");
  Decision d = router.route(event("Country", "", "{}"));
  CHECK(d.reason == kInvalidEvent);
  CHECK(d.field == "region");
  CHECK(router.route(event("Country", "US", "{}")).field.empty());  // routed
}

TEST_CASE("strict: an event failing the reference's field rules is invalid_event",
          "[unit][routing]") {
  Router router(strict_config());
  Decision d = router.route(
      R"({"eventId":"nope","eventType":"Country","productId":"P1","region":"",)"
      R"("createdAt":"2024-07-26T14:41:17Z"})");
  CHECK(d.reason == kInvalidEvent);
  CHECK(d.topics.empty());
  CHECK(d.detail == "eventId: Event ID must be a valid UUID; region: Region is required");
  // What could be read is still reported, for the dead-letter headers.
  CHECK(d.event_id == "nope");
  CHECK(d.event_type == "Country");
  CHECK(d.key == "P1");
}

TEST_CASE("with validation off, incomplete events are routed and nothing is reported",
          "[unit][routing]") {
  RoutingConfig config = reference_config();
  config.validation = event::ValidationMode::kOff;
  Router router(config);
  Decision d = router.route(R"({"eventType":"Country","data":{"country":"Sweden"}})");
  CHECK_FALSE(d.dead_letter());
  CHECK(d.topics == Topics{"country-Sweden", kStorageTopic});
  CHECK(d.key.empty());
  CHECK(d.invalid.empty());
}

// The events the reference routed although its push would refuse them (reference-behaviour.md,
// "The Kafka path, measured").
struct LaxCase {
  const char* name;
  std::string value;
  Topics topics;
  std::vector<std::string> invalid;
};
std::vector<LaxCase> lax_cases() {
  const std::string id = R"("eventId":"3b241101-e2bb-4255-8caf-4136c566a962")";
  const std::string at = R"("createdAt":"2024-07-26T14:41:17.123Z")";
  return {
      {"non-UUID eventId",
       R"({"eventId":"evt-42","eventType":"ProductPriceUpdate","productId":"P1","region":"US",)" +
           at + "}",
       {"product-price-update-v1-US", kStorageTopic},
       {"eventId"}},
      {"non-ISO createdAt",
       "{" + id +
           R"(,"eventType":"SpecificProductDiscountUpdate","productId":"P1","region":"EU",)"
           R"("createdAt":"26/07/2024 14:41"})",
       {"specific-product-discount-update-EU", kStorageTopic},
       {"createdAt"}},
      {"empty productId",
       "{" + id + R"(,"eventType":"Country","productId":"","region":"EU",)" + at +
           R"(,"data":{"country":"Sweden"}})",
       {"country-Sweden", kStorageTopic},
       {"productId"}},
      {"Country without region",
       "{" + id + R"(,"eventType":"Country","productId":"P1",)" + at + R"(,"data":{}})",
       {"country-US", kStorageTopic},
       {"region"}},
      {"several at once",
       R"({"eventId":"x","eventType":"Country","productId":"","createdAt":"soon"})",
       {"country-US", kStorageTopic},
       {"eventId", "productId", "region", "createdAt"}},
  };
}

TEST_CASE("report (the default): events failing the field rules are routed, the rules named",
          "[unit][routing]") {
  CHECK(RoutingConfig{}.validation == event::ValidationMode::kReport);
  Router router(reference_config());
  for (const auto& c : lax_cases()) {
    CAPTURE(c.name);
    Decision d = router.route(c.value);
    CHECK_FALSE(d.dead_letter());
    CHECK(d.topics == c.topics);
    CHECK(d.invalid == c.invalid);
  }
  // A valid event after them reports nothing (the decision is reused).
  Decision d;
  router.route(lax_cases()[0].value, d);
  router.route(event("Country", "US", "{}"), d);
  CHECK(d.invalid.empty());
}

TEST_CASE("strict: each of those events is dead-lettered as invalid_event", "[unit][routing]") {
  Router router(strict_config());
  for (const auto& c : lax_cases()) {
    CAPTURE(c.name);
    Decision d = router.route(c.value);
    CHECK(d.reason == kInvalidEvent);
    CHECK(d.topics.empty());
    CHECK(d.field == c.invalid.front());
  }
}

TEST_CASE("in every mode, what the reference could not route is dead-lettered",
          "[unit][routing]") {
  for (auto mode : {event::ValidationMode::kReport, event::ValidationMode::kStrict,
                    event::ValidationMode::kOff}) {
    CAPTURE(event::validation_mode_name(mode));
    RoutingConfig config = reference_config();
    config.validation = mode;
    Router router(config);
    CHECK(router.route(event("Mystery", "US", "{}")).reason == kUnknownEventType);
    // No eventType: in strict mode its field rule is met first.
    CHECK(router.route(R"({"eventId":"x","productId":"P1"})").reason ==
          (mode == event::ValidationMode::kStrict ? kInvalidEvent : kUnknownEventType));
    CHECK(router.route("not json").reason == kInvalidJson);
    CHECK(router.route(event("Country", "US", R"({"country":"a b"})")).reason == kIllegalTopic);
    // A price event without region: the reference wrote to "...-undefined"; PEMX cannot
    // render the topic. In strict mode the missing region is found first.
    Decision price = router.route(
        R"({"eventId":"3b241101-e2bb-4255-8caf-4136c566a962","eventType":"ProductPriceUpdate",)"
        R"("productId":"P1","createdAt":"2024-07-26T14:41:17Z"})");
    CHECK(price.reason ==
          (mode == event::ValidationMode::kStrict ? kInvalidEvent : kMissingPlaceholder));
  }
}

TEST_CASE("an undeclared eventType is unknown_event_type", "[unit][routing]") {
  Router router(reference_config());
  Decision d = router.route(event("InventoryUpdate", "US", "{}"));
  CHECK(d.reason == kUnknownEventType);
  CHECK(d.topics.empty());
  CHECK(d.detail == "eventType \"InventoryUpdate\" is not declared in event_types");
  CHECK(d.event_type == "InventoryUpdate");
}

TEST_CASE("without declared types, any type is routed by the rules", "[unit][routing]") {
  RoutingConfig config = reference_config();
  config.event_types.clear();
  Router router(config);
  Decision d = router.route(event("InventoryUpdate", "US", "{}"));
  CHECK_FALSE(d.dead_letter());
  CHECK(d.topics == Topics{kStorageTopic});
}

TEST_CASE("an event no rule matches is no_matching_rule", "[unit][routing]") {
  RoutingConfig config = reference_config();
  config.rules.pop_back();  // no catch-all storage rule
  config.event_types.push_back("InventoryUpdate");
  Router router(config);
  Decision d = router.route(event("InventoryUpdate", "US", "{}"));
  CHECK(d.reason == kNoMatchingRule);
  CHECK(d.topics.empty());
  CHECK(d.key == "AB12CD34EF");
}

TEST_CASE("a placeholder without value or default is missing_placeholder", "[unit][routing]") {
  RoutingConfig config = reference_config();
  config.rules[1].defaults.clear();  // country rule without its "US" fallback
  Router router(config);

  Decision d = router.route(event("Country", "US", R"({"region":"US"})"));
  CHECK(d.reason == kMissingPlaceholder);
  CHECK(d.detail == "rule \"country\": {data.country} is missing");
  CHECK(d.topics.empty());  // not even the storage topic: dead-lettered whole

  d = router.route(event("Country", "US", R"({"country":{"name":"Sweden"}})"));
  CHECK(d.reason == kMissingPlaceholder);
  CHECK(d.detail == "rule \"country\": {data.country} is not a non-empty string or integer: "
                    "{\"name\":\"Sweden\"}");
}

TEST_CASE("integer values render in decimal", "[unit][routing]") {
  Router router(reference_config());
  Decision d = router.route(event("Country", "US", R"({"country":42})"));
  CHECK_FALSE(d.dead_letter());
  CHECK(d.topics == Topics{"country-42", kStorageTopic});
}

TEST_CASE("a rendered topic that is not a legal name is illegal_topic", "[unit][routing]") {
  Router router(reference_config());
  auto d = router.route(event("Country", "US", R"({"country":"United States"})"));
  CHECK(d.reason == kIllegalTopic);
  CHECK(d.topics.empty());  // the storage rule matched too, yet nothing is delivered
  CHECK(d.detail == "rule \"country\": \"country-United States\": topic name contains ' '; "
                    "only letters, digits, '.', '_' and '-' are allowed");

  d = router.route(event("ProductPriceUpdate", "US/EU", "{}"));
  CHECK(d.reason == kIllegalTopic);

  d = router.route(event("Country", "US", "{\"country\":\"" + std::string(300, 'x') + "\"}"));
  CHECK(d.reason == kIllegalTopic);
  CHECK_THAT(d.detail, Contains("the limit is 249"));
}

TEST_CASE("a dead letter is listed under the event's productId, also without a message key",
          "[unit][routing]") {
  Router router(reference_config());
  // illegal_topic: the rules ran after the key field was read.
  Decision d = router.route(event("Country", "US", R"({"country":"New Zealand"})"));
  REQUIRE(d.reason == kIllegalTopic);
  CHECK(dead_letter_product_id(d, "") == "AB12CD34EF");  // a keyless message
  CHECK(dead_letter_product_id(d, "other-key") == "AB12CD34EF");  // the event's, not the key's
  // Not JSON: no fields to read; the message key is all there is.
  Decision bad = router.route("not json");
  REQUIRE(bad.reason == kInvalidJson);
  CHECK(dead_letter_product_id(bad, "K1") == "K1");
  CHECK(dead_letter_product_id(bad, "").empty());
}

TEST_CASE("an event field cannot make PEMX write to a Kafka-internal topic", "[unit][routing]") {
  RoutingConfig config = reference_config();
  REQUIRE_FALSE(TopicTemplate::parse("{region}", config.rules[0].topic));
  Router router(config);
  Decision d = router.route(event("ProductPriceUpdate", "__consumer_offsets", "{}"));
  CHECK(d.reason == kIllegalTopic);
  CHECK(d.topics.empty());
}

TEST_CASE("a value outside the allowed ones is topic_not_allowed", "[unit][routing]") {
  RoutingConfig config = reference_config();
  config.rules[0].allowed["region"] = {"US", "EU"};
  Router router(config);

  Decision ok = router.route(event("ProductPriceUpdate", "EU", "{}"));
  CHECK(ok.topics == Topics{"product-price-update-v1-EU", kStorageTopic});

  Decision refused = router.route(event("ProductPriceUpdate", "APAC", "{}"));
  CHECK(refused.reason == kTopicNotAllowed);
  CHECK(refused.topics.empty());
  CHECK(refused.detail == "rule \"price-update\": {region} = \"APAC\" is not an allowed value");
}

TEST_CASE("a default value is checked against the allowed values too", "[unit][routing]") {
  RoutingConfig config = reference_config();
  config.rules[1].defaults["data.country"] = "Atlantis";
  config.rules[1].allowed["data.country"] = {"UnitedStates", "Sweden"};
  Router router(config);
  CHECK(router.route(event("Country", "US", "{}")).reason == kTopicNotAllowed);
  CHECK(router.route(event("Country", "US", R"({"country":"Sweden"})")).topics ==
        Topics{"country-Sweden", kStorageTopic});
}

// --- Router::route: conditions, order, keys ----------------------------------------------

TEST_CASE("topics follow rule order and appear once", "[unit][routing]") {
  RoutingConfig config = reference_config();
  config.rules.insert(config.rules.begin(), make_rule("audit", {}, "audit-{region}"));
  config.rules.push_back(make_rule("storage-again", {}, kStorageTopic));
  config.rules.push_back(
      make_rule("same-as-price", {type_is("ProductPriceUpdate")}, "audit-{region}"));
  Router router(config);
  Decision d = router.route(event("ProductPriceUpdate", "US", "{}"));
  CHECK(d.topics == Topics{"audit-US", "product-price-update-v1-US", kStorageTopic});
}

TEST_CASE("conditions: in, exists, absent, and all of several", "[unit][routing]") {
  RoutingConfig config;
  config.rules.push_back(make_rule(
      "in", {{Condition::Kind::kIn, "region", {"US", "CA"}}}, "americas"));
  config.rules.push_back(make_rule(
      "exists", {{Condition::Kind::kExists, "data.country", {}}}, "has-country"));
  config.rules.push_back(make_rule(
      "absent", {{Condition::Kind::kAbsent, "data.country", {}}}, "no-country"));
  config.rules.push_back(make_rule(
      "both", {type_is("Country"), {Condition::Kind::kEquals, "data.country", {"Sweden"}}},
      "swedish-country"));
  config.rules.push_back(make_rule(
      "numeric", {{Condition::Kind::kEquals, "data.level", {"3"}}}, "level-three"));
  Router router(config);

  CHECK(router.route(event("Country", "US", R"({"country":"Sweden"})")).topics ==
        Topics{"americas", "has-country", "swedish-country"});
  CHECK(router.route(event("Country", "EU", R"({"country":"Sweden"})")).topics ==
        Topics{"has-country", "swedish-country"});
  CHECK(router.route(event("ProductPriceUpdate", "EU", R"({"country":"Sweden"})")).topics ==
        Topics{"has-country"});
  CHECK(router.route(event("Country", "CA", R"({"country":null})")).topics ==
        Topics{"americas", "no-country"});  // null counts as absent
  CHECK(router.route(event("Country", "EU", R"({"level":3})")).topics ==
        Topics{"no-country", "level-three"});
  CHECK(router.route(event("Country", "EU", R"({"level":3.0})")).topics ==
        Topics{"no-country"});  // a float never equals a text
}

TEST_CASE("the output key comes from key_field", "[unit][routing]") {
  RoutingConfig config = reference_config();
  config.key_field = "data.sku";
  Router router(config);
  CHECK(router.route(event("ProductPriceUpdate", "US", R"({"sku":"SKU-1"})")).key == "SKU-1");
  Decision no_key = router.route(event("ProductPriceUpdate", "US", "{}"));
  CHECK_FALSE(no_key.dead_letter());
  CHECK(no_key.key.empty());
}

// --- possible_topics (what the target check at start-up checks) -----------------------

TEST_CASE("fixed topics are possible topics, free placeholders are unchecked",
          "[unit][routing][targets]") {
  auto possible = possible_topics(reference_config());
  CHECK(possible.topics == Topics{kStorageTopic});
  // price-update and discount-update take {region}, country takes {data.country} (a default
  // does not bound it): none of them can be checked.
  REQUIRE(possible.unchecked.size() == 3);
  CHECK_THAT(possible.unchecked[0], Contains("rule \"price-update\"") && Contains("{region}"));
  CHECK_THAT(possible.unchecked[1], Contains("rule \"country\"") && Contains("{data.country}"));
}

TEST_CASE("a placeholder bounded by allowed values renders every value",
          "[unit][routing][targets]") {
  RoutingConfig config;
  Rule price = make_rule("price", {type_is("ProductPriceUpdate")}, "price-{region}-v1");
  price.allowed["region"] = {"US", "EU"};
  config.rules.push_back(price);
  config.rules.push_back(make_rule("storage", {}, kStorageTopic));
  auto possible = possible_topics(config);
  CHECK(possible.topics == Topics{"price-EU-v1", "price-US-v1", kStorageTopic});
  CHECK(possible.unchecked.empty());
}

TEST_CASE("several bounded placeholders render every combination, each name once",
          "[unit][routing][targets]") {
  RoutingConfig config;
  Rule r = make_rule("r", {}, "{region}.{data.kind}");
  r.allowed["region"] = {"US", "EU"};
  r.allowed["data.kind"] = {"a", "b", "c"};
  config.rules.push_back(r);
  Rule again = make_rule("again", {}, "US.{data.kind}");  // overlaps the first rule
  again.allowed["data.kind"] = {"a"};
  config.rules.push_back(again);
  auto possible = possible_topics(config);
  CHECK(possible.topics == Topics{"EU.a", "EU.b", "EU.c", "US.a", "US.b", "US.c"});
  CHECK(possible.unchecked.empty());
}

TEST_CASE("one bounded and one free placeholder: the rule cannot be checked",
          "[unit][routing][targets]") {
  RoutingConfig config;
  Rule r = make_rule("mixed", {}, "{region}-{productId}");
  r.allowed["region"] = {"US"};
  config.rules.push_back(r);
  auto possible = possible_topics(config);
  CHECK(possible.topics.empty());
  REQUIRE(possible.unchecked.size() == 1);
  CHECK_THAT(possible.unchecked[0],
             EndsWith("): {productId} taken from the event, no allowed values"));
}

TEST_CASE("an allowed value that makes an illegal name is not a target",
          "[unit][routing][targets]") {
  RoutingConfig config;
  Rule r = make_rule("r", {}, "t-{region}");
  r.allowed["region"] = {"US", "has space"};
  config.rules.push_back(r);
  CHECK(possible_topics(config).topics == Topics{"t-US"});
}

TEST_CASE("too many combinations of allowed values: the rule is unchecked, not rendered",
          "[unit][routing][targets]") {
  RoutingConfig config;
  Rule r = make_rule("big", {}, "{a}-{b}");
  r.allowed["a"] = {"1", "2", "3"};
  r.allowed["b"] = {"1", "2", "3"};
  config.rules.push_back(r);
  auto possible = possible_topics(config, 8);
  CHECK(possible.topics.empty());
  REQUIRE(possible.unchecked.size() == 1);
  CHECK_THAT(possible.unchecked[0], Contains("more combinations of allowed values than the 8"));
  CHECK(possible_topics(config, 9).topics.size() == 9);
}

TEST_CASE("the topics rendered from allowed values are bounded over all rules",
          "[unit][routing][targets]") {
  // 100 rules of 10,000 combinations each would be a million topics: only the first fits.
  RoutingConfig config;
  std::vector<std::string> values;
  for (int i = 0; i < 100; ++i) values.push_back("v" + std::to_string(i));
  for (int i = 0; i < 100; ++i) {
    Rule r = make_rule("r" + std::to_string(i), {}, "r" + std::to_string(i) + "-{a}-{b}");
    r.allowed["a"] = {values.begin(), values.end()};
    r.allowed["b"] = {values.begin(), values.end()};
    config.rules.push_back(r);
  }
  auto possible = possible_topics(config);
  CHECK(possible.topics.size() == kMaxRenderedTopics);
  REQUIRE(possible.unchecked.size() == 99);
  CHECK_THAT(possible.unchecked[0], Contains("rule \"r1\"") && Contains("0 topics left"));
  // Two rules of 3 and 6 within a budget of 9; a third of 1 no longer fits.
  RoutingConfig small;
  Rule a = make_rule("a", {}, "a-{x}");
  a.allowed["x"] = {"1", "2", "3"};
  Rule b = make_rule("b", {}, "b-{x}");
  b.allowed["x"] = {"1", "2", "3", "4", "5", "6"};
  Rule c = make_rule("c", {}, "c-{x}");
  c.allowed["x"] = {"1"};
  small.rules = {a, b, c};
  auto within = possible_topics(small, 9);
  CHECK(within.topics.size() == 9);
  REQUIRE(within.unchecked.size() == 1);
  CHECK_THAT(within.unchecked[0], Contains("rule \"c\""));
}

// --- schema_mode ---------------------------------------------------------------------------

std::shared_ptr<const event::SchemaSet> price_schemas() {
  std::vector<std::string> errors;
  auto set = event::SchemaSet::compile(
      {{"ProductPriceUpdate", "price.json",
        R"({"properties": {"data": {"type": "object", "required": ["newPrice"],
            "properties": {"newPrice": {"type": "number", "minimum": 0}}}}})"}},
      errors);
  REQUIRE(errors.empty());
  return set;
}

TEST_CASE("schema_mode strict: an event failing its type's schema is dead-lettered as schema, "
          "naming the JSON pointer", "[unit][routing][schema]") {
  RoutingConfig config = reference_config();
  config.schemas = price_schemas();
  config.schema_mode = SchemaMode::kStrict;
  Router router(config);
  auto bad = router.route(event("ProductPriceUpdate", "US", R"({"newPrice":-2})"));
  CHECK(bad.reason == "schema");
  CHECK(bad.topics.empty());
  CHECK(bad.detail == "/data/newPrice: must be ≥ 0 (the schema of ProductPriceUpdate, minimum)");
  CHECK(bad.event_type == "ProductPriceUpdate");
  auto missing = router.route(event("ProductPriceUpdate", "US", R"({})"));
  CHECK(missing.reason == "schema");
  CHECK_THAT(missing.detail, Contains("/data/newPrice: is required"));
  // A valid event, and a type without a schema, are routed as before.
  auto good = router.route(event("ProductPriceUpdate", "US", R"({"newPrice":7.31})"));
  CHECK_FALSE(good.dead_letter());
  CHECK(good.topics == Topics{"product-price-update-v1-US", kStorageTopic});
  auto other = router.route(event("Country", "EU", R"({"country":-1})"));
  CHECK_FALSE(other.dead_letter());
}

TEST_CASE("schema_mode off (the default) routes events whatever their schema says",
          "[unit][routing][schema]") {
  RoutingConfig config = reference_config();
  config.schemas = price_schemas();
  Router router(config);
  auto d = router.route(event("ProductPriceUpdate", "US", R"({"newPrice":-2})"));
  CHECK_FALSE(d.dead_letter());
  CHECK(d.topics == Topics{"product-price-update-v1-US", kStorageTopic});
}

}  // namespace
}  // namespace pemx::rules_router
