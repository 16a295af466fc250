// rules_router stage: pops records from its input queue, routes each with the pure Router,
// and pushes it to its output queue with the decision filled in.
// Threads: one worker thread runs the loop; start/stop_accepting/drain/stop are called from
// the supervisor's thread. The rules live in a RulesBox shared by the spec, the stage and the
// push check: a reload (the supervisor's thread, or the HTTP stage's query pool) replaces them,
// and the worker picks them up between two events.
#include "rules_router/rules_router.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <toml++/toml.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/config.hpp"
#include "core/check.hpp"
#include "core/config_section.hpp"
#include "core/worker.hpp"
#include "event/dead_letter.hpp"
#include "kafka/topic_name.hpp"
#include "pemx/reload.hpp"
#include "rules_router/routing.hpp"

namespace pemx::rules_router {

namespace {

struct Settings {
  std::string input = "events";
  std::string output = "routed";
  std::string dead_letter_topic = "product-event-dlq-pemx";
  // The target check at start-up: "fail" refuses to start when a topic is missing, "warn"
  // (the default) logs it once and starts, "off" does not ask the cluster (as before).
  std::string missing_topics = "warn";
  // How long that check (and a reload's) waits for each cluster's answer.
  std::chrono::milliseconds missing_topics_timeout{TargetTopics{}.timeout};
  RoutingConfig routing;
};

// Everything the router can send to: the dead-letter topic and every topic its rules can
// render (possible_topics), sorted, once each.
PossibleTopics all_targets(const Settings& s) {
  PossibleTopics possible = possible_topics(s.routing);
  auto& t = possible.topics;
  if (!std::binary_search(t.begin(), t.end(), s.dead_letter_topic)) {
    t.insert(std::lower_bound(t.begin(), t.end(), s.dead_letter_topic), s.dead_letter_topic);
  }
  return possible;
}

constexpr std::size_t kMaxTopicSeries = 1000;  // bound on per-topic metric series

// What the worker routes with: the rules, the dead-letter topic and their version, fixed once
// made (a reload makes new ones).
struct CompiledRules {
  RoutingConfig routing;
  std::string dead_letter_topic;
  std::string version;  // rules_version(canonical_rules(...)): the pemx-rules-version header
  std::int64_t loaded_at_ms = 0;
};

std::shared_ptr<const CompiledRules> compile(const Settings& s) {
  auto c = std::make_shared<CompiledRules>();
  c->routing = s.routing;
  c->dead_letter_topic = s.dead_letter_topic;
  c->version = rules_version(canonical_rules(s.routing, s.dead_letter_topic));
  c->loaded_at_ms = epoch_ms_now();
  return c;
}

// The keys of a router's section that a reload changes live; the others (its queues) need a
// restart. missing_topics and its timeout are live too: they only say how the reload's target
// check ends.
const std::vector<std::string> kLiveKeys = {
    "rules",          "event_types",           "key_field", "validation", "dead_letter_topic",
    "missing_topics", "missing_topics_timeout"};

// The rules of one router, shared by its spec (LiveRules, for the supervisor's reload), its
// stage and its push check. Threads: replace() and take() lock mutex_, from any thread; the
// worker reads generation() (one atomic load) before each event and takes the rules only when
// it changed, so nothing locks on the hot path.
class RulesBox final : public LiveRules {
 public:
  explicit RulesBox(std::shared_ptr<const CompiledRules> rules) : rules_(std::move(rules)) {}

