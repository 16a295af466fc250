// EventGenerator (src/sim/event_generator.*): its events are reference events.
#include "sim/event_generator.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "event/event.hpp"
#include "event/validate.hpp"

namespace pemx::sim {
namespace {

constexpr int kEvents = 3000;

std::vector<GeneratedEvent> generate(GeneratorOptions options, int n = kEvents) {
  EventGenerator generator(std::move(options));
  std::vector<GeneratedEvent> out;
  for (int i = 0; i < n; ++i) out.push_back(generator.next());
  return out;
}

// Lengths of the runs of consecutive events with the same product id.
std::vector<int> product_runs(const std::vector<GeneratedEvent>& events) {
  std::vector<int> runs;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i > 0 && events[i].product_id == events[i - 1].product_id) {
      ++runs.back();
    } else {
      runs.push_back(1);
    }
  }
  return runs;
}

bool is_product_id(const std::string& id) {
  if (id.size() != 10) return false;
  for (char c : id) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

TEST_CASE("generated events are valid reference events", "[unit][sim]") {
  event::ParsedEvent parsed;
  std::string error;
  for (const auto& e : generate({})) {
    CAPTURE(e.json);
    REQUIRE_FALSE(parsed.parse(e.json));
    CHECK(event::validate_event(parsed.root()).empty());
    CHECK(parsed.string_at("eventId") == e.event_id);
    CHECK(parsed.string_at("eventType") == e.event_type);
    CHECK(parsed.string_at("productId") == e.product_id);
    CHECK(parsed.string_at("region") == e.region);
    CHECK(is_product_id(e.product_id));
    REQUIRE(parsed.find("data") != nullptr);
    CHECK(parsed.find("data")->IsObject());
  }
}

TEST_CASE("generated data has the reference shape for each type", "[unit][sim]") {
  event::ParsedEvent parsed;
  std::string error;
  for (const auto& e : generate({}, 600)) {
    CAPTURE(e.json);
    REQUIRE_FALSE(parsed.parse(e.json));
    if (e.event_type == "ProductPriceUpdate") {
      CHECK(parsed.find("data.newPrice")->IsNumber());
      CHECK(parsed.find("data.previousPrice")->IsNumber());
    } else if (e.event_type == "Country") {
      auto country = parsed.string_at("data.country");
      REQUIRE(country);
      CHECK(*country == e.country);
      CHECK(parsed.string_at("data.region") == (*country == "UnitedStates" ? "US" : "EU"));
      CHECK((*country == "UnitedStates" || *country == "Sweden"));
    } else {
      REQUIRE(e.event_type == "SpecificProductDiscountUpdate");
      CHECK(parsed.find("data.newDiscountPercentage")->IsInt());
      CHECK(parsed.find("data.previousDiscountPercentage")->IsInt());
    }
  }
}

TEST_CASE("a product id is used for 1 to 3 consecutive events, then never again",
          "[unit][sim]") {
  auto events = generate({});
  std::map<int, int> run_lengths;
  for (int run : product_runs(events)) ++run_lengths[run];
  CHECK(run_lengths.begin()->first >= 1);
  CHECK(run_lengths.rbegin()->first <= 3);
  CHECK(run_lengths.size() == 3);  // 0, 1 and 2 reuses all happen

  std::set<std::string> finished;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i > 0 && events[i].product_id != events[i - 1].product_id) {
      finished.insert(events[i - 1].product_id);
    }
    CHECK(finished.count(events[i].product_id) == 0);
  }
}

TEST_CASE("max_reuse 0 gives every event a new product id", "[unit][sim]") {
  GeneratorOptions options;
  options.max_reuse = 0;
  for (int run : product_runs(generate(options, 500))) CHECK(run == 1);
}

TEST_CASE("the default options give all three types and both regions", "[unit][sim]") {
  std::map<std::string, int> types, regions;
  for (const auto& e : generate({})) {
    ++types[e.event_type];
    ++regions[e.region];
  }
  CHECK(types.size() == 3);
  for (const auto& [type, n] : types) CHECK(n > kEvents / 6);  // roughly equal weights
  REQUIRE(regions.size() == 2);
  CHECK(regions.count("EU") == 1);
  CHECK(regions.count("US") == 1);
  CHECK(regions["EU"] > kEvents / 4);
  CHECK(regions["US"] > kEvents / 4);
}

TEST_CASE("types and regions follow the options", "[unit][sim]") {
  GeneratorOptions options;
  options.price_weight = 0;
  options.country_weight = 1;
  options.discount_weight = 0;
  options.regions = {"APAC"};
  for (const auto& e : generate(options, 500)) {
    CHECK(e.event_type == "Country");
    CHECK(e.region == "APAC");
  }

  options.country_weight = 0;
  options.discount_weight = 3;
  options.regions = {"US", "EU", "APAC"};
  std::set<std::string> regions;
  for (const auto& e : generate(options, 500)) {
    CHECK(e.event_type == "SpecificProductDiscountUpdate");
    regions.insert(e.region);
  }
  CHECK(regions == std::set<std::string>{"APAC", "EU", "US"});
}

TEST_CASE("the same seed gives the same events; another seed does not", "[unit][sim]") {
  GeneratorOptions a;
  a.seed = 42;
  auto first = generate(a, 200);
  auto again = generate(a, 200);
  GeneratorOptions b;
  b.seed = 43;
  auto other = generate(b, 200);

  int differing = 0;
  for (std::size_t i = 0; i < first.size(); ++i) {
    CHECK(first[i].event_id == again[i].event_id);
    CHECK(first[i].event_type == again[i].event_type);
    CHECK(first[i].product_id == again[i].product_id);
    CHECK(first[i].region == again[i].region);
    CHECK(first[i].country == again[i].country);
    differing += first[i].event_id != other[i].event_id;
  }
  CHECK(differing == 200);
}

TEST_CASE("event ids are unique version-4 UUIDs", "[unit][sim]") {
  std::set<std::string> ids;
  for (const auto& e : generate({})) {
    CHECK(event::is_uuid(e.event_id));
    CHECK(e.event_id[14] == '4');
    CHECK(std::string("89ab").find(e.event_id[19]) != std::string::npos);
    ids.insert(e.event_id);
  }
  CHECK(ids.size() == kEvents);
}

}  // namespace
}  // namespace pemx::sim
