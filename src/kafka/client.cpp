#include "kafka/client.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <atomic>
#include <thread>

#include "core/stage_thread.hpp"
#include "kafka/cluster_health.hpp"

namespace pemx::kafka {

// The probe's own handle, made from a copy of the client's conf: a client's metadata request
// waits at the broker behind the client's other requests on the same connection (a broker
// handles one request per connection at a time), and a producer's acks=all request waits there
// until the partition's in-sync replicas have it: when a follower broker dies, for
// broker.session.timeout.ms (9 s) until the controller drops it from the ISR. The cluster
// still serves, yet the client's own probe went unanswered and readiness failed on every
// instance at once (tests/integration/failover_test.cpp). The probe handle's connections
// carry only the probe. A consumer without a group: it joins nothing and produces nothing; the
// client's callbacks, group and transactional id are left out, and it logs nothing. Null when
// it cannot be made (the client's own handle probes then).
rd_kafka_t* new_probe_client(const rd_kafka_conf_t* conf) {
  const char* drop[] = {"group.", "transactional.", "log.queue"};
  rd_kafka_conf_t* dup = rd_kafka_conf_dup_filter(conf, std::size(drop), drop);
  if (dup == nullptr) return nullptr;
  rd_kafka_conf_set_opaque(dup, nullptr);
  rd_kafka_conf_set_dr_msg_cb(dup, nullptr);
  rd_kafka_conf_set_error_cb(dup, nullptr);
  rd_kafka_conf_set_rebalance_cb(dup, nullptr);
  rd_kafka_conf_set_offset_commit_cb(dup, nullptr);
  rd_kafka_conf_set_log_cb(dup, nullptr);
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, dup, errstr, sizeof errstr);
  if (rk == nullptr) rd_kafka_conf_destroy(dup);  // rd_kafka_new owns it only on success
  return rk;
}

// ClientWatch: one thread per client that (1) serves the client's log queue, writing each
// librdkafka line as a JSON line through the stage's logger, at most kLibrdkafkaLinesPerSecond
// a second, and (2) asks the cluster for metadata every kProbeInterval (through its own probe
// handle, above) and reports, as a JSON warning and in readiness, when no question got an
// answer for kNoAnswerAfter.
// Threads: its own thread does all of the above; stop() is called by HandleDeleter on the
// thread that destroys the client, before rd_kafka_destroy.
class ClientWatch {
 public:
  // Takes ownership of `probe_rk` (may be null: the client's handle probes).
  ClientWatch(rd_kafka_t* rk, rd_kafka_queue_t* queue, ClientLog log, rd_kafka_t* probe_rk)
      : rk_(rk), probe_rk_(probe_rk), queue_(queue), log_(std::move(log)),
        client_(rd_kafka_name(rk)),
        readiness_key_(log_.name), limit_(kLibrdkafkaLinesPerSecond),
        health_(std::chrono::steady_clock::now(), kNoAnswerAfter, log_.brokers_key) {
    if (log_.probe && log_.readiness != nullptr) {
      log_.readiness->set(readiness_key_, "no answer from the cluster yet");
    }
    thread_ = std::thread([this] {
      run_guarded(ThreadOwner{log_.name, log_.log, log_.fatal}, "kafka-watch", [this] { run(); });
    });
  }
  ~ClientWatch() { stop(); }
  ClientWatch(const ClientWatch&) = delete;
  ClientWatch& operator=(const ClientWatch&) = delete;

  // Joins the thread (within kProbeTimeout: a probe in progress is not interrupted), logs what
  // is still queued, and gives the log queue back to librdkafka: lines logged while the client
  // is destroyed are dropped, never written raw.
  void stop() noexcept {
    if (stop_.exchange(true)) return;
    rd_kafka_queue_yield(queue_);  // its wait on the log queue returns at once
    if (thread_.joinable()) thread_.join();
    serve_logs(std::chrono::milliseconds(0));
    // Back to the main queue, where (no log callback: make_client) the lines are dropped.
    if (rd_kafka_resp_err_t err = rd_kafka_set_log_queue(rk_, nullptr)) {
      log_.log.warn("cannot detach the librdkafka log queue",
                    {{"client", client_}, {"error", rd_kafka_err2str(err)}});
    }
    rd_kafka_queue_destroy(queue_);
    if (probe_rk_ != nullptr) rd_kafka_destroy(probe_rk_);
    if (log_.readiness != nullptr) log_.readiness->set(readiness_key_, std::nullopt);
  }

 private:
  using SteadyClock = std::chrono::steady_clock;

