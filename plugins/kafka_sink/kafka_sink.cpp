// kafka_sink stage: delivers each routed record to every one of its target topics with an
// idempotent producer (acks=all), and hands the record back on its ack queue once every
// output is acknowledged by the broker. Failed outputs are produced again after a backoff
// (the retry helper's arithmetic); a record is never acknowledged before all its outputs are.
//
// Threads: one worker thread pops records, produces, and serves delivery reports
// (rd_kafka_poll runs the delivery callback on this same thread, so the records' bookkeeping
// needs no lock). The supervisor's thread calls the lifecycle methods.
#include "kafka_sink/kafka_sink.hpp"

#include <librdkafka/rdkafka.h>

#include <deque>
#include <sstream>

#include "core/config.hpp"
#include "core/config_section.hpp"
#include "core/retry.hpp"
#include "core/worker.hpp"
#include "kafka/client.hpp"

namespace pemx::kafka_sink {

namespace {

struct Settings {
  std::string input = "routed";
  std::string acks = "acks";
  kafka::KafkaConfig kafka;
  kafka::Properties properties;  // producer-specific overrides
  std::int64_t max_in_flight = 20'000;  // records produced but not yet fully acknowledged
  RetryPolicy retry{std::chrono::milliseconds(200), std::chrono::seconds(10), 2.0, 0};
};

class KafkaSink final : public Stage {
 public:
  KafkaSink(const Settings& s, StageContext& ctx)
      : s_(s),
        log_(ctx.log),
        fatal_(ctx.fatal),
        input_(ctx.queue(s.input)),
        acks_(ctx.queue(s.acks)),
        backoff_(s.retry),
        warn_limit_(5) {
    Labels stage = {{"stage", ctx.name}};
    Metrics& m = *ctx.metrics;
    delivered_ = &m.counter("pemx_kafka_sink_delivered_total",
                            "Output messages acknowledged by the broker", stage);
    records_done_ = &m.counter("pemx_kafka_sink_records_acked_total",
                               "Records whose every output is acknowledged", stage);
    retries_ = &m.counter("pemx_kafka_sink_retries_total", "Outputs produced again after a failure",
                          stage);
    failures_ = &m.counter("pemx_kafka_sink_delivery_failures_total",
                           "Delivery reports with an error", stage);
    latency_ = &m.histogram("pemx_kafka_sink_produce_latency_seconds",
                            "From produce to broker acknowledgement", stage);
    m.gauge_fn("pemx_kafka_sink_in_flight", "Records awaiting acknowledgement", stage,
               [this] { return static_cast<double>(in_flight_.load()); });

    kafka::Properties props = {{"enable.idempotence", "true"}, {"acks", "all"}};
    props.insert(props.end(), s.properties.begin(), s.properties.end());
    kafka::KafkaConfig k = s.kafka;
    k.brokers = ctx.kafka_brokers;
    auto conf = kafka::make_conf(k, props);
    if (!conf) throw std::runtime_error(conf.error().message);
    rd_kafka_conf_set_opaque(conf.value().get(), this);
    rd_kafka_conf_set_dr_msg_cb(conf.value().get(), &KafkaSink::on_delivery);
    rd_kafka_conf_set_error_cb(conf.value().get(), &KafkaSink::on_error);
    auto client = kafka::make_client(kafka::ClientKind::kProducer, std::move(conf.value()),
                                     {ctx.log, ctx.name, ctx.readiness});
    if (!client) throw std::runtime_error("kafka_sink: " + client.error().message);
    producer_ = std::move(client.value());
  }

  void start() override {
    worker_.start([this](std::stop_token st) { run(st); });
  }
  void stop_accepting() noexcept override {}
  bool drain(const Deadline& deadline) noexcept override { return worker_.wait_done(deadline); }
  void stop() noexcept override {
    worker_.stop();
    acks_.close();
  }

