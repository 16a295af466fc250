// Fuzz target event_route: one Kafka message value, as any producer may write it, through
//  - the dist role's router: the rules_router stage of the repository's pemx.toml, loaded
//    through the real config path (load_config + the registry) and run as `pemx route` runs it;
//  - a Router on the same rules (as in tests/plugins/rules_router/routing_test.cpp), whose
//    decision is checked: routed xor dead-lettered, every topic a legal Kafka name;
//  - the store's row mapping (the web role's side of the storage topic);
//  - the HTTP push of the same event ({"events":[VALUE]}) with pemx.toml's router as its check:
//    whatever the push accepts (201), the router routes and the store stores; and it answers
//    as its DOM path does, whether its fast path (push_scan.hpp) decided or not;
//  - the same with the shipped schemas (schemas/, [schemas]): the SAX validation of the push's
//    fast path and the DOM path agree, and what that push accepts a router in schema_mode
//    "strict" with the same schemas routes.
// Any crash, sanitizer report, leak or failed check is a finding (docs/fuzzing.md).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <rapidjson/document.h>

#include "builtin_stages.hpp"
#include "core/config.hpp"
#include "http_front/api.hpp"
#include "kafka/topic_name.hpp"
#include "rules_router/routing.hpp"
#include "store/row_mapping.hpp"

namespace {

using namespace pemx;

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "event_route: %s: %s\n", what, detail.c_str());
  std::abort();
}

// The repository's pemx.toml, loaded as `pemx check-config` loads it.
const Config& pemx_toml() {
  static const std::unique_ptr<Config> config = [] {
    Registry registry = builtin_stages();
    LoadResult loaded = load_config(PEMX_SOURCE_DIR "/pemx.toml", {}, registry);
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
    if (!loaded.config) fail("pemx.toml", "does not load");
    return std::move(loaded.config);
  }();
  return *config;
}

const StageSpec& pemx_toml_router() {
  const StageInstance* router = pemx_toml().stage("router");
  if (router == nullptr) fail("pemx.toml", "has no stage \"router\"");
  return *router->spec;
}

// What the push of pemx.toml's web role applies: the [events] limits and the router's check.
const http_front::PushRules& push_rules() {
  static const std::shared_ptr<EventCheck> check = pemx_toml_router().event_check();
  static const http_front::PushRules rules{pemx_toml().common.events, check.get()};
  if (!check) fail("pemx.toml", "the router offers no event check");
  return rules;
}

// pemx.toml with the three shipped schemas turned on ([schemas], as its comment shows) and the
// router in schema_mode = "strict".
const Config& pemx_toml_with_schemas() {
  static const std::unique_ptr<Config> config = [] {
    Registry registry = builtin_stages();
    LoadResult loaded = load_config(
        PEMX_SOURCE_DIR "/pemx.toml",
        {"schemas.ProductPriceUpdate=schemas/product-price-update.json",
         "schemas.Country=schemas/country.json",
         "schemas.SpecificProductDiscountUpdate=schemas/specific-product-discount-update.json",
         "stages.router.schema_mode=strict"},
        registry);
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
    if (!loaded.config || !loaded.config->common.schemas) fail("schemas", "do not load");
    return std::move(loaded.config);
  }();
  return *config;
}

const http_front::PushRules& schema_push_rules() {
  static const http_front::PushRules rules{pemx_toml_with_schemas().common.events, nullptr,
                                           pemx_toml_with_schemas().common.schemas};
  return rules;
}

// The push's answer is the DOM path's, fast path or not.
void check_push_same_as_dom(const std::string& body, const http_front::PushRules& rules,
                            const std::variant<std::vector<http_front::PushEvent>,
                                               http_front::Answer>& pushed) {
  auto dom = http_front::parse_push_request_dom(body, rules);
  if (pushed.index() != dom.index()) fail("push", "the fast path and the DOM path disagree");
  if (const auto* got = std::get_if<std::vector<http_front::PushEvent>>(&pushed)) {
    const auto& want = std::get<std::vector<http_front::PushEvent>>(dom);
    if (got->size() != want.size()) fail("push", "event counts differ");
    for (std::size_t i = 0; i < got->size(); ++i) {
      if ((*got)[i].key != want[i].key || (*got)[i].value != want[i].value ||
          (*got)[i].event_id != want[i].event_id) {
        fail("push", "an event differs from the DOM path's: " + (*got)[i].value);
      }
    }
  } else if (std::get<http_front::Answer>(pushed).body !=
             std::get<http_front::Answer>(dom).body) {
    fail("push", "the 400 differs from the DOM path's");
  }
}

rules_router::Rule rule(std::string name, std::string type, std::string_view topic) {
  rules_router::Rule r;
  r.name = std::move(name);
  if (!type.empty()) {
    r.when.push_back({rules_router::Condition::Kind::kEquals, "eventType", {type}});
  }
  if (auto error = rules_router::TopicTemplate::parse(topic, r.topic)) fail("rule", *error);
  return r;
}

// The same rules as pemx.toml's [stages.router], for the checks on the decision.
rules_router::Router& reference_router() {
  static rules_router::Router router([] {
    rules_router::RoutingConfig c;
    c.event_types = {"ProductPriceUpdate", "Country", "SpecificProductDiscountUpdate"};
    c.limits = pemx_toml().common.events;
    c.rules.push_back(
        rule("price-update", "ProductPriceUpdate", "product-price-update-v1-{region}"));
    auto country = rule("country", "Country", "country-{data.country}");
    country.defaults["data.country"] = "US";
    c.rules.push_back(country);
    c.rules.push_back(rule("discount-update", "SpecificProductDiscountUpdate",
                           "specific-product-discount-update-{region}"));
    c.rules.push_back(rule("storage", "", "product-event-storage-pemx"));
    auto problems = rules_router::check_routing(c);
    if (!problems.empty()) fail("reference rules", problems.front());
    return c;
  }());
  return router;
}

