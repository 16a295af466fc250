#pragma once
// Stage: the unit a role is made of. Lifecycle (a contract, see docs/architecture.md):
//   constructed (config valid, resources opened, nothing running)
//   -> start() -> stop_accepting() -> drain(deadline) -> stop()
// The last three are noexcept, idempotent and safe without start().
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "pemx/activity.hpp"
#include "pemx/event_check.hpp"
#include "pemx/event_store.hpp"
#include "pemx/log.hpp"
#include "pemx/metrics.hpp"
#include "pemx/queue.hpp"
#include "pemx/readiness.hpp"
#include "pemx/record.hpp"
#include "pemx/reload.hpp"
#include "pemx/topic_directory.hpp"

namespace pemx {

using RecordQueue = BoundedQueue<Record>;

// The one shutdown deadline of the process. A second signal moves it to "now".
class Deadline {
 public:
  explicit Deadline(Clock::time_point at) : at_(at.time_since_epoch().count()) {}
  Clock::time_point at() const { return Clock::time_point(Clock::duration(at_.load())); }
  bool passed() const { return Clock::now() >= at(); }
  void expire_now() { at_.store(Clock::now().time_since_epoch().count()); }

 private:
  std::atomic<Clock::rep> at_;
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual void start() = 0;
  // Sources stop taking new input; others ignore it.
  virtual void stop_accepting() noexcept = 0;
  // The shutdown's drain deadline, told to every stage right after stop_accepting and before
  // any drain: stages are drained one after the other, and a stage's own threads may need the
  // deadline before its drain is called (the ingest's final commit, waiting on an earlier
  // stage's drain). The same object drain() is given; it outlives the stage's threads.
  virtual void shutting_down(const Deadline& deadline) noexcept { (void)deadline; }
  // Waits until the stage has finished its work or the deadline passes; true when finished.
  virtual bool drain(const Deadline& deadline) noexcept = 0;
  // Stops now (joins threads). Whatever was not durable is redelivered later.
  virtual void stop() noexcept = 0;
};

// What a stage may use: nothing else reaches it.
struct StageContext {
  std::string name;  // instance name from pemx.toml ([stages.<name>])
  Logger log;
  Metrics* metrics = nullptr;
  std::map<std::string, RecordQueue*> queues;  // only the queues its spec declared
  // The effective broker list: kafka.brokers, or the embedded cluster's bootstrap address.
  std::string kafka_brokers;
  // Services a stage offers to others (a store's reader), shared by name. A stage that
  // provides one registers it in its constructor; a stage that uses one looks it up in
  // start() (construction happens in role order, so the provider must be listed first).
  std::map<std::string, std::shared_ptr<EventReader>>* readers = nullptr;
  // The routing decision of every router stage of the config (enabled in this role or not),
  // by stage name: the push applies it, so what it accepts is what the dist role routes.
  std::map<std::string, std::shared_ptr<EventCheck>> event_checks;
  // Latest events and dead letters, for the page (live view, overview). Never null.
  Activity* activity = nullptr;
  // What /readyz reports: a stage's Kafka client says here whether the cluster answers
  // (kafka::ClientLog). Never null.
  Readiness* readiness = nullptr;
  // The cluster's topics through a client of the role (the first Kafka sink offers its
  // producer's in its constructor, when the slot is empty); valid while the stages live. Used
  // for the target check (StageSpec::target_topics). Null in tests; the slot may stay empty.
  std::shared_ptr<TopicDirectory>* topic_directory = nullptr;
  // The same for each [clusters.<name>] (the first Kafka sink offers its producer on each,
  // when the entry is empty), for the targets a rule sends to that cluster. Null in tests.
  ClusterDirectories* cluster_directories = nullptr;
  // The process's reload of the routing rules (SIGHUP does the same), for the HTTP stage's
  // admin endpoint; valid while the stages live. Null in tests and offline tools.
  Reloader* reloader = nullptr;
  // Reports an unrecoverable error: the supervisor drains what it can and exits non-zero.
  std::function<void(const std::string&)> fatal;

  RecordQueue& queue(const std::string& queue_name) const { return *queues.at(queue_name); }
};

}  // namespace pemx