  std::vector<std::string> live_keys() const override { return kLiveKeys; }
  std::vector<std::string> clusters() const override {
    std::set<std::string> names;
    for (const auto& rule : take().first->routing.rules) {
      if (!rule.cluster.empty()) names.insert(rule.cluster);
    }
    return {names.begin(), names.end()};
  }
  RulesVersion current() const override {
    auto rules = take().first;
    return {rules->version, rules->loaded_at_ms};
  }
  bool replace(const LiveRules& next) override {
    const auto* other = dynamic_cast<const RulesBox*>(&next);
    PEMX_CHECK(other != nullptr, "a router's rules replaced by another stage type's");
    auto incoming = other->take().first;
    std::lock_guard<std::mutex> lock(mutex_);
    if (incoming->version == rules_->version) return false;
    auto fresh = std::make_shared<CompiledRules>(*incoming);
    fresh->routing.limits = rules_->routing.limits;  // [events] needs a restart
    // [clusters] needs a restart too: the numbers stay those of the producers the sink made at
    // start-up (the reload refused rules naming a cluster the process did not start with).
    fresh->routing.clusters = rules_->routing.clusters;
    fresh->loaded_at_ms = epoch_ms_now();
    rules_ = std::move(fresh);
    generation_.fetch_add(1, std::memory_order_release);
    return true;
  }

  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // The rules and their generation, as one pair.
  std::pair<std::shared_ptr<const CompiledRules>, std::uint64_t> take() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return {rules_, generation_.load(std::memory_order_relaxed)};
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const CompiledRules> rules_;  // guarded by mutex_
  std::atomic<std::uint64_t> generation_{0};    // written under mutex_
};

class RulesRouter final : public Stage {
 public:
  RulesRouter(const Settings& s, std::shared_ptr<RulesBox> box, StageContext& ctx)
      : log_(ctx.log),
        metrics_(*ctx.metrics),
        input_(ctx.queue(s.input)),
        output_(ctx.queue(s.output)),
        box_(std::move(box)),
        bad_log_(10),
        worker_(thread_owner(ctx)) {
    Labels stage = {{"stage", ctx.name}};
    routed_total_ = &metrics_.counter("pemx_rules_router_routed_total",
                                      "Events routed to their topics", stage);
    std::vector<std::string_view> reasons(std::begin(event::kJsonReasons),
                                          std::end(event::kJsonReasons));
    for (auto reason : {kInvalidEvent, kUnknownEventType, kNoMatchingRule, kMissingPlaceholder,
                        kIllegalTopic, kTopicNotAllowed, kSchema, kTopicLoop}) {
      reasons.push_back(reason);
    }
    for (auto reason : reasons) {
      dead_[std::string(reason)] = &metrics_.counter(
          "pemx_rules_router_dead_lettered_total", "Events sent to the dead-letter topic",
          {{"stage", ctx.name}, {"reason", std::string(reason)}});
    }
    for (auto field : event::kValidatedFields) {
      invalid_[std::string(field)] = &metrics_.counter(
          "pemx_rules_router_invalid_events_total",
          "Events routed although they fail the reference push's field rule for `reason` "
          "(validation = \"report\"); one event can count under several reasons",
          {{"stage", ctx.name}, {"reason", std::string(field)}});
    }
    stage_name_ = ctx.name;
    activity_ = ctx.activity;
    if (activity_ != nullptr) activity_->offer("routed");
    std::tie(rules_, generation_) = box_->take();
    router_.emplace(rules_->routing);
  }

  void start() override {
    worker_.start([this](std::stop_token st) { run(st); });
  }
  void stop_accepting() noexcept override {}
  bool drain(const Deadline& deadline) noexcept override { return worker_.wait_done(deadline); }
  void stop() noexcept override {
    worker_.stop();
    output_.close();
  }

 private:
  void run(std::stop_token st) {
    Decision d;
    const auto forever = Clock::time_point::max();
    for (;;) {
      RecordPtr rec;
      auto status = input_.pop(rec, forever, st);
      if (status != QueueStatus::kOk) break;  // closed (done) or stopped
      if (!rec->end_of_transaction) {  // a transaction marker goes on untouched
        if (box_->generation() != generation_) pick_up_rules();
        router_->route(rec->value, d);
        apply(*rec, d);
      }
      if (output_.push(rec, forever, st) != QueueStatus::kOk) break;
    }
    output_.close();
  }

  // Between two events: the rules a reload put in the box.
  void pick_up_rules() {
    std::string previous = rules_->version;
    std::tie(rules_, generation_) = box_->take();
    router_.emplace(rules_->routing);
    log_.info("routing rules swapped", {{"from", previous}, {"version", rules_->version}});
  }

