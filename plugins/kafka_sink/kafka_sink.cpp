// kafka_sink stage: delivers each routed record to every one of its target topics with an
// idempotent producer (acks=all), and hands the record back on its ack queue once every
// output is acknowledged by the broker. Failed outputs are produced again after a backoff
// (the retry helper's arithmetic); a record is never acknowledged before all its outputs are,
// with one exception: an output whose topic stays unavailable (unknown, not authorised,
// refused by the broker) for `unavailable_topic_timeout` is replaced by a dead letter, so that
// one record cannot block its input partition for good (README.md, "Failures").
//
// Several clusters ([clusters.<name>], a rule's `cluster`): one producer per cluster, made at
// construction, each with its own topic handles, unavailable-topic clocks and metrics; an
// output goes to the producer of its cluster (Record::target_clusters), and the record is
// handed back once every output on every cluster is acknowledged (one `pending` count).
//
// A fatal producer error (librdkafka 2.0.2's idempotent sequence desynchronization after a
// broker failure) with at-least-once delivery: the sink replaces that producer with a new one
// made the same way and produces its unacknowledged outputs again, in their records' order
// (restart_producer); past kMaxProducerRestarts within kRestartWindow it is fatal, as it
// always is with exactly_once.
//
// Threads: one worker thread pops records, produces, and serves delivery reports
// (rd_kafka_poll runs the delivery callback on this same thread, so the records' bookkeeping
// needs no lock). The supervisor's thread calls the lifecycle methods.
#include "kafka_sink/kafka_sink.hpp"

#include <librdkafka/rdkafka.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "core/config.hpp"
#include "core/check.hpp"
#include "core/config_section.hpp"
#include "core/retry.hpp"
#include "core/worker.hpp"
#include "kafka/client.hpp"
#include "kafka/factory.hpp"
#include "kafka/group_instance.hpp"
#include "kafka/properties_config.hpp"
#include "kafka/sizing.hpp"
#include "kafka/topic_name.hpp"

namespace pemx::kafka_sink {

namespace {

struct Settings {
  std::string input = "routed";
  std::string acks = "acks";
  kafka::KafkaConfig kafka;
  std::vector<kafka::ClusterConfig> clusters;  // [clusters.*]: a producer on each too
  kafka::Properties properties;  // producer-specific overrides (every cluster's producer)
  std::size_t min_message_bytes = 0;  // events.max_bytes plus PEMX's headers
  // Records produced but not yet fully acknowledged (kafka/sizing.hpp).
  std::int64_t max_in_flight = kafka::kSinkMaxInFlight;
  RetryPolicy retry{std::chrono::milliseconds(200), std::chrono::seconds(10), 2.0, 0};
  // An output whose topic stays unavailable this long is dead-lettered to dead_letter_topic.
  std::chrono::milliseconds unavailable_topic_timeout{std::chrono::seconds(60)};
  std::string dead_letter_topic = "product-event-dlq-pemx";
  // delivery = "exactly_once": every output in a Kafka transaction with its inputs' offsets
  // (docs/architecture.md, "Exactly-once").
  bool exactly_once = false;
  std::string transactional_id;  // default: pemx-<host name>-<stage name>
  std::chrono::milliseconds transaction_timeout{std::chrono::seconds(60)};
};

inline constexpr std::string_view kTopicUnavailable = "topic_unavailable";

class KafkaSink final : public Stage {
 public:
  KafkaSink(const Settings& s, StageContext& ctx)
      : s_(s),
        log_(ctx.log),
        fatal_(ctx.fatal),
        stage_name_(ctx.name),
        input_(ctx.queue(s.input)),
        acks_(ctx.queue(s.acks)),
        backoff_(s.retry),
        warn_limit_(5),
        worker_(thread_owner(ctx)) {
    Labels stage = {{"stage", ctx.name}};
    Metrics& m = *ctx.metrics;
    records_done_ = &m.counter("pemx_kafka_sink_records_acked_total",
                               "Records whose every output (on every cluster) is acknowledged",
                               stage);
    for (const char* outcome : {"committed", "aborted"}) {
      transactions_[outcome == std::string_view("committed") ? 0 : 1] =
          &m.counter("pemx_kafka_sink_transactions_total",
                     "Transactions ended (delivery = exactly_once)",
                     {{"stage", ctx.name}, {"outcome", outcome}});
    }
    m.gauge_fn("pemx_kafka_sink_in_flight", "Records awaiting acknowledgement", stage,
               [this] { return static_cast<double>(in_flight_.load()); });

    // The main cluster's producer, then one per [clusters.*], numbered as the router numbers
    // them (Record::target_clusters).
    add_cluster(ctx, std::string(kafka::kMainCluster), ctx.kafka_brokers, s.kafka.client_id,
                s.kafka.properties);
    for (const auto& c : s.clusters) add_cluster(ctx, c.name, c.brokers, c.client_id, c.properties);
    if (clusters_.size() > 1) wake_on_reports();
  }

  void start() override {
    if (s_.exactly_once) init_transactions();
    worker_.start([this](std::stop_token st) { run(st); });
  }
  void stop_accepting() noexcept override {}
  bool drain(const Deadline& deadline) noexcept override { return worker_.wait_done(deadline); }
  void stop() noexcept override {
    worker_.stop();
    acks_.close();
  }

 private:
  // A cluster's producer as other threads see it: the target check (the supervisor's and the
  // reload's threads; the role's TopicDirectory) and the test hook. The worker replaces the
  // producer after a fatal error (restart_producer) under the lock; its own reads of
  // Cluster::producer need none (it is the only writer).
  class ProducerDirectory final : public TopicDirectory {
   public:
    Result<TopicSet> topics(std::chrono::milliseconds timeout) override {
      std::lock_guard<std::mutex> lock(mutex);
      if (rk == nullptr) return Error{"metadata", "the sink's producer is gone (stopping)"};
      return kafka::list_topics(rk, timeout);
    }
    std::mutex mutex;
    rd_kafka_t* rk = nullptr;  // under mutex
  };

  // One cluster's producer and what belongs to it (worker thread only, but for the metrics).
  // Its address is the producer's opaque: a delivery report names its cluster.
  struct Cluster {
    Cluster() = default;
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;
    ~Cluster() {  // the directory may outlive the stage (the supervisor holds it)
      std::lock_guard<std::mutex> lock(directory->mutex);
      directory->rk = nullptr;
    }
    KafkaSink* sink = nullptr;
    std::uint8_t number = 0;  // 0: [kafka]; n: the n-th [clusters.*]
    std::string name;         // "kafka" or the [clusters.<name>]
    Counter* delivered = nullptr;
    Counter* retries = nullptr;
    Counter* failures = nullptr;
    Counter* dead_lettered = nullptr;
    Histogram* latency = nullptr;
    Counter* restarts = nullptr;
    // At-least-once: the producer raised a fatal error and is replaced at the worker loop's
    // next turn (restart_producer); until then its failed outputs wait in resend_.
    bool restart_pending = false;
    bool restart_failed = false;  // given up (reported fatal): no more restarts
    std::deque<Clock::time_point> restarted_at;  // the restarts within kRestartWindow
    kafka::ProducerSettings settings;  // how the producer was made: a restart makes the same
    std::shared_ptr<ProducerDirectory> directory = std::make_shared<ProducerDirectory>();
    // Topics whose outputs failed as unavailable, and since when; cleared by a delivery to it
    // or another kind of failure. Bounded: past it, each output keeps its own clock only.
    std::map<std::string, Clock::time_point, std::less<>> unavailable_topics;
    kafka::HandlePtr producer;
    // After producer: the handles go before the client. Bounded (see topic_handle).
    std::unordered_map<std::string, kafka::TopicPtr> topic_handles;
    // Several clusters: the producer's main queue, which writes to wake_ (wake_on_reports).
    kafka::QueuePtr main_queue;
  };

  // The pipe the producers' main queues write their cluster's number to (several clusters
  // only). Closed after the producers are destroyed: librdkafka's threads write to it until
  // then.
  struct WakePipe {
    int read_fd = -1;
    int write_fd = -1;
    WakePipe() = default;
    WakePipe(const WakePipe&) = delete;
    WakePipe& operator=(const WakePipe&) = delete;
    ~WakePipe() {
      if (read_fd >= 0) ::close(read_fd);
      if (write_fd >= 0) ::close(write_fd);
    }
  };
  // Each producer is served at least this often with several clusters (serve_woken).
  static constexpr auto kSweepEvery = std::chrono::seconds(1);

