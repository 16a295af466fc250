#pragma once
// Pusher: the fallback push's producer. push() produces a batch of events to the input topic
// and calls back exactly once: ok (with where each event landed) when the broker acknowledged
// all of them, the error when any
// failed, or "no acknowledgement within push_timeout" when the deadline passed first, whatever
// the broker does (down, refusing, or hung with its connections open). The poll thread checks
// deadlines every kDeadlineCheck, so the answer comes within push_timeout + kDeadlineCheck
// (plus the time to write the answer). message.timeout.ms is push_timeout too, so librdkafka
// gives up on such messages at about the same time. Settled tells the push handler, once every
// report is in, which events the broker acknowledged after all (push_handler.cpp keeps them
// in the idempotency table, so a retry does not produce them again).
// Threads: push() from any thread (Asio threads: it never blocks); one poll thread serves
// delivery reports, checks deadlines and runs the callbacks.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http_front/api.hpp"
#include "kafka/client.hpp"
#include "pemx/log.hpp"
#include "pemx/metrics.hpp"

namespace pemx::http_front {

// The push producer's own librdkafka properties, applied after [kafka.properties]: the
// answer time is push_timeout whatever they say, and linger.ms is kafka::kPushLingerMs (a
// shorter one makes librdkafka's broker thread spin: src/kafka/sizing.hpp).
kafka::Properties push_producer_properties(std::chrono::milliseconds timeout);

class Pusher {
 public:
  // error: nullopt when the broker acknowledged every event; delivered: then each event's
  // topic, partition and offset, in the order pushed (empty on an error).
  using Done = std::function<void(std::optional<std::string> error,
                                  std::vector<Delivered> delivered)>;
  // Once every delivery report is in (after done, which may have answered at the deadline):
  // each event's outcome in the order pushed, where it landed when the broker acknowledged it
  // (nullopt: refused, timed out, or purged at stop). Not called for batches still without
  // reports when the pusher stops.
  using Settled = std::function<void(std::vector<std::optional<Delivered>> outcomes)>;
  static constexpr std::chrono::milliseconds kDeadlineCheck{100};

  // name: the stage's name (readiness entry); readiness: the process's, where every Kafka
  // client reports whether the cluster answers; fatal: told when the poll thread fails
  // (core/stage_thread.hpp; null: the failure aborts).
  Pusher(const kafka::KafkaConfig& kafka, const std::string& brokers, std::string topic,
         std::chrono::milliseconds timeout, Logger log, Metrics& metrics, std::string name,
         Readiness* readiness, std::function<void(const std::string&)> fatal = nullptr);
  ~Pusher();
  void push(std::vector<PushEvent> events, Done done, Settled settled = nullptr);
  const std::string& topic() const { return topic_; }
  // nullopt when every Kafka client of the process has had an answer from the cluster lately
  // (kafka::kNoAnswerAfter); else which clients have not and why. Never blocks.
  std::optional<std::string> kafka_problem();
  void stop() noexcept;

 private:
  struct Batch;
  struct Slot;
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque);
  void finish_one(Batch* batch, const char* error);
  void settle(Batch* batch, const char* error);
  void expire(std::chrono::steady_clock::time_point now);

  std::string topic_;
  std::chrono::milliseconds timeout_;
  Logger log_;
  Readiness* readiness_;
  Counter* pushed_;
  Counter* failed_;
  Counter* timed_out_;
  std::mutex batches_mutex_;
  std::map<std::uint64_t, std::unique_ptr<Batch>> batches_;  // until every report is in
  std::uint64_t next_id_ = 0;
  std::atomic<bool> stop_{false};
  kafka::HandlePtr producer_;
  // topic_'s handle: producing by handle spares librdkafka's lookup of the topic by name (a
  // read lock and a search) for every event. Null without a topic (the push disabled: push()
  // is never called). Destroyed before producer_.
  kafka::TopicPtr topic_handle_;
  std::thread poller_;  // last: it uses producer_
};

}  // namespace pemx::http_front