  // Sets out_headers[n] in place: records are reused, so their strings keep their capacity.
  static void header(Record& rec, std::size_t& n, std::string_view name, std::string_view value) {
    if (n == rec.out_headers.size()) rec.out_headers.emplace_back();
    rec.out_headers[n].name.assign(name);
    rec.out_headers[n].value.assign(value);
    ++n;
  }

  // A target equal to the record's own topic or to the dead-letter topic would loop (a free
  // placeholder such as {region} can render either): the event is dead-lettered instead.
  void refuse_loops(const Record& rec, Decision& d) const {
    for (std::size_t i = 0; i < d.topics.size(); ++i) {
      const auto& t = d.topics[i];
      const bool into_input = t == rec.topic && !rec.replay;  // a replay re-sends stored events
      if (!into_input && t != rules_->dead_letter_topic) continue;
      if (i < d.clusters.size() && d.clusters[i] != 0) continue;  // another cluster's topic
      d.reason = kTopicLoop;
      d.detail = (into_input ? "a rule sends the event back into its input topic \""
                                 : "a rule sends the event into the dead-letter topic \"") +
                 event::excerpt(t) + "\"";
      d.topics.clear();
      d.clusters.clear();
      return;
    }
  }

  void apply(Record& rec, Decision& d) {
    if (!d.dead_letter()) refuse_loops(rec, d);
    std::size_t n = 0;
    rec.event_id = d.event_id;
    rec.event_type = d.event_type;
    rec.rules_version = rules_->version;
    // The routing headers are rendered by the sink from these fields (Record::routing_headers).
    rec.routing_headers = kRoutingSource;
    if (fits_id_header(d.event_type)) rec.routing_headers |= kRoutingEventType;
    if (fits_id_header(d.event_id)) rec.routing_headers |= kRoutingEventId;
    if (d.dead_letter()) {
      // A dead letter's headers are cut to fit (fit_dead_letter): its routing headers are made
      // strings here, with the reason headers after them.
      for_each_routing_header(rec, [&](std::string_view name, std::string_view value) {
        header(rec, n, name, value);
      });
      rec.routing_headers = 0;
      rec.dead_letter_reason = d.reason;
      rec.dead_letter_detail = d.detail;
      rec.out_key = rec.key;
      rec.targets.assign(1, rules_->dead_letter_topic);
      rec.target_clusters.clear();  // dead letters go to the main cluster
      header(rec, n, "pemx-dlq-reason", d.reason);
      header(rec, n, "pemx-dlq-detail", d.detail);
      header(rec, n, "pemx-dlq-stage", stage_name_);
      rec.out_headers.resize(n);
      event::fit_dead_letter(rec.value, rec.out_key, rec.out_headers, rules_->routing.limits);
      dead_.at(d.reason)->inc();
      if (activity_ != nullptr) {
        activity_->dead_letter({.at_ms = epoch_ms_now(),
                                .stage = stage_name_,
                                .reason = d.reason,
                                .detail = d.detail,
                                .event_id = d.event_id,
                                .product_id = std::string(dead_letter_product_id(d, rec.key)),
                                .source_topic = rec.topic,
                                .source_partition = rec.partition,
                                .source_offset = rec.offset,
                                .dead_letter_topic = rules_->dead_letter_topic,
                                .payload = rec.value.substr(0, kMaxDeadLetterPayload + 1)});
      }
      if (bad_log_.allow()) {
        log_.warn("event dead-lettered", {{"reason", d.reason},
                                          {"detail", d.detail},
                                          {"topic", rec.topic},
                                          {"partition", rec.partition},
                                          {"offset", rec.offset},
                                          {"eventId", d.event_id},
                                          {"suppressed", static_cast<std::int64_t>(
                                                             bad_log_.take_suppressed())}});
      }
      return;
    }
    rec.out_headers.resize(n);
    rec.dead_letter_reason.clear();
    rec.out_key = d.key;
    rec.targets.swap(d.topics);
    rec.target_clusters.swap(d.clusters);  // empty (nothing to swap) unless a rule names one
    routed_total_->inc();
    for (const auto& t : rec.targets) topic_counter(t).inc();
    if (!d.invalid.empty()) report_invalid(rec, d);
    if (activity_ != nullptr && activity_->watched()) {
      activity_->publish(
          {0, "routed", epoch_ms_now(), rec.event_id, rec.out_key, rec.event_type, rec.targets,
           rec.value});
    }
    if (log_.enabled(LogLevel::kDebug)) {
      log_.debug("event routed", {{"eventId", rec.event_id},
                                  {"eventType", rec.event_type},
                                  {"partition", rec.partition},
                                  {"offset", rec.offset},
                                  {"topics", static_cast<std::int64_t>(rec.targets.size())}});
    }
  }

