#pragma once
// EventGenerator: random events shaped like the reference's generator makes them: a product
// id (10 chars of [A-Z0-9]) reused for 0 to 2 following events, the three event types, the
// regions US and EU. Seedable, so tests and benchmarks are repeatable. Used by tests, by
// bench/, and by the simulator command.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace pemx::sim {

struct GeneratorOptions {
  std::uint64_t seed = 1;
  // Relative weights of ProductPriceUpdate, Country, SpecificProductDiscountUpdate.
  double price_weight = 1;
  double country_weight = 1;
  double discount_weight = 1;
  std::vector<std::string> regions = {"US", "EU"};
  int max_reuse = 2;  // a product id is reused for 0..max_reuse following events
  // Up to 8 lower-case hex digits that every event id starts with (the simulator's run tag,
  // so a watcher can tell this run's events from anybody else's); empty: fully random ids.
  std::string id_prefix{};
};

struct GeneratedEvent {
  std::string event_id;
  std::string event_type;
  std::string product_id;
  std::string region;
  std::string country;  // Country events only
  std::string json;     // the whole event, as a source system would send it
};

class EventGenerator {
 public:
  explicit EventGenerator(GeneratorOptions options = {});
  GeneratedEvent next();

 private:
  std::string uuid();
  std::string product_id();
  std::string now_iso();

  GeneratorOptions options_;
  std::mt19937_64 rng_;
  std::discrete_distribution<int> type_;
  std::string current_product_;
  int reuse_left_ = 0;
};

}  // namespace pemx::sim
