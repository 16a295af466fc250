#pragma once
// Watcher: reads the downstream topics of `pemx simulate --watch` and reports each message's
// event id. No consumer group is joined and nothing is committed: partitions are assigned
// directly. A topic that exists when watch() is called is read from its end as of that call
// (so the run's events, produced afterwards, are all seen and older ones are not); a topic
// that does not exist yet is read from its beginning once it appears (checked every 500 ms).
// Partitions added to a topic while it is watched are not read.
// Threads: watch() from the caller's thread; one thread of its own polls the consumer and
// runs OnMessage.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <stop_token>
#include <string_view>
#include <vector>

#include "core/worker.hpp"
#include "kafka/client.hpp"
#include "pemx/result.hpp"

namespace pemx::sim {

class Watcher {
 public:
  using OnMessage = std::function<void(const std::string& topic, std::string_view event_id)>;

  static Result<std::unique_ptr<Watcher>> create(const kafka::KafkaConfig& kafka,
                                                 const std::string& brokers,
                                                 const std::string& group_id, OnMessage on_message,
                                                 kafka::ClientLog log);
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Starts reading these topics (those not watched yet); the error when the cluster could not
  // tell where they end.
  std::optional<std::string> watch(const std::vector<std::string>& topics);
  // Messages seen so far that carried no event id (neither header nor JSON field).
  std::uint64_t without_id() const { return without_id_.load(); }
  // Consumer errors so far (librdkafka retries the transient ones), and the first one's text.
  std::uint64_t errors() const { return errors_.load(); }
  std::string first_error();
  void stop() noexcept;

 private:
  Watcher(OnMessage on_message, ThreadOwner owner)
      : on_message_(std::move(on_message)), worker_(std::move(owner)) {}
  // The partition counts of those of `topics` that exist.
  Result<std::map<std::string, int>> partitions(const std::vector<std::string>& topics);
  // Adds every partition of `topics` to the assignment, at its current end or its beginning.
  std::optional<std::string> assign(const std::map<std::string, int>& topics, bool from_end);
  void run(std::stop_token st);
  void check_pending();

  OnMessage on_message_;
  std::mutex mutex_;
  std::set<std::string> watched_;
  std::vector<std::string> pending_;  // topics that did not exist yet
  std::atomic<std::uint64_t> without_id_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::string first_error_;  // guarded by mutex_
  kafka::HandlePtr consumer_;
  Worker worker_;  // last: its thread uses everything above
};

}  // namespace pemx::sim