  // validation = "report": the event is routed like the reference routed it; each failing
  // rule is counted, and a line is logged at most once a second.
  void report_invalid(const Record& rec, const Decision& d) {
    std::string fields;
    for (const auto& f : d.invalid) {
      invalid_.at(f)->inc();
      fields += (fields.empty() ? "" : ",") + f;
    }
    if (invalid_log_.allow()) {
      log_.info("event routed although it fails the reference's field rules",
                {{"fields", fields},
                 {"topic", rec.topic},
                 {"partition", rec.partition},
                 {"offset", rec.offset},
                 {"eventId", d.event_id},
                 {"suppressed", static_cast<std::int64_t>(invalid_log_.take_suppressed())}});
    }
  }

  Counter& topic_counter(const std::string& topic) {
    auto it = per_topic_.find(topic);
    if (it != per_topic_.end()) return *it->second;
    std::string label = per_topic_.size() < kMaxTopicSeries ? topic : "_other";
    Counter& c = metrics_.counter("pemx_rules_router_routed_topic_total",
                                  "Events routed, per destination topic",
                                  {{"stage", stage_name_}, {"topic", label}});
    if (per_topic_.size() < kMaxTopicSeries) per_topic_.emplace(topic, &c);
    return c;
  }

  Logger log_;
  Metrics& metrics_;
  RecordQueue& input_;
  RecordQueue& output_;
  std::shared_ptr<RulesBox> box_;
  // The worker's copy of the box's rules, their generation and a Router made from them.
  std::shared_ptr<const CompiledRules> rules_;
  std::uint64_t generation_ = 0;
  std::optional<Router> router_;
  RateLimit bad_log_;
  RateLimit invalid_log_{1};
  std::string stage_name_;
  Activity* activity_ = nullptr;
  Counter* routed_total_ = nullptr;
  std::map<std::string, Counter*> dead_;
  std::map<std::string, Counter*> invalid_;  // event::kValidatedFields -> counter
  std::map<std::string, Counter*> per_topic_;
  Worker worker_;  // last: its thread uses the members above
};

// The router's decision for other stages (the push): Routers lent from a small pool, each with
// its own parse arena, so concurrent callers do not wait on one another.
// A reload's rules reach it through the box: a Router made from older rules is not reused.
class RouterCheck final : public EventCheck {
 public:
  explicit RouterCheck(std::shared_ptr<RulesBox> box) : box_(std::move(box)) {}
  std::optional<EventRefusal> check(std::string_view event_json) override {
    return decide(event_json, event::TextChecks::kAll);
  }
  // The push's scan validated the encoding and the keys: RapidJSON's UTF-8 validation and the
  // duplicate-key walk were a third of this check's instructions (docs/benchmarks.md, "Push").
  std::optional<EventRefusal> check_scanned(std::string_view event_json) override {
    return decide(event_json, event::TextChecks::kScanned);
  }
  // And the scan's events for the text: the document is built from them, not parsed again
  // (the second parse was half of the push's JSON work: docs/benchmarks.md, "Push").
  std::optional<EventRefusal> check_tokens(std::string_view event_json,
                                           const JsonTokens& tokens) override {
    return decide(event_json, event::TextChecks::kScanned, &tokens);
  }
  std::unique_ptr<EventCheck::Series> series() override { return std::make_unique<Series>(*this); }
  // A Router of its own for each call, made from the rules in force: lineage asks rarely, and
  // this way it sees the full decision (validation as configured), never the check's shortcuts.
  std::optional<RouteTrace> trace(std::string_view event_json) override {
    auto rules = box_->take().first;
    Router router(rules->routing);
    Decision d = router.route(event_json);
    std::vector<std::string> clusters;  // by name, as lineage searches them
    for (const std::uint8_t c : d.clusters) {
      clusters.emplace_back(c == 0 ? kafka::kMainCluster
                                   : std::string_view(rules->routing.clusters[c - 1]));
    }
    RouteTrace t{std::move(d.topics), {},  std::move(d.reason),  std::move(d.detail),
                 std::move(d.key),    rules->version, rules->dead_letter_topic};
    t.clusters = std::move(clusters);
    return t;
  }