// `pemx route`'s line for one event must agree with the reference router's decision, so the
// checks below hold for pemx.toml's rules (a change to either shows up here at once).
void same_decision(const std::string& line, const rules_router::Decision& d) {
  if (line.empty()) return;  // a blank input line: nothing routed
  rapidjson::Document doc;
  doc.Parse(line.c_str(), line.size());
  if (doc.HasParseError() || !doc.IsObject()) fail("pemx route printed", line.substr(0, 300));
  std::vector<std::string> topics;
  for (const auto& t : doc["topics"].GetArray()) {
    topics.emplace_back(t.GetString(), t.GetStringLength());
  }
  std::string reason = doc.HasMember("dead_letter") ? doc["dead_letter"].GetString() : "";
  if (reason != d.reason || (!d.dead_letter() && topics != d.topics)) {
    fail("pemx.toml's router and the reference rules disagree", line.substr(0, 300));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);

  // 1. pemx.toml's router as `pemx route` runs it: one decision per input line.
  std::ostringstream out;
  {
    std::istringstream in{std::string(value)};
    if (pemx_toml_router().run_tool("route", in, out) != 0) fail("pemx route", "exit code");
  }

  // 2. The same rules, the decision checked.
  rules_router::Decision d = reference_router().route(value);
  if (value.find('\n') == std::string_view::npos) same_decision(out.str(), d);
  if (d.dead_letter() != d.topics.empty()) {
    fail("decision", "routed xor dead-lettered: reason \"" + d.reason + "\", " +
                         std::to_string(d.topics.size()) + " topics");
  }
  for (const auto& topic : d.topics) {
    if (auto problem = kafka::topic_name_problem(topic)) {
      fail("illegal topic routed to", topic.substr(0, 300) + ": " + *problem);
    }
  }
  if (!d.dead_letter() && d.topics.back() != "product-event-storage-pemx") {
    fail("decision", "a routed event misses the storage topic");
  }

  // 3. The store's row mapping of the same bytes, in the mode pemx.toml's store runs
  // ("report", like its router): it keeps every event the reference kept.
  store::SourcePosition source{"product-event-storage-pemx", 0, 42};
  const event::JsonLimits& limits = pemx_toml().common.events;
  constexpr auto kStoreMode = event::ValidationMode::kReport;
  auto row = store::map_event_row(value, source, 1'700'000'000'000, limits, kStoreMode);
  const auto is_json_reason = [](std::string_view code) {
    for (auto r : event::kJsonReasons) {
      if (r == code) return true;
    }
    return false;
  };
  if (row) {
    if (row->raw_json != value) fail("row", "raw_json differs from the message");
    if (row->event_id.empty()) fail("row", "empty eventId column");
  } else if (!d.dead_letter()) {
    // The router sends every event it routes to the storage topic. In report mode it routes
    // what the reference routed, an event without eventId included; the store keeps every
    // event but that one (eventId is its key), which it dead-letters as invalid_event.
    if (row.error().code != event::kReasonInvalidEvent) {
      fail("the store refuses an event the router routed", row.error().code + ": " +
                                                             row.error().message);
    }
  } else if (is_json_reason(row.error().code) && row.error().code != d.reason) {
    // The same fault in the JSON gets the same dead-letter reason from the router and the store.
    fail("the store and the router give different reasons", row.error().code + " vs " + d.reason);
  }

  // 4. The push: a 201 means routable and storable.
  std::string body = "{\"events\":[";
  body.append(value).append("]}");
  auto pushed = http_front::parse_push_request(body, push_rules());
  // Its fast path (push_scan.hpp) or not, the push answers as its DOM path does.
  check_push_same_as_dom(body, push_rules(), pushed);
  // 5. The same push with the shipped schemas: the fast path's SAX validation and the DOM
  // path agree, and a router in schema_mode "strict" routes whatever this push accepts.
  {
    static rules_router::Router strict_router([] {
      rules_router::RoutingConfig c = reference_router().config();
      c.schemas = pemx_toml_with_schemas().common.schemas;
      c.schema_mode = rules_router::SchemaMode::kStrict;
      return c;
    }());
    auto with_schemas = http_front::parse_push_request(body, schema_push_rules());
    check_push_same_as_dom(body, schema_push_rules(), with_schemas);
    if (const auto* events = std::get_if<std::vector<http_front::PushEvent>>(&with_schemas)) {
      for (const auto& ev : *events) {
        rules_router::Decision sd = strict_router.route(ev.value);
        if (sd.reason == "schema") {
          fail("the push accepts an event its schema refuses in the router", sd.detail);
        }
      }
    }
  }
  if (const auto* events = std::get_if<std::vector<http_front::PushEvent>>(&pushed)) {
    for (const auto& ev : *events) {
      rules_router::Decision pd = reference_router().route(ev.value);
      if (pd.dead_letter()) {
        fail("the push accepts an event the router dead-letters", pd.reason + ": " + pd.detail);
      }
      if (!store::map_event_row(ev.value, source, 1'700'000'000'000, limits, kStoreMode)) {
        fail("the push accepts an event the store refuses", ev.value.substr(0, 300));
      }
    }
  }
  return 0;
}
