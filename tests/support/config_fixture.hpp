#pragma once
// The config tests' fixture: a copy of pemx.toml's dist part and helpers to edit it, load it
// with the real stage registry and read the errors. Shared by tests/core/config_test.cpp and
// each stage's tests/plugins/<stage>/config_test.cpp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "builtin_stages.hpp"
#include "core/config.hpp"

namespace pemx::test {

using Lines = std::vector<std::string>;

// pemx.toml's dist stages as shipped (comments trimmed; [http] and [store] are the old alias
// keys, which still load). Tests edit it with edited(), which fails loudly
// when the text it expects is no longer there.
inline constexpr std::string_view kPemxToml = R"(# PEMX configuration.
[kafka]
brokers = "localhost:9092"
client_id = "pemx-platform"

[kafka.properties]

[kafka.embedded]
partitions = 3

[http]
listen = "127.0.0.1:8080"

[store]
path = "pemx.db"

[log]
level = "info"
stats_interval = "30s"

[shutdown]
drain_timeout = "30s"

[roles]
dist = ["dist_ingest", "router", "dist_sink"]
all = ["dist_ingest", "router", "dist_sink"]

[queues.events]
capacity = 8192
[queues.routed]
capacity = 8192
[queues.delivered]
capacity = 65536

[stages.dist_ingest]
type = "kafka_ingest"
topics = ["product-event"]
group_id = "product-event-consumer-pemx"
auto_offset_reset = "earliest"
output = "events"
acks = "delivered"
commit_interval = "1s"

[stages.router]
type = "rules_router"
input = "events"
output = "routed"
dead_letter_topic = "product-event-dlq-pemx"
validation = "report"
event_types = ["ProductPriceUpdate", "Country", "SpecificProductDiscountUpdate"]
key_field = "productId"

[[stages.router.rules]]
name = "price-update"
match = { field = "eventType", equals = "ProductPriceUpdate" }
topic = "product-price-update-v1-{region}"

[[stages.router.rules]]
name = "country"
match = { field = "eventType", equals = "Country" }
topic = "country-{data.country}"
defaults = { "data.country" = "US" }

[[stages.router.rules]]
name = "discount-update"
match = { field = "eventType", equals = "SpecificProductDiscountUpdate" }
topic = "specific-product-discount-update-{region}"

[[stages.router.rules]]
name = "storage"
match = "*"
topic = "product-event-storage-pemx"

[stages.dist_sink]
type = "kafka_sink"
input = "routed"
acks = "delivered"
max_in_flight = 20000
)";

inline LoadResult load(std::string_view text, const std::vector<std::string>& overrides = {}) {
  Registry registry = builtin_stages();
  return load_config_text(std::string(text), "pemx.toml", overrides, registry);
}

// A load's errors as text, and each stage's describe() when the config loaded.
struct Loaded {
  std::vector<std::string> errors;
  std::map<std::string, std::string> described;  // stage -> describe()
};
inline Loaded load_text(const std::string& text, const std::vector<std::string>& overrides = {}) {
  LoadResult r = load(text, overrides);
  Loaded out;
  for (const auto& e : r.errors) out.errors.push_back(e.str());
  if (r.config) {
    for (const auto& s : r.config->stages) out.described[s.name] = s.spec->describe();
  }
  return out;
}

// The text with `from` (which must occur exactly once) replaced by `to`.
inline std::string edited(std::string_view text, std::string_view from, std::string_view to) {
  std::string out(text);
  auto at = out.find(from);
  REQUIRE(at != std::string::npos);
  REQUIRE(out.find(from, at + 1) == std::string::npos);
  return out.replace(at, from.size(), to);
}

// "pemx.toml:N" for the line holding `needle` (which must occur exactly once).
inline std::string at_line_of(std::string_view text, std::string_view needle) {
  auto at = text.find(needle);
  REQUIRE(at != std::string_view::npos);
  REQUIRE(text.find(needle, at + 1) == std::string_view::npos);
  auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
  return "pemx.toml:" + std::to_string(line);
}

inline Lines error_lines(const LoadResult& r) {
  Lines out;
  for (const auto& e : r.errors) out.push_back(e.str());
  return out;
}

inline bool has_error(const LoadResult& r, std::string_view key, std::string_view message) {
  for (const auto& e : r.errors) {
    if (e.key == key && e.message == message) return true;
  }
  return false;
}

// Routes JSON lines with the config's router stage (`pemx route`), one output line each.
inline Lines route_lines(const Config& config, const std::string& input) {
  const StageInstance* router = config.stage("router");
  REQUIRE(router != nullptr);
  std::istringstream in(input);
  std::ostringstream out;
  REQUIRE(router->spec->run_tool("route", in, out) == 0);
  Lines lines;
  std::istringstream result(out.str());
  for (std::string line; std::getline(result, line);) lines.push_back(line);
  return lines;
}

inline std::string reference_event(const std::string& type, const std::string& region,
                             const std::string& data, const std::string& product) {
  return R"({"eventId":"3b241101-e2bb-4255-8caf-4136c566a962","eventType":")" + type +
         R"(","productId":")" + product + R"(","region":")" + region +
         R"(","createdAt":"2024-07-26T14:41:17.123Z","data":)" + data + "}";
}

}  // namespace pemx::test