 private:
  struct Slot {
    Slot(const RoutingConfig& c, std::uint64_t g) : router(c), generation(g) {}
    Router router;
    std::uint64_t generation;
    Decision decision;
  };

  // A push request's events: one Router lent for all of them, so the pool's lock is taken
  // twice per request, not twice per event.
  class Series final : public EventCheck::Series {
   public:
    explicit Series(RouterCheck& owner) : owner_(owner), slot_(owner.lend()) {}
    ~Series() override { owner_.give_back(std::move(slot_)); }
    Series(const Series&) = delete;
    Series& operator=(const Series&) = delete;
    std::optional<EventRefusal> check_scanned(std::string_view event_json) override {
      return owner_.decide_with(slot_, event_json, event::TextChecks::kScanned, nullptr);
    }
    std::optional<EventRefusal> check_tokens(std::string_view event_json,
                                             const JsonTokens& tokens) override {
      return owner_.decide_with(slot_, event_json, event::TextChecks::kScanned, &tokens);
    }

   private:
    RouterCheck& owner_;
    std::unique_ptr<Slot> slot_;
  };

  std::optional<EventRefusal> decide(std::string_view event_json, event::TextChecks checks,
                                     const JsonTokens* tokens = nullptr) {
    std::unique_ptr<Slot> slot = lend();
    auto refusal = decide_with(slot, event_json, checks, tokens);
    give_back(std::move(slot));
    return refusal;
  }

  // With `slot` (null, or made from older rules: replaced by one from the rules in force).
  std::optional<EventRefusal> decide_with(std::unique_ptr<Slot>& slot, std::string_view event_json,
                                          event::TextChecks checks, const JsonTokens* tokens) {
    if (!slot || slot->generation != box_->generation()) {
      auto [rules, generation] = box_->take();
      slot = std::make_unique<Slot>(for_check(rules->routing), generation);
    }
    if (tokens != nullptr) slot->router.route(event_json, *tokens, slot->decision);
    else slot->router.route(event_json, slot->decision, checks);
    if (!slot->decision.dead_letter()) return std::nullopt;
    return EventRefusal{slot->decision.reason, slot->decision.detail, slot->decision.field};
  }

  // An idle Router from the pool; null when there is none (decide_with makes one).
  std::unique_ptr<Slot> lend() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.empty()) return nullptr;
    std::unique_ptr<Slot> slot = std::move(idle_.back());
    idle_.pop_back();
    return slot;
  }
  void give_back(std::unique_ptr<Slot> slot) {
    if (!slot) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.size() < kMaxIdle) idle_.push_back(std::move(slot));
  }
  // With validation = "report" the field rules never refuse an event (they only fill
  // Decision::invalid, which a check does not answer with), so the check skips them: the same
  // refusals for about 2 % of the push's CPU (docs/benchmarks.md, "Push").
  static RoutingConfig for_check(RoutingConfig config) {
    if (config.validation == event::ValidationMode::kReport) {
      config.validation = event::ValidationMode::kOff;
    }
    return config;
  }

  static constexpr std::size_t kMaxIdle = 8;
  const std::shared_ptr<RulesBox> box_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Slot>> idle_;
};