  void add_cluster(StageContext& ctx, const std::string& name, const std::string& brokers,
                   const std::string& client_id, const kafka::Properties& cluster_properties) {
    auto c = std::make_unique<Cluster>();
    c->sink = this;
    c->number = static_cast<std::uint8_t>(clusters_.size());
    c->name = name;
    Metrics& m = *ctx.metrics;
    Labels labels = {{"stage", ctx.name}, {"cluster", name}};
    c->delivered = &m.counter("pemx_kafka_sink_delivered_total",
                              "Output messages acknowledged by the broker", labels);
    c->retries = &m.counter("pemx_kafka_sink_retries_total",
                            "Outputs produced again after a failure", labels);
    c->failures = &m.counter("pemx_kafka_sink_delivery_failures_total",
                             "Delivery reports with an error", labels);
    c->dead_lettered = &m.counter(
        "pemx_kafka_sink_dead_lettered_total", "Outputs replaced by a dead letter",
        {{"stage", ctx.name}, {"cluster", name}, {"reason", std::string(kTopicUnavailable)}});
    c->latency = &m.histogram("pemx_kafka_sink_produce_latency_seconds",
                              "From produce to broker acknowledgement", labels);
    c->restarts = &m.counter("pemx_kafka_sink_producer_restarts_total",
                             "Producers replaced after a fatal error (at_least_once)", labels);

    const bool main = clusters_.empty();
    kafka::ProducerSettings p;
    p.kafka = s_.kafka;
    p.kafka.brokers = brokers;
    p.kafka.client_id = client_id;
    p.kafka.properties = cluster_properties;
    p.defaults = kafka::sink_producer_defaults();
    p.properties = s_.properties;
    if (s_.exactly_once) {  // one cluster only (the loader refuses [clusters] with it)
      p.properties.emplace_back("transactional.id", s_.transactional_id);
      p.properties.emplace_back("transaction.timeout.ms",
                                std::to_string(s_.transaction_timeout.count()));
    }
    p.min_message_bytes = s_.min_message_bytes;
    p.opaque = c.get();
    p.on_delivery = &KafkaSink::on_delivery;
    // Served by rd_kafka_poll on the worker thread, which owns the open transaction's state
    // and the clusters' restart state.
    Cluster* raw = c.get();
    p.errors = kafka::ErrorPolicy{main ? "producer" : "producer (cluster " + name + ")", fatal_,
                                  [this, raw](int err) {
                                    if (!s_.exactly_once) return restarts_hint(*raw);
                                    return fenced_hint(static_cast<rd_kafka_resp_err_t>(err));
                                  },
                                  main ? "[kafka.properties]"
                                       : "[clusters." + name + ".properties]"};
    if (!s_.exactly_once) {
      p.errors->recover = [this, raw](int, const std::string&) { return restart_wanted(*raw); };
    }
    p.log = {ctx.log, main ? ctx.name : ctx.name + "/" + name, ctx.readiness, true, fatal_,
             main ? "kafka.brokers" : "clusters." + name + ".brokers"};
    c->settings = std::move(p);
    auto client = kafka::make_producer(c->settings);
    if (!client) {
      throw std::runtime_error("kafka_sink: " + (main ? std::string() : "cluster " + name + ": ") +
                               client.error().message);
    }
    c->producer = std::move(client.value());
    c->directory->rk = c->producer.get();  // no other thread has it yet
    // The role's target check asks each cluster's topics through this stage's producer on it
    // (before start, and on reload, while this stage lives; a restart's new producer then).
    if (main && ctx.topic_directory != nullptr && !*ctx.topic_directory) {
      *ctx.topic_directory = c->directory;
    }
    if (!main && ctx.cluster_directories != nullptr && !(*ctx.cluster_directories)[name]) {
      (*ctx.cluster_directories)[name] = c->directory;
    }
    clusters_.push_back(std::move(c));
  }

  // Several clusters: each producer's main queue (its delivery reports and client errors)
  // writes the cluster's number to wake_ when an event arrives on it after it was last served
  // (rd_kafka_queue_io_event_enable: one byte per quiet period), so that poll() waits on one
  // descriptor and serves only the producers that have something, whatever the number of
  // clusters (it used to call rd_kafka_poll on each in turn, with 1 ms waits).
  void wake_on_reports() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
      throw std::runtime_error(std::string("kafka_sink: pipe2: ") + std::strerror(errno));
    }
    wake_.read_fd = fds[0];
    wake_.write_fd = fds[1];
    for (auto& c : clusters_) wake_on_reports(*c);
    next_sweep_ = Clock::now() + kSweepEvery;
  }
  void wake_on_reports(Cluster& c) {
    c.main_queue.reset(rd_kafka_queue_get_main(c.producer.get()));
    const auto number = static_cast<char>(c.number);
    rd_kafka_queue_io_event_enable(c.main_queue.get(), wake_.write_fd, &number, 1);
  }

  // The main cluster's producer: the only one with delivery = "exactly_once".
  rd_kafka_t* main_producer() const { return clusters_.front()->producer.get(); }

  // Serves the delivery reports of every producer, waiting up to `ms` for one. One cluster:
  // rd_kafka_poll as ever. Several: the producers named on wake_ (wake_on_reports), else a
  // wait on wake_ for up to `ms`, then those named; so that no cluster's reports wait out a
  // wait spent on another, and an idle sink costs the same whatever the number of clusters.
  int poll(int ms) {
    if (clusters_.size() == 1) return serve_reports(main_producer(), ms);
    int served = serve_woken();
    if (served > 0 || ms <= 0) return served;
    pollfd fd{wake_.read_fd, POLLIN, 0};
    ::poll(&fd, 1, ms);  // an error or EINTR: served below as a timeout is
    return serve_woken();
  }

  // Reads wake_ and serves the producers it names (rd_kafka_poll, through serve_reports,
  // serves everything queued and re-arms the queue's wake-up). Every kSweepEvery each
  // producer is served anyway: a safety net should a wake-up byte be lost (wake_ full, which
  // a served sink never lets happen).
  int serve_woken() {
    std::array<bool, kafka::kMaxClusters + 1> woken{};
    char bytes[256];
    for (ssize_t n; (n = ::read(wake_.read_fd, bytes, sizeof bytes)) > 0;) {
      for (ssize_t i = 0; i < n; ++i) {
        const auto number = static_cast<unsigned char>(bytes[i]);
        if (number < woken.size()) woken[number] = true;
      }
    }
    const auto now = Clock::now();
    const bool sweep = now >= next_sweep_;
    if (sweep) next_sweep_ = now + kSweepEvery;
    int served = 0;
    for (auto& c : clusters_) {
      if (sweep || woken[c->number]) served += serve_reports(c->producer.get(), 0);
    }
    return served;
  }

  // Every rd_kafka_poll of the sink goes through here: the delivery reports one poll serves
  // come back to back, so they share one clock read for the latency metric (taken by the
  // first of them) instead of one per output. Reports served elsewhere (rd_kafka_flush, a
  // transaction's commit, which can wait long between reports) read the clock each.
  int serve_reports(rd_kafka_t* producer, int ms) {
    report_clock_ = Clock::time_point{};
    serving_reports_ = true;
    const int served = rd_kafka_poll(producer, ms);
    serving_reports_ = false;
    return served;
  }
  Clock::time_point report_clock() {
    if (!serving_reports_) return Clock::now();
    if (report_clock_ == Clock::time_point{}) report_clock_ = Clock::now();
    return report_clock_;
  }

