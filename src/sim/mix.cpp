#include "sim/mix.hpp"

#include <charconv>
#include <cmath>

namespace pemx::sim {

namespace {

std::string_view trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  for (;;) {
    auto end = text.find(sep, pos);
    out.push_back(trim(text.substr(pos, end == std::string_view::npos ? end : end - pos)));
    if (end == std::string_view::npos) return out;
    pos = end + 1;
  }
}

Error mix_error(std::string message) {
  return {"bad_mix", message + " (expected e.g. price=2,country=1,discount=1)"};
}

}  // namespace

Result<Mix> mix_from_pairs(const std::vector<std::pair<std::string, std::string>>& pairs) {
  if (pairs.empty()) return mix_error("no event type given");
  Mix mix{0, 0, 0};
  for (const auto& [name, text] : pairs) {
    double* weight = nullptr;
    if (name == "price" || name == "ProductPriceUpdate") weight = &mix.price;
    if (name == "country" || name == "Country") weight = &mix.country;
    if (name == "discount" || name == "SpecificProductDiscountUpdate") weight = &mix.discount;
    if (weight == nullptr) {
      return mix_error("unknown event type \"" + name + "\"; use price, country or discount");
    }
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) ||
        value < 0) {
      return mix_error("weight of " + name + " is \"" + text + "\", not a number >= 0");
    }
    *weight = value;
  }
  if (mix.price + mix.country + mix.discount <= 0) {
    return mix_error("every weight is 0: no event could be generated");
  }
  return mix;
}

Result<Mix> parse_mix(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (auto item : split(text, ',')) {
    auto eq = item.find('=');
    if (eq == std::string_view::npos || trim(item.substr(0, eq)).empty()) {
      return mix_error("\"" + std::string(item) + "\" is not name=weight");
    }
    pairs.emplace_back(trim(item.substr(0, eq)), trim(item.substr(eq + 1)));
  }
  return mix_from_pairs(pairs);
}

Result<std::vector<std::string>> parse_regions(std::string_view text) {
  std::vector<std::string> regions;
  for (auto item : split(text, ',')) {
    if (item.empty()) {
      return Error{"bad_regions",
                   "\"" + std::string(text) + "\" has an empty region (expected e.g. US,EU)"};
    }
    regions.emplace_back(item);
  }
  return regions;
}

GeneratorOptions generator_options(const Mix& mix, std::vector<std::string> regions,
                                   std::uint64_t seed, std::string id_prefix) {
  GeneratorOptions g;
  g.seed = seed;
  g.price_weight = mix.price;
  g.country_weight = mix.country;
  g.discount_weight = mix.discount;
  g.regions = std::move(regions);
  g.id_prefix = std::move(id_prefix);
  return g;
}

}  // namespace pemx::sim