  void run() {
    auto next_probe = SteadyClock::now();
    while (!stop_.load()) {
      auto now = SteadyClock::now();
      if (log_.probe && now >= next_probe) {
        probe();
        next_probe = SteadyClock::now() + kProbeInterval;
        continue;
      }
      // Asleep on the log queue until a line comes, the next probe is due or stop() yields
      // the queue: no periodic wake-up of its own (an idle role with many clients, e.g. a
      // sink with many [clusters.*], woke each client's watch five times a second).
      auto wait = std::chrono::milliseconds(kProbeInterval);
      if (log_.probe) {
        wait = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(next_probe - now),
                          std::chrono::milliseconds(0), wait);
      }
      serve_logs(wait);
    }
  }

  // Serves log events until the queue is empty (waiting up to `wait` for the first).
  void serve_logs(std::chrono::milliseconds wait) {
    int timeout = static_cast<int>(wait.count());
    while (rd_kafka_event_t* ev = rd_kafka_queue_poll(queue_, timeout)) {
      timeout = 0;
      const char* fac = "";
      const char* text = "";
      int level = 6;
      if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_LOG &&
          rd_kafka_event_log(ev, &fac, &text, &level) == 0) {
        write_line(level, fac, text);
      }
      rd_kafka_event_destroy(ev);
    }
  }

  void write_line(int syslog_level, const char* fac, const char* text) {
    LogLevel level = syslog_level <= 3   ? LogLevel::kError
                     : syslog_level == 4 ? LogLevel::kWarn
                     : syslog_level <= 6 ? LogLevel::kInfo
                                         : LogLevel::kDebug;
    if (!log_.log.enabled(level) || !limit_.allow()) return;
    auto suppressed = static_cast<std::int64_t>(limit_.take_suppressed());
    if (suppressed > 0) {
      log_.log.log(level, "librdkafka", {{"client", client_}, {"facility", fac}, {"text", text},
                                         {"suppressed", suppressed}});
    } else {
      log_.log.log(level, "librdkafka", {{"client", client_}, {"facility", fac}, {"text", text}});
    }
  }

  void probe() {
    auto asked = SteadyClock::now();
    auto error = wait_for_cluster(probe_rk_ != nullptr ? probe_rk_ : rk_, kProbeTimeout);
    auto now = SteadyClock::now();
    auto report = error ? health_.unanswered(now, *error) : health_.answered(asked, now);
    if (report.silent_ms_before_answer) {
      log_.log.info("the Kafka cluster answers again",
                    {{"client", client_},
                     {"brokers", health_.brokers_key()},
                     {"silent_ms", *report.silent_ms_before_answer}});
    }
    if (log_.readiness != nullptr && (report.answered || report.problem)) {
      log_.readiness->set(readiness_key_, report.problem);
    }
    if (report.warning) {
      log_.log.warn(*report.warning,
                    {{"client", client_}, {"error", *error}, {"silent_ms", report.silent_ms}});
    }
  }

  rd_kafka_t* rk_;
  rd_kafka_t* probe_rk_;     // ours; null: rk_ probes
  rd_kafka_queue_t* queue_;  // the client's log queue; ours
  ClientLog log_;
  std::string client_;  // librdkafka's name of the client ("pemx-platform#producer-1")
  std::string readiness_key_;
  RateLimit limit_;  // only the watch thread uses it
  ClusterHealth health_;  // only the watch thread uses it
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: it uses the members above
};

void ConfDeleter::operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
void HandleDeleter::operator()(rd_kafka_t* rk) const {
  if (watch) watch->stop();  // its thread uses rk
  rd_kafka_destroy(rk);
}
void PartitionListDeleter::operator()(rd_kafka_topic_partition_list_t* l) const {
  rd_kafka_topic_partition_list_destroy(l);
}
void HeadersDeleter::operator()(rd_kafka_headers_t* h) const { rd_kafka_headers_destroy(h); }
void MessageDeleter::operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
void ErrorDeleter::operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
void MetadataDeleter::operator()(const rd_kafka_metadata_t* md) const {
  rd_kafka_metadata_destroy(md);
}
void QueueDeleter::operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
void TopicDeleter::operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }

namespace {
std::optional<std::string> set(rd_kafka_conf_t* conf, const std::string& name,
                               const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
      RD_KAFKA_CONF_OK) {
    return "librdkafka property \"" + name + "\": " + errstr;
  }
  return std::nullopt;
}
}  // namespace

Result<ConfPtr> conf_from(const Properties& properties) {
  ConfPtr conf(rd_kafka_conf_new());
  for (const auto& [name, value] : properties) {
    if (auto err = set(conf.get(), name, value)) return Error{"bad_property", *err};
  }
  return conf;
}

Result<ConfPtr> make_conf(const KafkaConfig& common, const Properties& client_specific) {
  Properties all = {{"bootstrap.servers", common.brokers}, {"client.id", common.client_id}};
  all.insert(all.end(), common.properties.begin(), common.properties.end());
  all.insert(all.end(), client_specific.begin(), client_specific.end());
  return conf_from(all);
}

Result<ConfPtr> make_producer_conf(const KafkaConfig& common, const Properties& client_specific) {
  KafkaConfig k = common;
  k.properties.insert(k.properties.begin(), {"partitioner", kDefaultPartitioner});
  return make_conf(k, client_specific);
}

