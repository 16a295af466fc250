#include "http_front/pusher.hpp"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <mutex>

namespace pemx::http_front {

struct Pusher::Batch {
  std::atomic<int> remaining{0};
  std::mutex mutex;
  std::optional<std::string> error;
  Done done;
};

Pusher::Pusher(const kafka::KafkaConfig& kafka, const std::string& brokers, std::string topic,
               std::chrono::milliseconds timeout, Logger log, Metrics& metrics)
    : topic_(std::move(topic)), log_(std::move(log)) {
  pushed_ = &metrics.counter("pemx_http_front_pushed_total",
                             "Events accepted by POST /event and acknowledged by Kafka");
  failed_ = &metrics.counter("pemx_http_front_push_failures_total",
                             "Events of POST /event that Kafka did not acknowledge in time");
  kafka::KafkaConfig k = kafka;
  k.brokers = brokers;
  auto conf = kafka::make_conf(k, {{"enable.idempotence", "true"},
                                   {"acks", "all"},
                                   {"linger.ms", "2"},
                                   {"message.timeout.ms", std::to_string(timeout.count())}});
  if (!conf) throw std::runtime_error(conf.error().message);
  rd_kafka_conf_set_dr_msg_cb(conf.value().get(), &Pusher::on_delivery);
  rd_kafka_conf_set_opaque(conf.value().get(), this);
  auto client = kafka::make_client(kafka::ClientKind::kProducer, std::move(conf.value()));
  if (!client) throw std::runtime_error("http_front: " + client.error().message);
  producer_ = std::move(client.value());
  poller_ = std::thread([this] {
    while (!stop_.load()) rd_kafka_poll(producer_.get(), 100);
  });
}

Pusher::~Pusher() { stop(); }

void Pusher::stop() noexcept {
  if (stop_.exchange(true)) return;
  if (poller_.joinable()) poller_.join();
  // Reports still due run their callbacks now (flush serves them on this thread).
  rd_kafka_flush(producer_.get(), 5000);
}

void Pusher::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  static_cast<Pusher*>(opaque)->finish_one(
      static_cast<Batch*>(m->_private),
      m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? nullptr : rd_kafka_err2str(m->err));
}

void Pusher::finish_one(Batch* batch, const char* error) {
  if (error != nullptr) {
    failed_->inc();
    std::lock_guard<std::mutex> lock(batch->mutex);
    if (!batch->error) batch->error = error;
  } else {
    pushed_->inc();
  }
  release(batch);
}

void Pusher::release(Batch* batch) {
  if (batch->remaining.fetch_sub(1) == 1) {
    std::unique_ptr<Batch> owner(batch);
    owner->done(owner->error);
  }
}

void Pusher::push(std::vector<PushEvent> events, Done done) {
  auto* batch = new Batch();
  batch->done = std::move(done);
  batch->remaining.store(static_cast<int>(events.size()) + 1);  // +1: until all are queued
  for (const auto& e : events) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_TOPIC(topic_.c_str()),
        RD_KAFKA_V_KEY(e.key.data(), e.key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(e.value.data()), e.value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(batch), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) finish_one(batch, rd_kafka_err2str(err));
  }
  release(batch);  // the guard
}

std::optional<std::string> Pusher::kafka_problem() {
  std::lock_guard<std::mutex> lock(probe_mutex_);
  auto now = std::chrono::steady_clock::now();
  if (now - probe_at_ < std::chrono::seconds(1)) return probe_result_;
  probe_result_ = kafka::wait_for_cluster(producer_.get(), std::chrono::milliseconds(2000));
  probe_at_ = std::chrono::steady_clock::now();
  return probe_result_;
}

}  // namespace pemx::http_front
