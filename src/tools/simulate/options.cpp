#include "tools/simulate/options.hpp"

#include <charconv>
#include <cmath>

#include "core/config_section.hpp"

namespace pemx::sim {

const char* const kSimulateUsage = R"(Usage: pemx simulate [options]

Produces random reference-shaped events into the role's input topic (product-event), or
through a running pemx's POST /event, and with --watch checks that each one arrives
downstream where the routing rules say. See docs/simulator.md.

  --rate N|max          events per second, smoothly paced, or as fast as possible (100)
  --count N             stop after N events
  --duration D          stop after D (e.g. 30s, 5m); with --count, whichever comes first;
                        with neither, runs until Ctrl-C
  --mix SPEC            type weights, e.g. price=2,country=1,discount=1 (left out: 0)
  --regions LIST        e.g. US,EU (US,EU)
  --seed N              repeatable types, products and values (default: random)
  --topic T             produce here (default: the role's ingest topic)
  --brokers LIST        override kafka.brokers
  --via URL             push through POST URL/event in batches of up to 200 instead
  --token T             bearer token for --via
  --watch               read the downstream topics and report arrivals, missing events,
                        duplicates and end-to-end latency
  --watch-timeout D     how long to wait for stragglers after sending (30s)
  --max-tracked N       events --watch remembers at once (250000)
  --json                print the summary as one JSON object
  --role R              the role whose rules and input topic apply (dist)
  --config FILE         the configuration (./pemx.toml)
  --set KEY=VALUE       override a config key
  --help                this text

Exit codes: 0 ok, 1 events failed or missing, 2 bad usage or configuration.
)";

namespace {

Error usage(const std::string& option, const std::string& message) {
  return {"usage", option + ": " + message};
}

std::optional<std::uint64_t> parse_count(const std::string& text) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

Result<SimulateOptions> parse_simulate_options(const std::vector<std::string>& args) {
  SimulateOptions o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::string value;
    bool inline_value = false;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      inline_value = true;
    }
    auto flag = [&]() -> std::optional<Error> {
      if (inline_value) return usage(arg, "takes no value");
      return std::nullopt;
    };
    auto take = [&]() -> std::optional<Error> {
      if (inline_value) return std::nullopt;
      if (i + 1 >= args.size()) return usage(arg, "needs a value");
      value = args[++i];
      return std::nullopt;
    };
    std::optional<Error> err;
    if (arg == "--help" || arg == "-h") {
      o.help = true;
      return o;
    } else if (arg == "--watch") {
      err = flag();
      o.watch = true;
    } else if (arg == "--json") {
      err = flag();
      o.json = true;
    } else if (arg == "--config" || arg == "--role" || arg == "--topic" || arg == "--brokers" ||
               arg == "--via" || arg == "--token" || arg == "--set") {
      if (!(err = take())) {
        if (value.empty()) return usage(arg, "needs a non-empty value");
        if (arg == "--config") o.config = value;
        if (arg == "--role") o.role = value;
        if (arg == "--topic") o.topic = value;
        if (arg == "--brokers") o.brokers = value;
        if (arg == "--via") o.via = value;
        if (arg == "--token") o.token = value;
        if (arg == "--set") o.sets.push_back(value);
      }
    } else if (arg == "--rate") {
      if (!(err = take())) {
        double rate = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), rate);
        if (value == "max") {
          o.rate = 0;
        } else if (ec != std::errc() || end != value.data() + value.size() ||
                   !std::isfinite(rate) || rate <= 0 || rate > 10'000'000) {
          return usage(arg, "\"" + value +
                                "\" is not a number of events per second above 0 "
                                "(at most 10000000) or \"max\"");
        } else {
          o.rate = rate;
        }
      }
    } else if (arg == "--count" || arg == "--seed" || arg == "--max-tracked") {
      if (!(err = take())) {
        auto n = parse_count(value);
        if (!n) return usage(arg, "\"" + value + "\" is not a whole number >= 0");
        if (arg == "--count") {
          if (*n == 0) return usage(arg, "must be at least 1");
          o.count = n;
        }
        if (arg == "--seed") o.seed = n;
        if (arg == "--max-tracked") {
          if (*n < 1 || *n > 100'000'000) return usage(arg, "must be between 1 and 100000000");
          o.max_tracked = static_cast<std::size_t>(*n);
        }
      }
    } else if (arg == "--duration" || arg == "--watch-timeout") {
      if (!(err = take())) {
        auto d = parse_duration(value);
        if (!d || (arg == "--duration" && d->count() <= 0)) {
          return usage(arg, "\"" + value + "\" is not a duration such as 500ms, 30s or 5m");
        }
        if (arg == "--duration")
          o.duration = d;
        else
          o.watch_timeout = *d;
      }
    } else if (arg == "--mix") {
      if (!(err = take())) {
        auto mix = parse_mix(value);
        if (!mix) return usage(arg, mix.error().message);
        o.mix = mix.value();
      }
    } else if (arg == "--regions") {
      if (!(err = take())) {
        auto regions = parse_regions(value);
        if (!regions) return usage(arg, regions.error().message);
        o.regions = regions.value();
      }
    } else {
      return Error{"usage", "unknown option \"" + args[i] + "\""};
    }
    if (err) return *err;
  }
  if (!o.token.empty() && o.via.empty()) return usage("--token", "only makes sense with --via");
  if (!o.via.empty() && !o.topic.empty()) {
    return usage("--topic", "cannot be used with --via (the server pushes to its own topic)");
  }
  if (!o.via.empty() && !o.brokers.empty() && !o.watch) {
    return usage("--brokers", "is not used with --via unless --watch reads the topics");
  }
  return o;
}

}  // namespace pemx::sim
