#pragma once
// The command line of `pemx simulate` (docs/simulator.md), parsed into a plain struct. Pure:
// a bad option is an Error whose message names the option, for exit code 2.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pemx/result.hpp"
#include "sim/mix.hpp"

namespace pemx::sim {

struct SimulateOptions {
  std::string config = "pemx.toml";
  std::vector<std::string> sets;  // --set KEY=VALUE, as for the other commands
  std::string role = "dist";      // whose ingest topic and routing rules apply
  double rate = 100;              // events per second; 0: as fast as possible (--rate max)
  std::optional<std::uint64_t> count;
  std::optional<std::chrono::milliseconds> duration;  // neither: until SIGINT
  Mix mix;
  std::vector<std::string> regions = {"US", "EU"};
  std::optional<std::uint64_t> seed;  // none: a random seed, printed in the summary
  std::string topic;                  // default: the role's ingest topic
  std::string brokers;                // default: kafka.brokers
  std::string via;                    // http://host:port: push through POST /event instead of Kafka
  std::string token;                  // bearer token for --via
  bool watch = false;
  std::chrono::milliseconds watch_timeout{std::chrono::seconds(30)};
  std::size_t max_tracked = 250'000;
  bool json = false;
  bool help = false;
};

Result<SimulateOptions> parse_simulate_options(const std::vector<std::string>& args);

extern const char* const kSimulateUsage;

}  // namespace pemx::sim