std::string describe_rules(const Settings& s) {
  std::ostringstream out;
  out << "routing table (" << s.input << " -> " << s.output << "):\n";
  const auto& r = s.routing;
  switch (r.validation) {
    case event::ValidationMode::kReport:
      out << "  validation: report (events failing the reference field rules are routed and "
             "counted)\n";
      break;
    case event::ValidationMode::kStrict:
      out << "  validation: strict (events failing the reference field rules are dead-lettered)\n";
      break;
    case event::ValidationMode::kOff: out << "  validation: off\n"; break;
  }
  if (r.schema_mode == SchemaMode::kStrict) {
    out << "  schema_mode: strict (events failing their type's schema are dead-lettered; "
           "types with a schema: ";
    const auto types = r.schemas ? r.schemas->types() : std::vector<std::string>{};
    for (std::size_t i = 0; i < types.size(); ++i) out << (i ? ", " : "") << types[i];
    out << ")\n";
  } else {
    out << "  schema_mode: off\n";
  }
  out << "  event types: ";
  if (r.event_types.empty()) out << "any";
  for (std::size_t i = 0; i < r.event_types.size(); ++i) out << (i ? ", " : "") << r.event_types[i];
  out << "\n  key: " << r.key_field << "\n";
  int n = 0;
  for (const auto& rule : r.rules) {
    out << "  " << ++n << ". " << rule.name << ": ";
    if (rule.when.empty()) out << "every event";
    for (std::size_t i = 0; i < rule.when.size(); ++i) {
      const auto& c = rule.when[i];
      out << (i ? " and " : "") << c.field;
      switch (c.kind) {
        case Condition::Kind::kEquals: out << " = " << c.values[0]; break;
        case Condition::Kind::kIn: {
          out << " in [";
          for (std::size_t j = 0; j < c.values.size(); ++j) out << (j ? ", " : "") << c.values[j];
          out << "]";
          break;
        }
        case Condition::Kind::kExists: out << " exists"; break;
        case Condition::Kind::kAbsent: out << " is absent"; break;
        default: break;
      }
    }
    out << " -> " << rule.topic.source;
    if (!rule.cluster.empty()) out << " on cluster " << rule.cluster;
    for (const auto& [k, v] : rule.defaults) out << "  (" << k << " defaults to " << v << ")";
    for (const auto& [k, vs] : rule.allowed) {
      out << "  (" << k << " in {";
      bool first = true;
      for (const auto& v : vs) {
        out << (first ? "" : ", ") << v;
        first = false;
      }
      out << "})";
    }
    out << "\n";
  }
  out << "  otherwise / on error: dead-letter -> " << s.dead_letter_topic << "\n";
  if (!r.clusters.empty()) {
    out << "  clusters: rules without one send to [kafka]; declared:";
    for (const auto& c : r.clusters) out << " " << c;
    out << "\n";
  }
  out << "  missing target topics at start-up: " << s.missing_topics << "\n";
  out << "  rules version: " << rules_version(canonical_rules(r, s.dead_letter_topic)) << "\n";
  return out.str();
}

// `pemx route`: one JSON line out per line in.
int route_tool(const Settings& s, std::istream& in, std::ostream& out) {
  Router router(s.routing);
  bool clustered = false;
  for (const auto& rule : s.routing.rules) clustered = clustered || !rule.cluster.empty();
  std::string line;
  std::size_t n = 0;
  Decision d;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    router.route(line, d);
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("line");
    w.Uint64(n);
    if (!d.event_id.empty()) {
      w.Key("eventId");
      w.String(d.event_id.c_str());
    }
    if (d.dead_letter()) {
      w.Key("topics");
      w.StartArray();
      w.String(s.dead_letter_topic.c_str());
      w.EndArray();
      w.Key("dead_letter");
      w.String(d.reason.c_str());
      w.Key("detail");
      w.String(d.detail.c_str());
    } else {
      w.Key("key");
      w.String(d.key.c_str());
      w.Key("topics");
      w.StartArray();
      for (const auto& t : d.topics) w.String(t.c_str());
      w.EndArray();
      if (clustered) {  // each topic's cluster, when a rule names one
        w.Key("clusters");
        w.StartArray();
        for (std::size_t i = 0; i < d.topics.size(); ++i) {
          const std::size_t c = d.clusters.empty() ? 0 : d.clusters[i];
          const std::string_view name =
              c == 0 ? kafka::kMainCluster : std::string_view(s.routing.clusters[c - 1]);
          w.String(name.data(), static_cast<rapidjson::SizeType>(name.size()));
        }
        w.EndArray();
      }
    }
    w.EndObject();
    out << buf.GetString() << "\n";
  }
  return 0;
}

