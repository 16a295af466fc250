#pragma once
// EventProducer: the simulator's Kafka producer, shared by `pemx simulate` and the simulator
// stage. Idempotent, acks=all (these two cannot be overridden), key = productId. The config's
// kafka.properties apply (SASL, TLS); message.timeout.ms defaults to 30 s so that a missing
// broker is reported within a run rather than after librdkafka's five minutes.
// Threads: one thread calls produce() and poll(); delivery callbacks run inside poll() and
// produce() on that thread. Destroying it drops what is still queued: poll until in_flight()
// is 0 first.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "kafka/client.hpp"
#include "pemx/result.hpp"

namespace pemx::sim {

class EventProducer {
 public:
  // error is null when the broker acknowledged the event; value is the event as sent.
  using OnDelivery = std::function<void(std::string_view value, const char* error)>;

  // brokers: the effective broker list (kafka.brokers, --brokers, or an embedded bootstrap).
  static Result<std::unique_ptr<EventProducer>> create(const kafka::KafkaConfig& kafka,
                                                       const std::string& brokers,
                                                       std::string topic, OnDelivery on_delivery,
                                                       kafka::ClientLog log);
  ~EventProducer();
  EventProducer(const EventProducer&) = delete;
  EventProducer& operator=(const EventProducer&) = delete;

  // Queues one event. While librdkafka's queue is full it serves delivery reports and tries
  // again, until give_up() says stop. The error text when the event was not queued.
  std::optional<std::string> produce(std::string_view key, std::string_view value,
                                     const std::function<bool()>& give_up);
  // Serves delivery reports for up to `timeout`.
  void poll(std::chrono::milliseconds timeout);
  // Events queued and not yet reported.
  std::size_t in_flight() const;

 private:
  EventProducer(std::string topic, OnDelivery on_delivery)
      : topic_(std::move(topic)), on_delivery_(std::move(on_delivery)) {}
  static void on_report(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque);

  std::string topic_;
  OnDelivery on_delivery_;
  kafka::HandlePtr producer_;  // last: its callbacks use the members above
};

}  // namespace pemx::sim
