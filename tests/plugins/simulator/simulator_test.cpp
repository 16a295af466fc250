// simulator stage: its config (defaults, every error with its key path) and its lifecycle on
// the embedded cluster (paced production up to `count`, drain, idempotent stop).
#include "simulator/simulator.hpp"

#include <catch2/catch.hpp>

#include <thread>

#include "builtin_stages.hpp"
#include "core/config.hpp"
#include "kafka/embedded.hpp"

namespace pemx {
namespace {

using namespace std::chrono_literals;
using Catch::Matchers::Contains;

LoadResult load(const std::string& section) {
  std::string text = "[roles]\ndemo = [\"sim\"]\n[stages.sim]\ntype = \"simulator\"\n" + section;
  return load_config_text(text, "sim.toml", {}, builtin_stages());
}

std::string errors(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.str() + "\n";
  return out;
}

TEST_CASE("simulator config: defaults and a full section", "[unit][simulator]") {
  auto d = load("");
  REQUIRE(d.errors.empty());
  const StageSpec& spec = *d.config->stage("sim")->spec;
  CHECK(spec.topics() == std::vector<std::string>{"product-event"});
  CHECK(spec.ports().empty());
  CHECK_THAT(spec.describe(), Contains("product-event at 5/s"));

  auto full = load(
      "topic = \"t1\"\nrate = 0.5\nmix = { price = 2, country = 0, discount = 1 }\n"
      "regions = [\"APAC\"]\nseed = 3\ncount = 10\n");
  REQUIRE(errors(full).empty());
  const StageSpec& f = *full.config->stage("sim")->spec;
  CHECK(f.topics() == std::vector<std::string>{"t1"});
  CHECK_THAT(f.describe(),
             Contains("t1 at 0.5/s (mix price 2, country 0, discount 1; regions APAC)"));
}

TEST_CASE("simulator config: each mistake names its key", "[unit][simulator]") {
  CHECK_THAT(errors(load("rate = 0\n")), Contains("stages.sim.rate: expected events per second"));
  CHECK_THAT(errors(load("rate = \"fast\"\n")), Contains("stages.sim.rate:"));
  CHECK_THAT(errors(load("mix = { price = 1, prize = 2 }\n")),
             Contains("stages.sim.mix: unknown event type \"prize\""));
  CHECK_THAT(errors(load("mix = { price = 0 }\n")), Contains("stages.sim.mix: every weight is 0"));
  CHECK_THAT(errors(load("regions = []\n")), Contains("stages.sim.regions: must list"));
  CHECK_THAT(errors(load("topic = \"a b\"\n")), Contains("stages.sim.topic:"));
  CHECK_THAT(errors(load("count = -1\n")), Contains("stages.sim.count:"));
  CHECK_THAT(errors(load("rates = 5\n")), Contains("stages.sim.rates: unknown key"));
}

// A simulator stage on its own embedded cluster.
struct Harness {
  explicit Harness(const std::string& section) {
    auto started = kafka::EmbeddedCluster::start({1, 1, {"sim-topic"}});
    REQUIRE(started);
    cluster = std::move(started.value());
    auto loaded = load("topic = \"sim-topic\"\n" + section);
    REQUIRE(errors(loaded).empty());
    ctx.name = "sim";
    ctx.metrics = &metrics;
    ctx.kafka_brokers = cluster->bootstrap();
    stage = loaded.config->stage("sim")->spec->create(ctx);
  }
  std::uint64_t produced() const {
    return metrics.counter_value("pemx_simulator_produced_total", {{"stage", "sim"}});
  }
  std::uint64_t failed() const {
    return metrics.counter_value("pemx_simulator_failed_total", {{"stage", "sim"}});
  }
  std::unique_ptr<kafka::EmbeddedCluster> cluster;
  Metrics metrics;
  StageContext ctx;
  std::unique_ptr<Stage> stage;  // last: destroyed first
};

TEST_CASE("the simulator produces `count` events at its rate, drains and stops",
          "[unit][simulator]") {
  Harness h("rate = 200\ncount = 40\nseed = 1\n");
  auto started = std::chrono::steady_clock::now();
  h.stage->start();
  for (int i = 0; i < 200 && h.produced() < 40; ++i) std::this_thread::sleep_for(50ms);
  auto took = std::chrono::steady_clock::now() - started;
  CHECK(h.produced() == 40);
  CHECK(took >= 150ms);  // paced: 40 events at 200/s take about 0.2 s
  std::this_thread::sleep_for(100ms);
  CHECK(h.produced() == 40);  // and no more than count
  CHECK(h.failed() == 0);
  h.stage->stop_accepting();
  CHECK(h.stage->drain(Deadline(Clock::now() + 5s)));
  h.stage->stop();
  h.stage->stop();  // idempotent
  CHECK(h.stage->drain(Deadline(Clock::now() + 1s)));
}

TEST_CASE("stop_accepting stops an unbounded simulator at once", "[unit][simulator]") {
  Harness h("rate = 1000\n");
  h.stage->start();
  // Stopped while it is producing: once its first events are acknowledged (polled, bounded),
  // not after a fixed time a slow machine may need just to connect.
  for (int i = 0; i < 400 && h.produced() == 0; ++i) std::this_thread::sleep_for(25ms);
  REQUIRE(h.produced() > 0);
  h.stage->stop_accepting();
  CHECK(h.stage->drain(Deadline(Clock::now() + 5s)));
  auto after = h.produced();
  CHECK(after > 0);
  std::this_thread::sleep_for(200ms);
  CHECK(h.produced() == after);
  h.stage->stop();
}

}  // namespace
}  // namespace pemx
