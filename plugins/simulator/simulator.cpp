// simulator stage: produces reference-shaped random events into a topic at a gentle, paced
// rate, so that a demo shows live data at once. The generation, the pacing and the producer
// are src/sim's, shared with `pemx simulate`.
// Threads: one worker thread paces, generates, produces and serves delivery reports; the
// supervisor's thread calls start/stop_accepting/drain/stop, and drain() serves the last
// reports once the worker has returned.
#include "simulator/simulator.hpp"

#include <toml++/toml.h>
#include <atomic>
#include <random>
#include <sstream>
#include <thread>

#include "core/config.hpp"
#include "core/config_section.hpp"
#include "core/worker.hpp"
#include "kafka/topic_name.hpp"
#include "sim/event_generator.hpp"
#include "sim/mix.hpp"
#include "sim/pacer.hpp"
#include "sim/producer.hpp"

namespace pemx::simulator {

namespace {

using std::chrono::milliseconds;

struct Settings {
  kafka::KafkaConfig kafka;
  std::string topic = "product-event";
  double rate = 5;  // events per second
  sim::Mix mix;
  std::vector<std::string> regions = {"US", "EU"};
  std::uint64_t seed = 0;   // 0: random at start
  std::uint64_t count = 0;  // 0: until the process stops
};

class Simulator final : public Stage {
 public:
  Simulator(const Settings& s, StageContext& ctx)
      : settings_(s), log_(ctx.log), failed_log_(1), worker_(thread_owner(ctx)) {
    Labels stage = {{"stage", ctx.name}};
    produced_ = &ctx.metrics->counter("pemx_simulator_produced_total",
                                      "Generated events acknowledged by Kafka", stage);
    failed_ = &ctx.metrics->counter("pemx_simulator_failed_total",
                                    "Generated events Kafka did not acknowledge", stage);
    std::uint64_t seed = s.seed != 0 ? s.seed : std::random_device{}();
    generator_ =
        std::make_unique<sim::EventGenerator>(sim::generator_options(s.mix, s.regions, seed));
    auto producer = sim::EventProducer::create(
        s.kafka, ctx.kafka_brokers, s.topic,
        [this](std::string_view, const char* error) { delivered(error); },
        {ctx.log, ctx.name, ctx.readiness});
    if (!producer) throw std::runtime_error("simulator: " + producer.error().message);
    producer_ = std::move(producer.value());
  }

  void start() override {
    log_.info("producing generated events",
              {{"topic", settings_.topic},
               {"rate", settings_.rate},
               {"count", static_cast<std::int64_t>(settings_.count)}});
    worker_.start([this](std::stop_token st) { run(st); });
  }
  void stop_accepting() noexcept override { accepting_.store(false); }
  bool drain(const Deadline& deadline) noexcept override {
    stop_accepting();
    if (!worker_.wait_done(deadline)) return false;
    while (producer_->in_flight() > 0 && !deadline.passed()) producer_->poll(milliseconds(50));
    return producer_->in_flight() == 0;
  }
  void stop() noexcept override {
    stop_accepting();
    worker_.stop();
  }

 private:
  void delivered(const char* error) {
    if (error == nullptr) {
      produced_->inc();
      return;
    }
    failed_->inc();
    if (failed_log_.allow()) {
      log_.warn("generated event not acknowledged",
                {{"topic", settings_.topic},
                 {"error", error},
                 {"suppressed", static_cast<std::int64_t>(failed_log_.take_suppressed())}});
    }
  }

  void run(std::stop_token st) {
    sim::Pacer pacer(settings_.rate, Clock::now());
    const std::uint64_t limit = settings_.count != 0 ? settings_.count : sim::Pacer::kUnlimited;
    auto give_up = [&] { return st.stop_requested() || !accepting_.load(); };
    std::uint64_t sent = 0;
    while (!give_up()) {
      if (sent >= limit) {  // done: keep serving delivery reports until stopped
        producer_->poll(milliseconds(100));
        continue;
      }
      auto now = Clock::now();
      pacer.limit_backlog(now, sent);
      if (pacer.due(now) <= sent) {
        auto wait = std::chrono::ceil<milliseconds>(pacer.when(sent) - now);
        producer_->poll(std::clamp(wait, milliseconds(1), milliseconds(100)));
        continue;
      }
      auto e = generator_->next();
      if (auto error = producer_->produce(e.product_id, e.json, give_up)) {
        if (give_up()) break;
        delivered(error->c_str());
      }
      ++sent;
    }
  }

  Settings settings_;
  Logger log_;
  RateLimit failed_log_;
  Counter* produced_ = nullptr;
  Counter* failed_ = nullptr;
  std::atomic<bool> accepting_{true};
  std::unique_ptr<sim::EventGenerator> generator_;
  std::unique_ptr<sim::EventProducer> producer_;
  Worker worker_;  // last: its thread uses the members above
};

class Spec final : public StageSpec {
 public:
  explicit Spec(Settings s) : s_(std::move(s)) {}
  std::vector<QueuePort> ports() const override { return {}; }
  std::vector<std::string> topics() const override { return {s_.topic}; }
  std::string describe() const override {
    std::ostringstream out;
    out << "generated events -> " << s_.topic << " at " << s_.rate << "/s (mix price "
        << s_.mix.price << ", country " << s_.mix.country << ", discount " << s_.mix.discount
        << "; regions";
    for (const auto& r : s_.regions) out << " " << r;
    out << ")\n";
    return out.str();
  }
  std::unique_ptr<Stage> create(StageContext& ctx) const override {
    return std::make_unique<Simulator>(s_, ctx);
  }

 private:
  Settings s_;
};

std::unique_ptr<StageSpec> parse(ConfigSection& section, const CommonConfig& common) {
  Settings s;
  s.kafka = common.kafka;
  s.topic = section.string("topic", s.topic);
  if (auto p = kafka::topic_name_problem(s.topic)) section.error("topic", *p);
  if (const toml::node* rate = section.node("rate")) {
    auto value = rate->value<double>();  // an integer or a float
    if (!value || !(*value > 0 && *value <= 100'000)) {
      section.error("rate",
                    "expected events per second, a number above 0 and at most 100000 "
                    "(e.g. rate = 5 or rate = 0.2)");
    } else {
      s.rate = *value;
    }
  }
  if (section.has("mix")) {
    auto mix = sim::mix_from_pairs(section.string_map("mix"));
    if (!mix)
      section.error("mix", mix.error().message + "; as a table: { price = 2, country = 1 }");
    else
      s.mix = mix.value();
  }
  s.regions = section.string_list("regions", s.regions);
  if (s.regions.empty())
    section.error("regions", "must list at least one region, e.g. [\"US\", \"EU\"]");
  for (const auto& r : s.regions) {
    if (r.empty()) section.error("regions", "a region is empty");
  }
  s.seed = static_cast<std::uint64_t>(section.integer("seed", 0, 0, INT64_MAX));
  s.count = static_cast<std::uint64_t>(section.integer("count", 0, 0, INT64_MAX));
  return std::make_unique<Spec>(std::move(s));
}

}  // namespace

StageFactory factory() {
  return {"simulator", "produces generated reference events at a paced rate (demos)", &parse};
}

}  // namespace pemx::simulator
