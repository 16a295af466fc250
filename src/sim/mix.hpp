#pragma once
// The simulator's event mix and regions, from the command line ("price=2,country=1,discount=1",
// "US,EU") or from the simulator stage's config; shared by `pemx simulate` and the stage.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pemx/result.hpp"
#include "sim/event_generator.hpp"

namespace pemx::sim {

// Relative weights of the three reference event types.
struct Mix {
  double price = 1;     // ProductPriceUpdate
  double country = 1;   // Country
  double discount = 1;  // SpecificProductDiscountUpdate
};

// name=weight pairs; a name is price, country or discount (or the full event type); a type
// left out weighs 0; weights are finite and >= 0, and at least one is > 0.
Result<Mix> mix_from_pairs(const std::vector<std::pair<std::string, std::string>>& pairs);
// "price=2,country=1,discount=1".
Result<Mix> parse_mix(std::string_view text);
// "US,EU": comma-separated, trimmed, each non-empty.
Result<std::vector<std::string>> parse_regions(std::string_view text);

GeneratorOptions generator_options(const Mix& mix, std::vector<std::string> regions,
                                   std::uint64_t seed, std::string id_prefix = {});

}  // namespace pemx::sim