 private:
  struct Retry {
    Record* record;
    std::string topic;
    Clock::time_point due;
  };

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    static_cast<KafkaSink*>(opaque)->delivered(m);
  }
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaSink*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char buf[512];
      rd_kafka_fatal_error(rk, buf, sizeof buf);
      self->log_.error("fatal producer error", {{"error", buf}});
      self->fatal_(std::string("fatal producer error: ") + buf);
      return;
    }
    self->log_.warn("producer error", {{"error", reason},
                                       {"code", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))}});
  }

  void delivered(const rd_kafka_message_t* m) {
    Record* rec = static_cast<Record*>(m->_private);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      delivered_->inc();
      latency_->observe(std::chrono::duration<double>(Clock::now() - rec->sent_at).count());
      if (--rec->pending == 0 && rec->failed == 0) finish(rec);
      return;
    }
    failures_->inc();
    std::string topic = rd_kafka_topic_name(m->rkt);
    if (warn_limit_.allow()) {
      log_.warn("delivery failed; will produce again", {{"topic", topic},
                                                        {"error", rd_kafka_err2str(m->err)},
                                                        {"eventId", rec->event_id}});
    }
    --rec->pending;
    ++rec->failed;
    // Per record: one failed request of many messages must not push every retry to the cap.
    retries_due_.push_back({rec, std::move(topic), Clock::now() + backoff_.delay(rec->retries++)});
  }

  // Every output acknowledged: hand the record back so its offset can be committed.
  void finish(Record* raw) {
    RecordPtr rec(raw);
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    records_done_->inc();
    if (!acks_.try_push(rec)) finished_.push_back(std::move(rec));
  }

  // Produces one output; false when the local queue is full (caller polls and tries again).
  enum class Produced { kOk, kQueueFull, kFailed };
  Produced produce(Record* rec, const std::string& topic, std::string* error,
                   rd_kafka_resp_err_t* code) {
    rd_kafka_headers_t* headers = rd_kafka_headers_new(rec->out_headers.size());
    for (const auto& h : rec->out_headers) {
      rd_kafka_header_add(headers, h.name.data(), static_cast<ssize_t>(h.name.size()),
                          h.value.data(), static_cast<ssize_t>(h.value.size()));
    }
    rec->sent_at = Clock::now();
    // No copy: the record outlives the message (it is freed only after its last report).
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(0),
        RD_KAFKA_V_KEY(rec->out_key.data(), rec->out_key.size()),
        RD_KAFKA_V_VALUE(rec->value.data(), rec->value.size()), RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_OPAQUE(rec), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Produced::kOk;
    rd_kafka_headers_destroy(headers);  // ownership passes only on success
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return Produced::kQueueFull;
    *error = rd_kafka_err2str(err);
    *code = err;
    return Produced::kFailed;
  }

  // Queues one output. Whatever happens, the record cannot finish before this output is
  // acknowledged: a refused or abandoned output leaves it "failed" for good (so it is never
  // handed back and its offset never committed), a retriable refusal schedules a retry.
  bool produce_blocking(Record* rec, const std::string& topic, const std::stop_token& st) {
    for (;;) {
      std::string error;
      rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
      switch (produce(rec, topic, &error, &code)) {
        case Produced::kOk: ++rec->pending; return true;
        case Produced::kQueueFull:
          if (st.stop_requested()) {
            abandon(rec);  // at shutdown: redelivered after a restart
            return false;
          }
          rd_kafka_poll(producer_.get(), 50);  // serve reports: that frees room
          continue;
        case Produced::kFailed:
          if (retriable_refusal(code)) {
            // From cached cluster state (an ACL, a topic not there yet): it can change.
            ++rec->failed;
            retries_due_.push_back({rec, topic, Clock::now() + backoff_.delay(rec->retries++)});
            if (warn_limit_.allow()) {
              log_.warn("produce refused; will produce again",
                        {{"topic", topic}, {"error", error}, {"eventId", rec->event_id}});
            }
            return true;
          }
          // A permanent refusal (e.g. message too large): retrying cannot help. Stop the
          // process; the record is never acknowledged, so its offset stays uncommitted and
          // nothing is lost, and the operator sees why.
          abandon(rec);
          log_.error("produce refused", {{"topic", topic}, {"error", error}, {"eventId", rec->event_id}});
          fatal_("produce to " + topic + " refused: " + error);
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

  void send(RecordPtr rec, const std::stop_token& st) {
    Record* raw = rec.release();  // owned by the in-flight set until finish()
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    raw->pending = 0;
    raw->failed = 0;
    raw->retries = 0;
    // pending counts outputs queued; an extra guard keeps finish() from running before every
    // output is queued (a report can arrive during a poll inside produce_blocking).
    ++raw->pending;
    for (const auto& topic : raw->targets) {
      if (!produce_blocking(raw, topic, st)) break;
    }
    if (--raw->pending == 0 && raw->failed == 0) finish(raw);
  }

  void run_retries(const std::stop_token& st) {
    // Take the due ones out first: producing can add retries (a refusal, or a delivery
    // report served while the local queue is full), which must not disturb this loop.
    auto now = Clock::now();
    std::vector<Retry> due;
    for (auto it = retries_due_.begin(); it != retries_due_.end();) {
      if (it->due <= now) {
        due.push_back(std::move(*it));
        it = retries_due_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& r : due) {
      retries_->inc();
      --r.record->failed;
      ++r.record->pending;  // guard, as in send()
      produce_blocking(r.record, r.topic, st);
      if (--r.record->pending == 0 && r.record->failed == 0) finish(r.record);
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
      if (!retries_due_.empty()) run_retries(st);
      if (input_done) {
        if (in_flight_.load() == abandoned_.load() && finished_.empty()) break;
        rd_kafka_poll(producer_.get(), 20);
        continue;
      }
      if (in_flight_.load() >= s_.max_in_flight) {
        rd_kafka_poll(producer_.get(), 10);
        continue;
      }
      RecordPtr rec = input_.try_pop();
      if (!rec) {
        rd_kafka_poll(producer_.get(), 0);
        since_poll = 0;
        auto wait = in_flight_.load() > 0 ? std::chrono::milliseconds(1)
                                          : std::chrono::milliseconds(100);
        auto status = input_.pop(rec, Clock::now() + wait, st);
        if (status == QueueStatus::kClosed) {
          input_done = true;
          rd_kafka_flush(producer_.get(), 0);
          continue;
        }
        if (status != QueueStatus::kOk) continue;
      }
      send(std::move(rec), st);
      if (++since_poll >= 64) {
        rd_kafka_poll(producer_.get(), 0);
        since_poll = 0;
      }
    }
    push_finished();
    if (in_flight_.load() > 0) {
      log_.warn("stopping with records not yet acknowledged; they will be redelivered",
                {{"in_flight", static_cast<std::int64_t>(in_flight_.load())}});
    }
    acks_.close();
  }

  Settings s_;
  Logger log_;
  std::function<void(const std::string&)> fatal_;
  RecordQueue& input_;
  RecordQueue& acks_;
  Backoff backoff_;
  RateLimit warn_limit_;
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::int64_t> abandoned_{0};
  std::deque<Retry> retries_due_;
  std::deque<RecordPtr> finished_;
  Counter* delivered_ = nullptr;
  Counter* records_done_ = nullptr;
  Counter* retries_ = nullptr;
  Counter* failures_ = nullptr;
  Histogram* latency_ = nullptr;
  kafka::HandlePtr producer_;
  Worker worker_;  // last: its thread uses everything above
};

class Spec final : public StageSpec {
 public:
  explicit Spec(Settings s) : s_(std::move(s)) {}
  std::vector<QueuePort> ports() const override {
    return {{s_.input, PortDirection::kIn}, {s_.acks, PortDirection::kOut}};
  }
  std::string describe() const override {
    std::ostringstream out;
    out << "kafka producer (" << s_.input << " -> Kafka, acknowledged records -> " << s_.acks
        << "): acks=all, idempotent, at most " << s_.max_in_flight << " records in flight\n";
    return out.str();
  }
  std::unique_ptr<Stage> create(StageContext& ctx) const override {
    return std::make_unique<KafkaSink>(s_, ctx);
  }

 private:
  Settings s_;
};

std::unique_ptr<StageSpec> parse(ConfigSection& section, const CommonConfig& common) {
  Settings s;
  s.kafka = common.kafka;
  s.input = section.string("input", s.input);
  s.acks = section.string("acks", s.acks);
  s.max_in_flight = section.integer("max_in_flight", s.max_in_flight, 1, 1'000'000);
  s.retry.initial = section.duration("retry_initial", s.retry.initial,
                                     std::chrono::milliseconds(1), std::chrono::minutes(1));
  s.retry.max = section.duration("retry_max", s.retry.max, std::chrono::milliseconds(1),
                                 std::chrono::hours(1));
  s.properties = section.string_map("properties");
  for (const auto& unsafe : kafka::unsafe_producer_properties(
           s.properties, common.events.max_bytes + event::kHeaderAllowance)) {
    section.error("properties", unsafe);
  }
  if (auto err = kafka::check_properties(s.properties)) section.error("properties", *err);
  return std::make_unique<Spec>(std::move(s));
}

}  // namespace

StageFactory factory() {
  return {"kafka_sink", "produces routed records to Kafka and acknowledges them", &parse};
}

}  // namespace pemx::kafka_sink