class Spec final : public StageSpec {
 public:
  explicit Spec(Settings s) : s_(std::move(s)), box_(std::make_shared<RulesBox>(compile(s_))) {}
  std::vector<QueuePort> ports() const override {
    return {{s_.input, PortDirection::kIn}, {s_.output, PortDirection::kOut}};
  }
  // The dead-letter topic, fixed topics and every combination of allowed values.
  std::vector<std::string> topics() const override { return all_targets(s_).topics; }
  std::optional<TargetTopics> target_topics() const override {
    if (s_.missing_topics == "off") return std::nullopt;
    PossibleTopics possible = all_targets(s_);
    TargetTopics targets;
    targets.topics = std::move(possible.topics);
    targets.unchecked = std::move(possible.unchecked);
    targets.on_missing = s_.missing_topics == "fail" ? TargetTopics::OnMissing::kFail
                                                     : TargetTopics::OnMissing::kWarn;
    targets.cluster_topics = std::move(possible.cluster_topics);
    targets.timeout = s_.missing_topics_timeout;
    return targets;
  }
  std::string describe() const override { return describe_rules(s_); }
  DeliveryRole delivery() const override { return DeliveryRole::kForwards; }
  int run_tool(const std::string& tool, std::istream& in, std::ostream& out) const override {
    return tool == "route" ? route_tool(s_, in, out) : -1;
  }
  std::shared_ptr<EventCheck> event_check() const override {
    return std::make_shared<RouterCheck>(box_);
  }
  std::shared_ptr<LiveRules> live_rules() const override { return box_; }
  std::unique_ptr<Stage> create(StageContext& ctx) const override {
    return std::make_unique<RulesRouter>(s_, box_, ctx);
  }

 private:
  Settings s_;
  std::shared_ptr<RulesBox> box_;  // the rules the stage and the push check run with
};

std::optional<Condition> parse_condition(ConfigSection& rule, const toml::node& node,
                                         const std::string& key) {
  Condition c;
  if (node.is_string() && *node.value<std::string>() == "*") return c;
  const toml::table* t = node.as_table();
  if (t == nullptr) {
    rule.error(key, "expected \"*\" or a table such as { field = \"eventType\", equals = "
                    "\"Country\" } (or an array of such tables, all of which must hold)");
    return std::nullopt;
  }
  ConfigSection s(t, rule.key_path(key), rule.file(), &rule.errors());
  c.field = s.string("field", "");
  if (c.field.empty()) s.error("field", "missing: the dotted path of the field to test");
  int forms = 0;
  if (auto v = s.optional_string("equals")) {
    c.kind = Condition::Kind::kEquals;
    c.values = {*v};
    ++forms;
  }
  if (s.has("in")) {
    c.kind = Condition::Kind::kIn;
    c.values = s.string_list("in", {});
    if (c.values.empty()) s.error("in", "must list at least one value");
    ++forms;
  }
  if (s.has("exists")) {
    c.kind = s.boolean("exists", true) ? Condition::Kind::kExists : Condition::Kind::kAbsent;
    ++forms;
  }
  if (forms != 1) s.error_here("needs exactly one of equals, in, exists");
  s.reject_unknown();
  return forms == 1 ? std::optional<Condition>(c) : std::nullopt;
}