  // One output of a record off the happy path: produced again after a failure, or a dead
  // letter that replaces it. Allocated only on a failure; a first attempt's message carries
  // the bare Record* as its opaque, an Attempt's message carries the Attempt* tagged in its
  // lowest bit (both are at least 8-byte aligned), and owns it until its delivery report.
  struct Attempt {
    Record* record = nullptr;
    std::uint8_t cluster = 0;              // whose producer takes it (Record::target_clusters)
    std::uint8_t unavailable_cluster = 0;  // a dead letter's: the intended output's cluster
    std::string topic;                     // where this attempt goes
    Clock::time_point due{};               // when to produce it again
    Clock::time_point unavailable_since{};  // start of an unbroken run of "unavailable" failures
    std::string unavailable_topic;          // non-empty: a dead letter for this topic
    std::string detail;                     // the dead letter's pemx-dlq-detail
    bool dead_letter() const { return !unavailable_topic.empty(); }
  };
  using AttemptPtr = std::unique_ptr<Attempt>;
  // The attempt a first output becomes when it has to be produced again.
  static AttemptPtr first_attempt(Record* rec, std::uint8_t cluster, std::string topic) {
    auto a = std::make_unique<Attempt>();
    a->record = rec;
    a->cluster = cluster;
    a->topic = std::move(topic);
    return a;
  }
  static void* tag(Attempt* a) {
    PEMX_CHECK((reinterpret_cast<std::uintptr_t>(a) & 1u) == 0,
               "an Attempt is at least 2-byte aligned, so its lowest bit can tag it");
    return reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(a) | 1u);
  }
  static bool tagged(void* opaque) {
    return (reinterpret_cast<std::uintptr_t>(opaque) & 1u) != 0;
  }
  static Attempt* untag(void* opaque) {
    return reinterpret_cast<Attempt*>(reinterpret_cast<std::uintptr_t>(opaque) &
                                      ~std::uintptr_t{1});
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* cluster = static_cast<Cluster*>(opaque);
    cluster->sink->delivered(*cluster, m);
  }

  void delivered(Cluster& cluster, const rd_kafka_message_t* m) {
    AttemptPtr attempt;
    Record* rec = nullptr;
    if (tagged(m->_private)) {
      attempt.reset(untag(m->_private));  // the message owned it; now this report does
      rec = attempt->record;
    } else {
      rec = static_cast<Record*>(m->_private);
    }
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      cluster.delivered->inc();
      if (!cluster.unavailable_topics.empty()) {  // it takes messages again
        auto& topics = cluster.unavailable_topics;
        if (auto it = topics.find(std::string_view(rd_kafka_topic_name(m->rkt)));
            it != topics.end()) {
          topics.erase(it);
        }
      }
      cluster.latency->observe(
          std::chrono::duration<double>(report_clock() - rec->sent_at).count());
      if (--rec->pending == 0 && rec->failed == 0) finish(rec);
      return;
    }
    cluster.failures->inc();
    std::string topic = rd_kafka_topic_name(m->rkt);
    if (s_.exactly_once) {
      // In a transaction a failed output cannot be produced again on its own: the whole
      // transaction is aborted and its batch redone (end_transaction).
      transaction_failed_ = true;
      if (warn_limit_.allow()) {
        log_.warn("delivery failed; the transaction will be aborted and its batch redone",
                  {{"topic", topic}, {"error", rd_kafka_err2str(m->err)},
                   {"eventId", rec->event_id}});
      }
      transaction_output_failed(*rec, topic, attempt && attempt->dead_letter(), m->err,
                                rd_kafka_err2str(m->err));
      if (--rec->pending == 0) finish(rec);
      return;
    }
    if (collecting(cluster)) {  // produced again by the producer that replaces this one
      --rec->pending;
      ++rec->failed;
      if (!attempt) attempt = first_attempt(rec, cluster.number, std::move(topic));
      resend_.push_back(std::move(attempt));
      return;
    }
    if (warn_limit_.allow()) {
      log_.warn("delivery failed; will produce again", {{"topic", topic},
                                                        {"cluster", cluster.name},
                                                        {"error", rd_kafka_err2str(m->err)},
                                                        {"eventId", rec->event_id}});
    }
    --rec->pending;
    if (!attempt) attempt = first_attempt(rec, cluster.number, std::move(topic));
    schedule(std::move(attempt), m->err, rd_kafka_err2str(m->err));
  }

  // An output failed (a refusal or a failed delivery): it is produced again after a backoff,
  // or, once its topic has been unavailable for unavailable_topic_timeout, replaced by a dead
  // letter produced at once. Either way the record stays unfinished until that is acknowledged.
  void schedule(AttemptPtr a, rd_kafka_resp_err_t code, const char* error) {
    Record* rec = a->record;
    ++rec->failed;
    const auto now = Clock::now();
    auto& unavailable_topics = clusters_[a->cluster]->unavailable_topics;
    // A dead letter is never dead-lettered again: there is nowhere else to put it.
    const bool may_dead_letter = !a->dead_letter() && !rec->dead_lettered() &&
                                 !(a->cluster == 0 && a->topic == s_.dead_letter_topic);
    if (topic_unavailable(code) && may_dead_letter) {
      if (a->unavailable_since == Clock::time_point{}) {
        // A topic known to be unavailable for a while (other records' outputs) counts from
        // then: a flood of events for a dead topic is dead-lettered at once rather than each
        // waiting out the timeout (which would hold commits and fill max_in_flight).
        auto it = unavailable_topics.find(a->topic);
        if (it != unavailable_topics.end()) {
          a->unavailable_since = it->second;
        } else {
          a->unavailable_since = now;
          if (unavailable_topics.size() < kMaxUnavailableTopics) {
            unavailable_topics.emplace(a->topic, now);
          }
        }
      }
      if (now - a->unavailable_since >= s_.unavailable_topic_timeout) {
        dead_letter(*a, code, error);
        a->due = now;
        retries_due_.push_back(std::move(a));
        return;
      }
    } else {
      a->unavailable_since = {};  // any other failure: not (known to be) the topic's fault
      if (!unavailable_topics.empty()) unavailable_topics.erase(a->topic);
    }
    if ((a->dead_letter() || !may_dead_letter) && topic_unavailable(code) && error_limit_.allow()) {
      log_.error("dead-letter topic unavailable; will produce again until it is available",
                 {{"topic", a->topic}, {"cluster", clusters_[a->cluster]->name},
                  {"error", error}, {"eventId", rec->event_id},
                  {"fix", "create the topic or grant this producer Write on it"}});
    }
    // Per record: one failed request of many messages must not push every retry to the cap.
    a->due = now + backoff_.delay(rec->retries++);
    // An unavailable topic is tried once more when its time is up, so that the dead letter
    // follows the timeout closely rather than up to a whole backoff later.
    if (a->unavailable_since != Clock::time_point{}) {
      a->due = std::min(a->due, a->unavailable_since + s_.unavailable_topic_timeout);
    }
    retries_due_.push_back(std::move(a));
  }

  // Turns a failing output into the dead letter that replaces it: same key, value and headers,
  // plus the reason headers, to dead_letter_topic.
  void dead_letter(Attempt& a, rd_kafka_resp_err_t code, const char* error) {
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        Clock::now() - a.unavailable_since);
    a.detail = "topic \"" + a.topic + "\" unavailable for " + std::to_string(waited.count()) +
               " ms (unavailable_topic_timeout " +
               std::to_string(s_.unavailable_topic_timeout.count()) + " ms): " +
               rd_kafka_err2name(code) + ": " + error;
    a.unavailable_topic = std::move(a.topic);
    a.topic = s_.dead_letter_topic;
    a.unavailable_cluster = a.cluster;
    a.cluster = 0;  // dead letters go to the main cluster, as the router's do
    a.unavailable_since = {};
    clusters_[a.unavailable_cluster]->dead_lettered->inc();
    log_.error("output dead-lettered: its topic stayed unavailable",
               {{"reason", std::string(kTopicUnavailable)},
                {"topic", a.unavailable_topic},
                {"cluster", clusters_[a.unavailable_cluster]->name},
                {"dead_letter_topic", a.topic},
                {"detail", a.detail},
                {"source_topic", a.record->topic},
                {"partition", static_cast<std::int64_t>(a.record->partition)},
                {"offset", a.record->offset},
                {"eventId", a.record->event_id},
                {"fix", "create the topic or grant this producer Write on it, then replay the "
                        "dead letter"}});
  }

  // Every output acknowledged: hand the record back so its offset can be committed.
  void finish(Record* raw) {
    RecordPtr rec(raw);
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    records_done_->inc();
    if (s_.exactly_once) {  // handed back with the transaction's outcome
      transaction_records_.push_back(std::move(rec));
      return;
    }
    if (!acks_.try_push(rec)) finished_.push_back(std::move(rec));
  }

  // --- A fatal producer error (at_least_once) ------------------------------------------------
  // An idempotent producer that raised a fatal error (librdkafka 2.0.2's "sequence
  // desynchronization" after a broker failure, fixed in 2.3.0) refuses every produce for
  // good. With at-least-once delivery the sink replaces it instead of stopping the process:
  // README.md, "A fatal producer error". With exactly_once a fatal error stays fatal.

  // A producer replaced more often than this within kRestartWindow is reported fatal (exit 1,
  // as before): a cluster that keeps breaking producers needs the operator, not a loop.
  static constexpr std::size_t kMaxProducerRestarts = 3;
  static constexpr auto kRestartWindow = std::chrono::minutes(10);
  // How long the old producer may take to report the messages it held (after the purge, at
  // once); past it, the restart is given up (fatal): their records could never be handed back.
  static constexpr auto kCollectBound = std::chrono::seconds(30);

  // Whether to replace the producer of `c` after its fatal error (worker thread: its error
  // callback, a failed report or a refused produce). Marks it for restart_producer.
  bool restart_wanted(Cluster& c) {
    if (s_.exactly_once || c.restart_failed) return false;
    if (c.restart_pending) return true;
    const auto now = Clock::now();
    while (!c.restarted_at.empty() && now - c.restarted_at.front() >= kRestartWindow) {
      c.restarted_at.pop_front();
    }
    if (c.restarted_at.size() >= kMaxProducerRestarts) return false;
    c.restart_pending = true;
    restart_due_ = true;
    return true;
  }

  // A failed report or a refused produce of `c`: true when it comes from a producer that is
  // to be replaced, so the output waits in resend_ for the new one.
  bool collecting(Cluster& c) {
    if (s_.exactly_once) return false;
    if (c.restart_pending) return true;
    return rd_kafka_fatal_error(c.producer.get(), nullptr, 0) != RD_KAFKA_RESP_ERR_NO_ERROR &&
           restart_wanted(c);
  }

  // The fatal error's hint once restarts are used up (ErrorPolicy::fatal_hint).
  std::string restarts_hint(const Cluster& c) const {
    if (c.restarted_at.size() < kMaxProducerRestarts) return {};
    return "the sink already replaced this producer " + std::to_string(c.restarted_at.size()) +
           " times in the last " +
           std::to_string(std::chrono::duration_cast<std::chrono::minutes>(kRestartWindow)
                              .count()) +
           " minutes after fatal errors; pemx stops (exit 1) and, restarted, produces what was "
           "not acknowledged again. If brokers keep failing, see docs/operations.md";
  }

  void restart_producers(const std::stop_token& st) {
    restart_due_ = false;
    for (auto& c : clusters_) {
      if (c->restart_pending && !st.stop_requested()) restart_producer(*c, st);
    }
  }

  // Replaces the producer of `c` after its fatal error. librdkafka 2.0.2 fails the messages
  // queued in a producer when it raises a fatal error (rd_kafka_set_fatal_error0 purges the
  // partition queues) but lets the requests in flight finish, and a retried one would wait in
  // its queue until message.timeout.ms: the purge here fails the in-flight and requeued ones
  // too, and the old producer's reports are served until it holds no message. Every failed
  // output is then in resend_ (delivered(), produce_blocking()); an acknowledged one counted
  // as usual. A new producer made with the same settings (a new producer id: its sequences
  // start again) produces them again, in the order the sink took their records, so each
  // partition keeps its order; an output the broker had written before the error (an
  // in-flight one) is written twice (at least once). Their records are handed back only once
  // the new producer's acknowledgements come, so the ingest commits what is durable.
  void restart_producer(Cluster& c, const std::stop_token& st) {
    rd_kafka_t* old = c.producer.get();
    char reason[512] = "";
    const rd_kafka_resp_err_t cause = rd_kafka_fatal_error(old, reason, sizeof reason);
    const auto give_up = Clock::now() + kCollectBound;
    for (int round = 0; rd_kafka_outq_len(old) > 0; ++round) {
      if (st.stop_requested()) return;  // stopping: the unacknowledged are redelivered
      if (Clock::now() >= give_up) {
        give_up_restart(c, std::string(reason) + "; " + std::to_string(rd_kafka_outq_len(old)) +
                               " messages still unreported after " +
                               std::to_string(kCollectBound.count()) + " s");
        return;
      }
      if (round % 10 == 0) {  // again each second: a request retried after the last purge
        rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      }
      serve_reports(old, 100);
    }
    auto fresh = kafka::make_producer(c.settings);
    if (!fresh) {
      give_up_restart(c, std::string(reason) + "; a new producer failed: " +
                             fresh.error().message);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(c.directory->mutex);
      c.topic_handles.clear();  // before their client
      c.main_queue.reset();
      c.producer = std::move(fresh.value());  // the old one's watch stops, then it is destroyed
      c.directory->rk = c.producer.get();
    }
    if (clusters_.size() > 1) wake_on_reports(c);
    c.restart_pending = false;
    c.restarted_at.push_back(Clock::now());
    c.restarts->inc();

    std::vector<AttemptPtr> again;
    auto mine = std::stable_partition(resend_.begin(), resend_.end(), [&](const AttemptPtr& a) {
      return a->cluster != c.number;
    });
    std::move(mine, resend_.end(), std::back_inserter(again));
    resend_.erase(mine, resend_.end());
    std::stable_sort(again.begin(), again.end(), [](const AttemptPtr& a, const AttemptPtr& b) {
      return a->record->sink_order < b->record->sink_order;
    });
    std::int64_t records = 0;
    for (std::size_t i = 0; i < again.size(); ++i) {
      if (i == 0 || again[i]->record != again[i - 1]->record) ++records;
    }
    log_.warn("producer replaced after a fatal error; its unacknowledged outputs are produced "
              "again (duplicates possible, none lost)",
              {{"cluster", c.name},
               {"code", rd_kafka_err2name(cause)},
               {"error", reason},
               {"records", records},
               {"outputs", static_cast<std::int64_t>(again.size())},
               {"restarts_in_window", static_cast<std::int64_t>(c.restarted_at.size())},
               {"restarts_allowed", static_cast<std::int64_t>(kMaxProducerRestarts)}});
    for (auto& a : again) {
      Record* rec = a->record;
      c.retries->inc();
      --rec->failed;
      ++rec->pending;  // guard, as in send()
      const std::uint8_t cluster = a->cluster;
      produce_blocking(rec, {}, cluster, std::move(a), st);
      if (--rec->pending == 0 && rec->failed == 0) finish(rec);
    }
  }

  // The restart failed: fatal, as before there were restarts. The collected outputs' records
  // are never handed back (their offsets never committed).
  void give_up_restart(Cluster& c, const std::string& why) {
    c.restart_pending = false;
    c.restart_failed = true;
    for (auto& a : resend_) {
      if (a->cluster == c.number) abandon(a->record);
    }
    resend_.erase(std::remove_if(resend_.begin(), resend_.end(),
                                 [&](const AttemptPtr& a) { return a->cluster == c.number; }),
                  resend_.end());
    const std::string what = c.number == 0 ? "producer" : "producer (cluster " + c.name + ")";
    log_.error("fatal " + what + " error", {{"error", why}, {"cluster", c.name}});
    fatal_("fatal " + what + " error: " + why);
  }

 public:
  // Test only (raise_fatal_error_for_test in kafka_sink.hpp).
  bool raise_fatal_error_for_test(std::size_t cluster, int err, const std::string& reason) {
    if (cluster >= clusters_.size()) return false;
    ProducerDirectory& d = *clusters_[cluster]->directory;
    std::lock_guard<std::mutex> lock(d.mutex);
    return d.rk != nullptr &&
           rd_kafka_test_fatal_error(d.rk, static_cast<rd_kafka_resp_err_t>(err),
                                     reason.c_str()) == RD_KAFKA_RESP_ERR_NO_ERROR;
  }

 private:
  // --- Exactly-once (delivery = "exactly_once") ---------------------------------------------
  // The ingest stage sends batches of records, each followed by a marker (Record::
  // end_of_transaction) carrying its consumer's group metadata. The first record of a batch
  // begins a transaction; every output goes into it; on the marker the sink waits for every
  // delivery report, sends the batch's next offsets with the group metadata, and commits. The
  // records, then the marker with the outcome, go back on the ack queue: the ingest stage
  // rewinds after an abort. A fatal error (a fenced producer: another instance with this
  // transactional.id started) is reported to the supervisor (exit 1; the restart recovers).

  enum class TxnStep { kOk, kAbort, kFatal };

  // Runs a transactional call: a retriable error is retried (a few times, with a backoff
  // spent serving the producer), an abortable one asks for an abort, a fatal one is reported.
  template <class Call>
  TxnStep transactional(const char* what, Call call, const std::stop_token& st) {
    for (int attempt = 0;; ++attempt) {
      rd_kafka_error_t* e = call();
      if (e == nullptr) return TxnStep::kOk;
      const std::string message = rd_kafka_error_string(e);
      const rd_kafka_resp_err_t code = rd_kafka_error_code(e);
      const bool fatal = rd_kafka_error_is_fatal(e) != 0;
      const bool abortable = rd_kafka_error_txn_requires_abort(e) != 0;
      const bool retriable = rd_kafka_error_is_retriable(e) != 0;
      rd_kafka_error_destroy(e);
      if (fatal || code == RD_KAFKA_RESP_ERR__FENCED ||
          code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
          code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH) {
        fenced_or_fatal(what, code, message);
        return TxnStep::kFatal;
      }
      if (retriable && !abortable && attempt < 10 && !st.stop_requested()) {
        clusters_.front()->retries->inc();
        log_.warn("transaction call failed; retrying",
                  {{"call", what}, {"error", message}, {"attempt", attempt + 1}});
        serve_reports(main_producer(), static_cast<int>(backoff_.delay(attempt).count()));
        continue;
      }
      log_.warn("transaction call failed; the transaction is aborted and its batch redone",
                {{"call", what}, {"error", message}, {"code", rd_kafka_err2name(code)}});
      return TxnStep::kAbort;
    }
  }

  static bool fencing(rd_kafka_resp_err_t code) {
    return code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
  }

  // Exactly-once: the broker fences a producer whose transaction outlived
  // transaction.timeout.ms too (it aborts the transaction and bumps the producer's epoch), and
  // librdkafka then reports the same "fenced by newer producer instance" as for a second
  // instance with this transactional.id. The open transaction's age tells which it was.
  // Empty when it is not a fencing error or the transaction was younger than the timeout.
  std::string fenced_hint(rd_kafka_resp_err_t code) const {
    if (!s_.exactly_once || !fencing(code) || !transaction_open_) return {};
    const auto age =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - transaction_began_);
    if (age < s_.transaction_timeout) return {};
    return "the open transaction was " + std::to_string(age.count()) +
           " ms old, longer than stages." + stage_name_ + ".transaction_timeout (" +
           std::to_string(s_.transaction_timeout.count()) +
           " ms): the broker aborted it and fenced this producer. Raise transaction_timeout "
           "above what a batch takes (or make batches smaller with the ingest's "
           "transaction_max_events and transaction_interval); a restart resumes from the last "
           "committed transaction";
  }

  void fenced_or_fatal(const char* what, rd_kafka_resp_err_t code, const std::string& message) {
    fatal_state_ = true;
    const bool fenced = fencing(code);
    if (std::string hint = fenced_hint(code); !hint.empty()) {
      log_.error("transaction timed out: the broker aborted it and fenced this producer",
                 {{"transactional_id", s_.transactional_id}, {"call", what},
                  {"error", message}, {"fix", hint}});
      fatal_("transaction outlived transaction_timeout (transactional_id " +
             s_.transactional_id + "): " + hint);
    } else if (fenced) {
      log_.error("transactional producer fenced: another producer started with the same "
                 "transactional_id, so this instance must stop; its open transaction is aborted "
                 "and the newer one carries on",
                 {{"transactional_id", s_.transactional_id}, {"call", what}, {"error", message},
                  {"fix", "if both instances are meant to run, give each its own "
                          "stages.<sink>.transactional_id"}});
      fatal_("producer fenced (transactional_id " + s_.transactional_id + "): " + message);
    } else {
      log_.error("fatal transactional producer error", {{"call", what}, {"error", message}});
      fatal_("fatal transactional producer error in " + std::string(what) + ": " + message);
    }
  }

  // At start: registers the transactional.id with the cluster, which fences any older
  // producer with the same id and aborts its open transaction. Bounded retries; a failure
  // fails the start (exit 1).
  void init_transactions() {
    std::stop_source never;
    const int timeout = static_cast<int>(s_.transaction_timeout.count());
    auto step = transactional("init_transactions", [&] {
      return rd_kafka_init_transactions(main_producer(), timeout);
    }, never.get_token());
    if (step != TxnStep::kOk) {
      throw std::runtime_error("kafka_sink: init_transactions failed for transactional_id " +
                               s_.transactional_id + " (see the log above)");
    }
    log_.info("transactions initialised", {{"transactional_id", s_.transactional_id}});
  }

  // After a fatal error (fenced, say) librdkafka refuses every call and may never report the
  // messages it held; the error callback has told the supervisor.
  bool producer_fatal() const {
    return rd_kafka_fatal_error(main_producer(), nullptr, 0) != RD_KAFKA_RESP_ERR_NO_ERROR;
  }

  // Before the first output of a batch.
  bool begin_transaction(const std::stop_token& st) {
    if (transaction_open_) return true;
    if (fatal_state_) return false;
    auto step = transactional("begin_transaction", [&] {
      return rd_kafka_begin_transaction(main_producer());
    }, st);
    if (step != TxnStep::kOk) {
      if (step == TxnStep::kAbort) {
        fenced_or_fatal("begin_transaction", RD_KAFKA_RESP_ERR__STATE, "cannot begin");
      }
      return false;
    }
    transaction_open_ = true;
    transaction_began_ = Clock::now();
    transaction_failed_ = false;
    return true;
  }

  // The outputs of the open transaction are all reported, its offsets sent, and it is
  // committed or aborted; the records and then the marker go back on the ack queue.
  void end_transaction(RecordPtr marker, const std::stop_token& st) {
    const int timeout = static_cast<int>(s_.transaction_timeout.count());
    // Abandoned records get no report; a fatal producer reports nothing more: neither may
    // hold the marker (and with it the drain) until the deadline.
    while (in_flight_.load() > abandoned_.load() && !st.stop_requested() && !producer_fatal()) {
      serve_reports(main_producer(), 50);
    }
    if (st.stop_requested()) return;
    if (producer_fatal()) fatal_state_ = true;  // reported by the error callback  // stopping: the broker aborts it (or the restart does)
    bool committed = !transaction_open_ && !fatal_state_;  // an empty batch: nothing to do
    if (transaction_open_ && !fatal_state_) {
      TxnStep step = transaction_failed_ ? TxnStep::kAbort : TxnStep::kOk;
      if (step == TxnStep::kOk && !offsets_.empty()) {
        kafka::PartitionListPtr list(
            rd_kafka_topic_partition_list_new(static_cast<int>(offsets_.size())));
        for (const auto& [tp, next] : offsets_) {
          rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second)->offset = next;
        }
        rd_kafka_consumer_group_metadata_t* meta = nullptr;
        rd_kafka_error_t* e =
            rd_kafka_consumer_group_metadata_read(&meta, marker->value.data(),
                                                  marker->value.size());
        PEMX_CHECK(e == nullptr, "a marker carries the group metadata its ingest serialised");
        step = transactional("send_offsets_to_transaction", [&] {
          return rd_kafka_send_offsets_to_transaction(main_producer(), list.get(), meta, timeout);
        }, st);
        rd_kafka_consumer_group_metadata_destroy(meta);
      }
      if (step == TxnStep::kOk) {
        step = transactional("commit_transaction", [&] {
          return rd_kafka_commit_transaction(main_producer(), timeout);
        }, st);
      }
      if (step == TxnStep::kAbort) {
        step = transactional("abort_transaction", [&] {
          return rd_kafka_abort_transaction(main_producer(), timeout);
        }, st);
        if (step == TxnStep::kAbort) {
          fenced_or_fatal("abort_transaction", RD_KAFKA_RESP_ERR__STATE, "abort failed");
        }
        transactions_[1]->inc();
        // The batch is redone at once after one abort, later after several in a row (an
        // output that keeps failing must not spin).
        if (step == TxnStep::kOk && aborts_in_a_row_++ > 0) {
          auto until = Clock::now() + backoff_.delay(aborts_in_a_row_ - 2);
          while (Clock::now() < until && !st.stop_requested()) serve_reports(main_producer(), 50);
        }
      } else if (step == TxnStep::kOk) {
        committed = true;
        aborts_in_a_row_ = 0;
        transactions_[0]->inc();
      }
      transaction_open_ = false;
    }
    offsets_.clear();
    transaction_failed_ = false;
    const auto forever = Clock::time_point::max();
    for (auto& rec : transaction_records_) {
      if (acks_.push(rec, forever, st) != QueueStatus::kOk) return;
    }
    transaction_records_.clear();
    marker->transaction_committed = committed;
    acks_.push(marker, forever, st);
  }

  // A record of the batch: into the open transaction (begun by its first record).
  void send_in_transaction(RecordPtr rec, const std::stop_token& st) {
    if (fatal_state_ || producer_fatal() || !begin_transaction(st)) {  // fatal: nothing more is produced; handed back undone
      transaction_records_.push_back(std::move(rec));
      return;
    }
    auto& next = offsets_[{rec->topic, rec->partition}];
    next = std::max(next, rec->offset + 1);
    send(std::move(rec), st);
  }

  // Exactly-once: an output failed in the open transaction (which is then aborted). If its
  // topic has been unavailable (unknown, not authorised, invalid) for unavailable_topic_timeout,
  // the output is marked, and when its batch is redone a dead letter replaces it in the next
  // transaction, so that one input cannot abort its batch, and block its partition, for good.
  // Before that, the abort and redo (with a backoff once aborts repeat) are the retries. A
  // dead letter, or an output to the dead-letter topic, is never marked: there is nowhere
  // else to put it.
  void transaction_output_failed(const Record& rec, const std::string& topic, bool dead_letter,
                                 rd_kafka_resp_err_t code, const char* error) {
    auto& unavailable_topics = clusters_.front()->unavailable_topics;  // one cluster only
    if (!topic_unavailable(code)) {
      // Not the topic's fault (broker down, timeout): its clock restarts, as in schedule().
      // The purge of an aborted transaction's other outputs says nothing about their topics.
      if (code != RD_KAFKA_RESP_ERR__PURGE_QUEUE && code != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT &&
          code != RD_KAFKA_RESP_ERR__STATE && !unavailable_topics.empty()) {
        unavailable_topics.erase(topic);
      }
      return;
    }
    if (dead_letter || rec.dead_lettered() || topic == s_.dead_letter_topic) {
      if (error_limit_.allow()) {
        log_.error("dead-letter topic unavailable; its transaction is aborted and redone until "
                   "it is available",
                   {{"topic", topic}, {"error", error}, {"eventId", rec.event_id},
                    {"fix", "create the topic or grant this producer Write on it"}});
      }
      return;
    }
    const auto now = Clock::now();
    auto since = now;
    if (auto it = unavailable_topics.find(topic); it != unavailable_topics.end()) {
      since = it->second;
    } else if (unavailable_topics.size() < kMaxUnavailableTopics) {
      unavailable_topics.emplace(topic, now);
    }
    if (now - since < s_.unavailable_topic_timeout) return;
    if (dead_letter_next_.size() >= kMaxDeadLetterMarks) return;  // marked at a later abort
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - since);
    dead_letter_next_.try_emplace(
        OutputKey{rec.topic, rec.partition, rec.offset, topic},
        "topic \"" + topic + "\" unavailable for " + std::to_string(waited.count()) +
            " ms (unavailable_topic_timeout " +
            std::to_string(s_.unavailable_topic_timeout.count()) + " ms): " +
            rd_kafka_err2name(code) + ": " + error);
  }

  // Exactly-once: the output of `rec` to `topic` was marked by transaction_output_failed in
  // an aborted transaction: a dead letter (ready to produce) replaces it in this one.
  AttemptPtr marked_dead_letter(Record* rec, const std::string& topic) {
    if (dead_letter_next_.empty()) return nullptr;
    auto it = dead_letter_next_.find(OutputKey{rec->topic, rec->partition, rec->offset, topic});
    if (it == dead_letter_next_.end()) return nullptr;
    auto a = std::make_unique<Attempt>();
    a->record = rec;
    a->unavailable_topic = topic;
    a->topic = s_.dead_letter_topic;
    a->detail = std::move(it->second);
    dead_letter_next_.erase(it);
    clusters_.front()->dead_lettered->inc();
    log_.error("output dead-lettered: its topic stayed unavailable",
               {{"reason", std::string(kTopicUnavailable)},
                {"topic", a->unavailable_topic},
                {"dead_letter_topic", a->topic},
                {"detail", a->detail},
                {"source_topic", rec->topic},
                {"partition", static_cast<std::int64_t>(rec->partition)},
                {"offset", rec->offset},
                {"eventId", rec->event_id},
                {"fix", "create the topic or grant this producer Write on it, then replay the "
                        "dead letter"}});
    return a;
  }

  // Produces one output; false when the local queue is full (caller polls and tries again).
  enum class Produced { kOk, kQueueFull, kFailed };
  Produced produce(Cluster& cluster, Record* rec, const std::string& topic, Attempt* attempt,
                   std::string* error, rd_kafka_resp_err_t* code) {
    // Room for the routing headers (6 at most), out_headers and a dead letter's (5 at most).
    constexpr std::size_t kRoutingHeaders = 6, kDeadLetterHeaders = 5;
    rd_kafka_headers_t* headers =
        rd_kafka_headers_new(rec->out_headers.size() + kRoutingHeaders + kDeadLetterHeaders);
    auto add = [headers](std::string_view name, std::string_view value) {
      rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    };
    for_each_output_header(*rec, add);
    if (attempt != nullptr && attempt->dead_letter()) {
      add("pemx-dlq-reason", kTopicUnavailable);
      add("pemx-dlq-detail", attempt->detail);
      add("pemx-dlq-stage", stage_name_);
      add("pemx-dlq-topic", attempt->unavailable_topic);
      if (attempt->unavailable_cluster != 0) {
        add("pemx-dlq-cluster", clusters_[attempt->unavailable_cluster]->name);
      }
    }
    if (attempt != nullptr) rec->sent_at = Clock::now();  // a first attempt's: set by send()
    kafka::TopicPtr temporary;
    rd_kafka_topic_t* rkt = topic_handle(cluster, topic);
    if (rkt == nullptr) {  // past the cache's bound: a handle for this message only
      temporary.reset(rd_kafka_topic_new(cluster.producer.get(), topic.c_str(), nullptr));
      rkt = temporary.get();
    }
    if (rkt == nullptr) {
      rd_kafka_headers_destroy(headers);
      *code = rd_kafka_last_error();
      if (*code == RD_KAFKA_RESP_ERR_NO_ERROR) *code = RD_KAFKA_RESP_ERR__INVALID_ARG;
      *error = rd_kafka_err2str(*code);
      return Produced::kFailed;
    }
    // No copy: the record outlives the message (it is freed only after its last report).
    // An empty out_key (an event without a string productId) is no key at all, as the
    // reference produced: the partitioner then spreads such events over the partitions,
    // where an empty key would hash them all onto one.
    rd_kafka_resp_err_t err = rd_kafka_producev(
        cluster.producer.get(), RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(0),
        RD_KAFKA_V_KEY(rec->out_key.empty() ? nullptr : rec->out_key.data(), rec->out_key.size()),
        RD_KAFKA_V_VALUE(rec->value.data(), rec->value.size()), RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_OPAQUE(attempt != nullptr ? tag(attempt) : static_cast<void*>(rec)),
        RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Produced::kOk;
    rd_kafka_headers_destroy(headers);  // ownership passes only on success
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return Produced::kQueueFull;
    *error = rd_kafka_err2str(err);
    *code = err;
    return Produced::kFailed;
  }

  // The producer's handle of a topic, kept for the next outputs to it (worker thread only):
  // producing by handle spares librdkafka's lookup of the topic by name (a lock and a string
  // search through every topic of the client) for every output. Null past kMaxTopicHandles
  // (topic names come from events) or when librdkafka refuses the name.
  rd_kafka_topic_t* topic_handle(Cluster& cluster, const std::string& topic) {
    auto& handles = cluster.topic_handles;
    if (auto it = handles.find(topic); it != handles.end()) return it->second.get();
    if (handles.size() >= kMaxTopicHandles) return nullptr;
    kafka::TopicPtr rkt(rd_kafka_topic_new(cluster.producer.get(), topic.c_str(), nullptr));
    if (!rkt) return nullptr;
    return handles.emplace(topic, std::move(rkt)).first->second.get();
  }

  // Queues one output (a first attempt: `topic`, no attempt; else the attempt, whose message
  // then owns it). Whatever happens, the record cannot finish before this output is
  // acknowledged: a permanently refused or abandoned output leaves it "failed" for good (so
  // it is never handed back and its offset never committed), a retriable refusal schedules a
  // retry (or, for a topic unavailable too long, a dead letter).
  // `cluster`: a first attempt's (an attempt carries its own).
  bool produce_blocking(Record* rec, const std::string& topic, std::uint8_t cluster_number,
                        AttemptPtr attempt, const std::stop_token& st) {
    const std::string& to = attempt ? attempt->topic : topic;
    Cluster& cluster = *clusters_[attempt ? attempt->cluster : cluster_number];
    for (;;) {
      std::string error;
      rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
      switch (produce(cluster, rec, to, attempt.get(), &error, &code)) {
        case Produced::kOk:
          ++rec->pending;
          attempt.release();  // owned by the message until its delivery report
          return true;
        case Produced::kQueueFull:
          if (st.stop_requested()) {
            abandon(rec);  // at shutdown: redelivered after a restart
            return false;
          }
          poll(50);  // serve reports: that frees room
          rec->sent_at = Clock::now();  // the latency metric starts at the produce that takes it
          continue;
        case Produced::kFailed:
          if (code == RD_KAFKA_RESP_ERR__FATAL && collecting(cluster)) {
            // Refused by a producer that raised a fatal error: for its replacement.
            if (!attempt) attempt = first_attempt(rec, cluster.number, to);
            ++rec->failed;
            resend_.push_back(std::move(attempt));
            return true;
          }
          if (s_.exactly_once && retriable_refusal(code)) {
            transaction_failed_ = true;  // aborted and redone, as a failed delivery
            if (warn_limit_.allow()) {
              log_.warn("produce refused; the transaction will be aborted and its batch redone",
                        {{"topic", to}, {"error", error}, {"eventId", rec->event_id}});
            }
            transaction_output_failed(*rec, to, attempt && attempt->dead_letter(), code,
                                      error.c_str());
            return true;
          }
          if (retriable_refusal(code)) {
            // From cached cluster state (an ACL, a topic not there yet): it can change.
            if (warn_limit_.allow()) {
              log_.warn("produce refused; will produce again",
                        {{"topic", to}, {"cluster", cluster.name}, {"error", error},
                         {"eventId", rec->event_id}});
            }
            if (!attempt) attempt = first_attempt(rec, cluster.number, topic);
            schedule(std::move(attempt), code, error.c_str());
            return true;
          }
          // A permanent refusal (e.g. message too large): retrying cannot help. Stop the
          // process; the record is never acknowledged, so its offset stays uncommitted and
          // nothing is lost, and the operator sees why.
          abandon(rec);
          log_.error("produce refused",
                     {{"topic", to}, {"cluster", cluster.name}, {"error", error},
                      {"eventId", rec->event_id}});
          fatal_("produce to " + to + (cluster.number == 0 ? "" : " on cluster " + cluster.name) +
                 " refused: " + error);
          return false;
      }
    }
  }

  // A record that can never be acknowledged: it stays failed (its offset is never committed)
  // and no longer counts as work to wait for.
  void abandon(Record* rec) {
    if (rec->failed >= kAbandoned) return;
    rec->failed += kAbandoned;
    abandoned_.fetch_add(1, std::memory_order_relaxed);
  }
  static constexpr int kAbandoned = 1 << 20;

  static bool retriable_refusal(rd_kafka_resp_err_t code) {
    return code == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
           code == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
           code == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
           code == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
           code == RD_KAFKA_RESP_ERR__STATE;
  }

  // The topic itself cannot take the output (missing, not authorised, or refused by the
  // broker, e.g. a name that collides with an existing one on '.' vs '_'): past
  // unavailable_topic_timeout the output is dead-lettered. Broker outages and timeouts are not
  // the topic's fault and are retried without limit.
  static bool topic_unavailable(rd_kafka_resp_err_t code) {
    return code == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
           code == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
           code == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
           code == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
           code == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION;
  }

  void send(RecordPtr rec, const std::stop_token& st) {
    Record* raw = rec.release();  // owned by the in-flight set until finish()
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    raw->pending = 0;
    raw->failed = 0;
    raw->retries = 0;
    // pending counts outputs queued; an extra guard keeps finish() from running before every
    // output is queued (a report can arrive during a poll inside produce_blocking).
    ++raw->pending;
    raw->sent_at = Clock::now();  // one clock read for all of its first attempts
    raw->sink_order = next_order_++;
    // Each output to its cluster's producer; no numbers: all on the main one (the common
    // case pays one emptiness test per output).
    const auto& clusters = raw->target_clusters;
    PEMX_CHECK(clusters.empty() || clusters.size() == raw->targets.size(),
               "a router gives every target its cluster, or none");
    for (std::size_t i = 0; i < raw->targets.size(); ++i) {
      const std::string& topic = raw->targets[i];
      const std::uint8_t cluster = clusters.empty() ? 0 : clusters[i];
      PEMX_CHECK(cluster < clusters_.size(),
                 "an output's cluster is one the sink made a producer for (the same config)");
      AttemptPtr dead_letter = s_.exactly_once ? marked_dead_letter(raw, topic) : nullptr;
      if (!produce_blocking(raw, topic, cluster, std::move(dead_letter), st)) break;
    }
    if (--raw->pending == 0 && raw->failed == 0) finish(raw);
  }

  void run_retries(const std::stop_token& st) {
    // Take the due ones out first: producing can add retries (a refusal, or a delivery
    // report served while the local queue is full), which must not disturb this loop.
    auto now = Clock::now();
    std::vector<AttemptPtr> due;
    for (auto it = retries_due_.begin(); it != retries_due_.end();) {
      if ((*it)->due <= now) {
        due.push_back(std::move(*it));
        it = retries_due_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& a : due) {
      Record* rec = a->record;
      clusters_[a->cluster]->retries->inc();
      --rec->failed;
      ++rec->pending;  // guard, as in send()
      const std::uint8_t cluster = a->cluster;
      produce_blocking(rec, {}, cluster, std::move(a), st);
      if (--rec->pending == 0 && rec->failed == 0) finish(rec);
    }
  }

  void push_finished() {
    while (!finished_.empty() && acks_.try_push(finished_.front())) finished_.pop_front();
  }

  void run(std::stop_token st) {
    bool input_done = false;
    int since_poll = 0;
    while (!st.stop_requested()) {
      push_finished();
      if (restart_due_) restart_producers(st);
      if (!retries_due_.empty()) run_retries(st);
      if (input_done) {
        if (in_flight_.load() == abandoned_.load() && finished_.empty()) break;
        if (s_.exactly_once && producer_fatal()) break;  // nothing more will be reported
        poll(20);
        continue;
      }
      if (in_flight_.load() >= s_.max_in_flight) {
        poll(10);
        continue;
      }
      RecordPtr rec = input_.try_pop();
      if (!rec) {
        poll(0);
        since_poll = 0;
        auto wait = in_flight_.load() > 0 ? std::chrono::milliseconds(1)
                                          : std::chrono::milliseconds(100);
        auto status = input_.pop(rec, Clock::now() + wait, st);
        if (status == QueueStatus::kClosed) {
          input_done = true;
          for (auto& c : clusters_) rd_kafka_flush(c->producer.get(), 0);
          continue;
        }
        if (status != QueueStatus::kOk) continue;
      }
      if (rec->end_of_transaction) {
        end_transaction(std::move(rec), st);
        continue;
      }
      if (s_.exactly_once) send_in_transaction(std::move(rec), st);
      else send(std::move(rec), st);
      if (++since_poll >= 64) {
        poll(0);
        since_poll = 0;
      }
    }
    push_finished();
    if (transaction_open_ && !fatal_state_) {
      // Input closed with a batch never ended (its ingest stopped first): its offsets were
      // not sent, so the transaction is aborted and the batch redone after a restart.
      const auto bound = std::min<std::int64_t>(5000, s_.transaction_timeout.count());
      rd_kafka_error_t* e = rd_kafka_abort_transaction(main_producer(), static_cast<int>(bound));
      if (e != nullptr) rd_kafka_error_destroy(e);
      transaction_open_ = false;
    }
    if (in_flight_.load() > 0) {
      log_.warn("stopping with records not yet acknowledged; they will be redelivered",
                {{"in_flight", static_cast<std::int64_t>(in_flight_.load())}});
    }
    acks_.close();
  }

  Settings s_;
  Logger log_;
  std::function<void(const std::string&)> fatal_;
  std::string stage_name_;
  RecordQueue& input_;
  RecordQueue& acks_;
  Backoff backoff_;
  RateLimit warn_limit_;
  RateLimit error_limit_{1};
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::int64_t> abandoned_{0};
  Clock::time_point report_clock_{};  // worker thread: see serve_reports
  bool serving_reports_ = false;
  std::deque<AttemptPtr> retries_due_;
  // Outputs of producers that raised a fatal error, for their replacements (restart_producer).
  std::vector<AttemptPtr> resend_;
  bool restart_due_ = false;     // a cluster's restart_pending is set
  std::uint64_t next_order_ = 0;  // Record::sink_order
  static constexpr std::size_t kMaxUnavailableTopics = 1000;
  std::deque<RecordPtr> finished_;
  // Exactly-once (worker thread only): the open transaction.
  bool transaction_open_ = false;
  bool transaction_failed_ = false;  // an output failed: abort instead of commit
  bool fatal_state_ = false;         // fenced or fatal: nothing more is produced
  Clock::time_point transaction_began_{};
  int aborts_in_a_row_ = 0;
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> offsets_;  // next, per input
  std::vector<RecordPtr> transaction_records_;  // done, awaiting the transaction's outcome
  // Outputs (input topic, partition, offset; output topic) whose topic stayed unavailable in
  // an aborted transaction: dead-lettered when their batch is redone (the error's detail).
  // Bounded: past it, an output is marked at a later abort.
  using OutputKey = std::tuple<std::string, std::int32_t, std::int64_t, std::string>;
  std::map<OutputKey, std::string> dead_letter_next_;
  static constexpr std::size_t kMaxDeadLetterMarks = 100'000;
  Counter* transactions_[2] = {nullptr, nullptr};  // committed, aborted
  Counter* records_done_ = nullptr;
  WakePipe wake_;  // before clusters_: outlives the producers that write to it
  Clock::time_point next_sweep_{};  // worker thread only
  // [kafka] first, then each [clusters.*]: their producers, handles and counters.
  std::vector<std::unique_ptr<Cluster>> clusters_;
  static constexpr std::size_t kMaxTopicHandles = 1000;
  Worker worker_;  // last: its thread uses everything above
};

class Spec final : public StageSpec {
 public:
  explicit Spec(Settings s) : s_(std::move(s)) {}
  std::vector<QueuePort> ports() const override {
    return {{s_.input, PortDirection::kIn}, {s_.acks, PortDirection::kOut}};
  }
  DeliveryRole delivery() const override {
    return s_.exactly_once ? DeliveryRole::kExactlyOnce : DeliveryRole::kAtLeastOnce;
  }
  std::vector<std::pair<std::string, std::string>> exclusive_ids() const override {
    if (!s_.exactly_once) return {};
    return {{"transactional_id", "transactional_id \"" + s_.transactional_id + "\""}};
  }
  std::string describe() const override {
    std::ostringstream out;
    if (s_.exactly_once) {
      out << "delivery exactly_once: transactional_id " << s_.transactional_id
          << ", transaction timeout " << s_.transaction_timeout.count() << " ms\n  ";
    }
    out << "kafka producer (" << s_.input << " -> Kafka, acknowledged records -> " << s_.acks
        << "): acks=all, idempotent, at most " << s_.max_in_flight << " records in flight\n";
    if (!s_.clusters.empty()) {
      out << "  a producer per cluster: kafka (" << s_.kafka.brokers << ")";
      for (const auto& c : s_.clusters) out << ", " << c.name << " (" << c.brokers << ")";
      out << "; a record is acknowledged once every output on every cluster is\n";
    }
    out
        << "  a topic unavailable for " << s_.unavailable_topic_timeout.count()
        << " ms: that output is dead-lettered -> " << s_.dead_letter_topic << "\n";
    return out.str();
  }
  std::unique_ptr<Stage> create(StageContext& ctx) const override {
    return std::make_unique<KafkaSink>(s_, ctx);
  }

 private:
  Settings s_;
};

// Stable across restarts of one instance, so a restarted instance fences its zombie; distinct
// between hosts. Two instances on one host need their own (docs/configuration.md).
std::string default_transactional_id(const ConfigSection& section) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  std::string stage = section.path();
  if (auto dot = stage.rfind('.'); dot != std::string::npos) stage = stage.substr(dot + 1);
  return "pemx-" + std::string(host) + "-" + stage;
}