std::vector<std::string> unsafe_producer_properties(const Properties& properties,
                                                    std::size_t min_message_bytes) {
  std::vector<std::string> out;
  for (const auto& [name, value] : properties) {
    if (name == "message.max.bytes") {
      std::size_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec == std::errc() && end == value.data() + value.size() && n < min_message_bytes) {
        out.push_back(name + " = " + value + " is smaller than the largest message PEMX makes (" +
                      std::to_string(min_message_bytes) +
                      " bytes: events.max_bytes plus PEMX's headers), so an event that passed "
                      "could never be produced and would stop the stage; raise it or lower "
                      "events.max_bytes");
      }
    }
    if ((name == "enable.idempotence" && value != "true") ||
        ((name == "acks" || name == "request.required.acks") && value != "all" &&
         value != "-1")) {
      out.push_back(name + " = " + value + " would break at-least-once delivery; remove it");
    }
  }
  return out;
}

std::optional<std::string> check_properties(const Properties& properties) {
  auto conf = conf_from(properties);
  if (!conf) return conf.error().message;
  return std::nullopt;
}

Result<HandlePtr> make_client(ClientKind kind, ConfPtr conf, ClientLog log) {
  char errstr[512];
  // Copied before log.queue is set; destroyed again below if the client cannot be made.
  HandlePtr probe(log.probe ? new_probe_client(conf.get()) : nullptr);
  // Log lines wait on a queue that the watch serves: none is written by librdkafka itself.
  if (rd_kafka_conf_set(conf.get(), "log.queue", "true", errstr, sizeof errstr) !=
      RD_KAFKA_CONF_OK) {
    return Error{"client_create", std::string("log.queue: ") + errstr};
  }
  // No callback either: once the watch has stopped, librdkafka forwards log lines to the
  // client's main queue, whose default callback would print them raw on stderr. Without one
  // they are dropped (the watch's own queue is served as events, not through the callback).
  rd_kafka_conf_set_log_cb(conf.get(), nullptr);
  rd_kafka_t* rk = rd_kafka_new(kind == ClientKind::kProducer ? RD_KAFKA_PRODUCER
                                                                : RD_KAFKA_CONSUMER,
                                conf.get(), errstr, sizeof errstr);
  if (rk == nullptr) return Error{"client_create", errstr};  // conf still ours: freed by conf
  conf.release();  // rd_kafka_new took ownership of conf on success
  HandlePtr handle(rk);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  if (rd_kafka_resp_err_t err = rd_kafka_set_log_queue(rk, queue)) {
    rd_kafka_queue_destroy(queue);
    return Error{"client_create", std::string("log queue: ") + rd_kafka_err2str(err)};
  }
  handle.get_deleter().watch =
      std::make_shared<ClientWatch>(rk, queue, std::move(log), probe.release());
  return handle;
}

int query_watermarks(rd_kafka_t* rk, const char* topic, std::int32_t partition,
                     std::int64_t& low, std::int64_t& high, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  std::int64_t found[2] = {0, 0};
  // ListOffsets takes a time in the offset field: -2 the earliest offset, -1 the latest.
  const std::int64_t times[2] = {RD_KAFKA_OFFSET_BEGINNING, RD_KAFKA_OFFSET_END};
  for (int i = 0; i < 2; ++i) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return RD_KAFKA_RESP_ERR__TIMED_OUT;
    PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), topic, partition)->offset = times[i];
    rd_kafka_resp_err_t err =
        rd_kafka_offsets_for_times(rk, list.get(), static_cast<int>(left.count()));
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = list->elems[0].err;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return err;
    found[i] = list->elems[0].offset;
  }
  low = found[0];
  high = found[1];
  if (low < 0 && high >= 0) low = high;  // an empty partition may answer only its end
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

std::optional<std::string> wait_for_cluster(rd_kafka_t* rk, std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk, 0, nullptr, &md, static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return std::string(rd_kafka_err2str(err));
  rd_kafka_metadata_destroy(md);
  return std::nullopt;
}

Result<TopicSet> list_topics(rd_kafka_t* rk, std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* raw = nullptr;
  const auto asked = std::chrono::steady_clock::now();
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk, 1, nullptr, &raw, static_cast<int>(timeout.count()));
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
    return Error{"timeout", "the cluster did not answer a metadata request within " +
                                std::to_string(timeout.count()) + " ms"};
  }
  // A broker that accepted the connection and has not answered (or a connection still being
  // made): librdkafka says "transport failure" once the whole timeout has passed, not "timed
  // out". Refused connections say so at once, and are "metadata" below.
  if ((err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) &&
      std::chrono::steady_clock::now() - asked >= timeout) {
    return Error{"unreachable", std::string("no broker answered: ") + rd_kafka_err2str(err)};
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Error{"metadata", std::string("metadata request failed: ") + rd_kafka_err2str(err)};
  }
  MetadataPtr md(raw);
  TopicSet out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    // A topic the broker names with an error (being deleted, say) cannot take an output.
    if (t.err == RD_KAFKA_RESP_ERR_NO_ERROR) out.emplace(t.topic);
  }
  return out;
}

}  // namespace pemx::kafka