std::unique_ptr<StageSpec> parse(ConfigSection& section, const CommonConfig& common) {
  Settings s;
  s.routing.limits = common.events;
  s.input = section.string("input", s.input);
  s.output = section.string("output", s.output);
  s.dead_letter_topic = section.string("dead_letter_topic", s.dead_letter_topic);
  if (auto p = kafka::topic_name_problem(s.dead_letter_topic)) section.error("dead_letter_topic", *p);
  s.missing_topics = section.one_of("missing_topics", s.missing_topics, {"fail", "warn", "off"});
  s.missing_topics_timeout =
      section.duration("missing_topics_timeout", s.missing_topics_timeout,
                       std::chrono::milliseconds(100), std::chrono::minutes(10));
  if (section.node("validate") != nullptr) {
    section.error("validate", "replaced by validation = \"report\" (route events failing the "
                              "reference's field rules and count them: the default), \"strict\" "
                              "(dead-letter them: what validate = true did) or \"off\" (what "
                              "validate = false did)");
  }
  s.routing.validation = *event::parse_validation_mode(section.one_of(
      "validation", std::string(event::validation_mode_name(s.routing.validation)),
      {std::begin(event::kValidationModeNames), std::end(event::kValidationModeNames)}));
  s.routing.event_types = section.string_list("event_types", {});
  s.routing.schemas = common.schemas;
  if (section.one_of("schema_mode", "off", {"off", "strict"}) == "strict") {
    s.routing.schema_mode = SchemaMode::kStrict;
    if (!common.schemas) {
      section.error("schema_mode", "\"strict\" needs schemas to apply: name a JSON Schema "
                                   "file per eventType in [schemas] (docs/configuration.md)");
    }
  }
  s.routing.key_field = section.string("key_field", s.routing.key_field);
  for (const auto& c : common.clusters) s.routing.clusters.push_back(c.name);
  std::size_t i = 0;
  for (auto& rs : section.table_array("rules")) {
    Rule rule;
    rule.name = rs.string("name", "rule" + std::to_string(++i));
    auto topic = rs.optional_string("topic");
    if (!topic) {
      if (!rs.has("topic")) rs.error_here("missing topic = \"…\" (a template such as \"country-{data.country}\")");
    } else if (auto err = TopicTemplate::parse(*topic, rule.topic)) {
      rs.error("topic", "\"" + *topic + "\": " + *err);
    }
    if (const toml::node* m = rs.node("match")) {
      if (const toml::array* arr = m->as_array()) {
        for (std::size_t j = 0; j < arr->size(); ++j) {
          if (auto c = parse_condition(rs, *arr->get(j), "match[" + std::to_string(j) + "]")) {
            if (c->kind != Condition::Kind::kAny) rule.when.push_back(*c);
          }
        }
      } else if (auto c = parse_condition(rs, *m, "match")) {
        if (c->kind != Condition::Kind::kAny) rule.when.push_back(*c);
      }
    } else {
      rs.error_here("missing match = … (\"*\" for every event)");
    }
    for (const auto& [k, v] : rs.string_map("defaults")) rule.defaults[k] = v;
    if (auto allowed = rs.table("allowed")) {
      for (const auto& [k, v] : *rs.node("allowed")->as_table()) {
        auto values = allowed->string_list(k.str(), {});
        rule.allowed[std::string(k.str())] = {values.begin(), values.end()};
      }
    }
    if (auto cluster = rs.optional_string("cluster")) {
      rule.cluster = *cluster == kafka::kMainCluster ? std::string() : *cluster;
      if (cluster_number(s.routing.clusters, rule.cluster) < 0) {
        std::string hint = nearest(rule.cluster, s.routing.clusters);
        rs.error("cluster", "rule \"" + rule.name + "\": no cluster \"" + *cluster +
                                "\" is declared; add [clusters." + *cluster +
                                "] with its brokers" +
                                (hint.empty() ? std::string() : ", or did you mean \"" + hint + "\"?") +
                                " (without `cluster` a rule sends to the [kafka] cluster)");
      }
    }
    rs.reject_unknown();
    s.routing.rules.push_back(std::move(rule));
  }
  if (!section.has_errors()) {
    for (const auto& problem : check_routing(s.routing)) section.error("rules", problem);
  }
  return std::make_unique<Spec>(std::move(s));
}

}  // namespace

StageFactory factory() {
  return {"rules_router", "routes events to topics by the rules in its config section", &parse};
}

}  // namespace pemx::rules_router
