#pragma once
// Pusher: the fallback push's producer. push() produces a batch of events to the input topic
// and calls back once the broker acknowledged all of them (ok) or any failed or timed out
// (the error). message.timeout.ms bounds the wait, so a down broker answers within it.
// Threads: push() from any thread (Asio threads: it never blocks); one poll thread serves
// delivery reports and runs the callbacks.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http_front/api.hpp"
#include "kafka/client.hpp"
#include "pemx/log.hpp"
#include "pemx/metrics.hpp"

namespace pemx::http_front {

class Pusher {
 public:
  using Done = std::function<void(std::optional<std::string> error)>;
  Pusher(const kafka::KafkaConfig& kafka, const std::string& brokers, std::string topic,
         std::chrono::milliseconds timeout, Logger log, Metrics& metrics);
  ~Pusher();
  void push(std::vector<PushEvent> events, Done done);
  // nullopt when the cluster answers a metadata request (cached for a second).
  std::optional<std::string> kafka_problem();
  void stop() noexcept;

 private:
  struct Batch;
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque);
  void finish_one(Batch* batch, const char* error);
  void release(Batch* batch);

  std::string topic_;
  Logger log_;
  Counter* pushed_;
  Counter* failed_;
  std::mutex probe_mutex_;
  std::chrono::steady_clock::time_point probe_at_{};
  std::optional<std::string> probe_result_;
  std::atomic<bool> stop_{false};
  kafka::HandlePtr producer_;
  std::thread poller_;  // last: it uses producer_
};

}  // namespace pemx::http_front