std::unique_ptr<StageSpec> parse(ConfigSection& section, const CommonConfig& common) {
  Settings s;
  s.kafka = common.kafka;
  s.clusters = common.clusters;
  s.input = section.string("input", s.input);
  s.acks = section.string("acks", s.acks);
  s.max_in_flight = section.integer("max_in_flight", s.max_in_flight, 1, 1'000'000);
  s.retry.initial = section.duration("retry_initial", s.retry.initial,
                                     std::chrono::milliseconds(1), std::chrono::minutes(1));
  s.retry.max = section.duration("retry_max", s.retry.max, std::chrono::milliseconds(1),
                                 std::chrono::hours(1));
  s.unavailable_topic_timeout =
      section.duration("unavailable_topic_timeout", s.unavailable_topic_timeout,
                       std::chrono::milliseconds(100), std::chrono::hours(24));
  s.dead_letter_topic = section.string("dead_letter_topic", s.dead_letter_topic);
  if (auto p = kafka::topic_name_problem(s.dead_letter_topic)) {
    section.error("dead_letter_topic", *p);
  }
  const std::string delivery =
      section.one_of("delivery", "at_least_once", {"at_least_once", "exactly_once"});
  s.exactly_once = delivery == "exactly_once";
  if (s.exactly_once && !s.clusters.empty()) {
    // A Kafka transaction lives on one cluster: outputs on two could not commit as one.
    section.error("delivery", "\"exactly_once\" cannot span clusters, and [clusters." +
                                  s.clusters.front().name + "] is declared (this sink would "
                                  "produce to every cluster); use \"at_least_once\", or route "
                                  "to one cluster");
  }
  for (const char* key : {"transactional_id", "transaction_timeout"}) {
    if (!s.exactly_once && section.has(key)) {
      section.error(key, "applies only with delivery = \"exactly_once\"; remove it or set "
                         "delivery");
    }
  }
  s.transactional_id = section.string("transactional_id", default_transactional_id(section));
  // ${NAME} expands as in kafka_ingest's group_instance_id: taken literally, "${HOSTNAME}-x"
  // would be one id on every host, and the instances would fence each other in turn.
  if (auto id = kafka::expand_placeholders(s.transactional_id, &kafka::process_env); !id) {
    section.error("transactional_id", "\"" + s.transactional_id + "\": " + id.error().message);
  } else {
    s.transactional_id = id.value();
  }
  if (s.transactional_id.empty()) section.error("transactional_id", "must not be empty");
  s.transaction_timeout = section.duration("transaction_timeout", s.transaction_timeout,
                                           std::chrono::seconds(1), std::chrono::minutes(15));
  s.properties = kafka::read_properties(section);
  for (const auto& [name, value] : s.properties) {
    if (name == "transactional.id" || name == "transaction.timeout.ms") {
      section.error("properties", name + " is set by the stage's transactional_id and "
                                         "transaction_timeout keys (delivery = \"exactly_once\"); "
                                         "remove it");
    }
  }
  s.min_message_bytes = common.events.max_bytes + event::kHeaderAllowance;
  for (const auto& unsafe : kafka::unsafe_producer_properties(s.properties, s.min_message_bytes)) {
    section.error("properties", unsafe);
  }
  if (auto err = kafka::check_properties(s.properties)) section.error("properties", *err);
  return std::make_unique<Spec>(std::move(s));
}

}  // namespace

StageFactory factory() {
  return {"kafka_sink", "produces routed records to Kafka and acknowledges them", &parse};
}

bool raise_fatal_error_for_test(Stage& stage, std::size_t cluster, int err,
                                const std::string& reason) {
  auto* sink = dynamic_cast<KafkaSink*>(&stage);
  return sink != nullptr && sink->raise_fatal_error_for_test(cluster, err, reason);
}

}  // namespace pemx::kafka_sink
