// kafka_ingest stage: consumes its topics in a consumer group, pushes each message as a
// Record into its output queue, and commits an offset only after the record (and every
// earlier one of its partition) came back on its ack queue, i.e. after every output of it was
// acknowledged downstream.
//
// Backpressure: when the output queue is full the stage pauses its partitions and keeps
// polling (so the group does not evict it), and resumes once the queue has room.
// Threads: one worker thread owns the consumer (poll, rebalance callback, commits) and the
// offset tracker. A second thread, the fetch waker (fetch_wakeup_interval), only asks the
// brokers for watermarks (librdkafka calls that are safe from any thread), so that the small
// prefetch is refilled in time (kafka/sizing.hpp); the worker stops it before the close. The
// supervisor's thread only calls the lifecycle methods.
#include "kafka_ingest/kafka_ingest.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include "core/config.hpp"
#include "core/config_section.hpp"
#include "core/retry.hpp"
#include "core/worker.hpp"
#include "kafka/client.hpp"
#include "kafka/factory.hpp"
#include "kafka/group_instance.hpp"
#include "kafka/properties_config.hpp"
#include "kafka/sizing.hpp"
#include "kafka/topic_name.hpp"
#include "kafka_ingest/offset_tracker.hpp"

namespace pemx::kafka_ingest {

namespace {

struct Settings {
  std::vector<std::string> topics = {"product-event"};
  std::string group_id = "product-event-consumer-pemx";
  // group.instance.id, expanded (kafka/group_instance.hpp); empty: dynamic membership.
  std::string group_instance_id;
  std::string output = "events";
  std::string acks = "acks";
  std::string auto_offset_reset = "earliest";
  kafka::KafkaConfig kafka;
  kafka::Properties properties;  // consumer-specific overrides
  std::chrono::milliseconds commit_interval{1000};
  std::chrono::milliseconds pause_after{30'000};  // full output queue this long: pause, poll
  // How often the fetch waker sends a watermark request to the brokers (0: never); see
  // kafka::kIngestFetchWakeupMs.
  std::chrono::milliseconds fetch_wakeup_interval{kafka::kIngestFetchWakeupMs};
  RetryPolicy retry{std::chrono::milliseconds(200), std::chrono::seconds(5), 2.0, 0};
  // delivery = "exactly_once": batches of records end with a transaction marker that the
  // sink commits together with their offsets (docs/architecture.md, "Exactly-once").
  bool exactly_once = false;
  std::chrono::milliseconds transaction_interval{100};  // a batch closes this long after its start
  std::int64_t transaction_max_events = 10'000;         // ... or at this many records
  // A marker not back within this (the sink's commit or abort) is fatal.
  std::chrono::milliseconds transaction_wait{std::chrono::seconds(120)};
};

class KafkaIngest final : public Stage {
 public:
  KafkaIngest(const Settings& s, StageContext& ctx)
      : s_(s), log_(ctx.log), fatal_(ctx.fatal), output_(ctx.queue(s.output)),
        acks_(ctx.queue(s.acks)), waker_(thread_owner(ctx)), worker_(thread_owner(ctx)) {
    if (ctx.activity != nullptr) ctx.activity->note_source(ctx.name, s.topics);
    Labels stage = {{"stage", ctx.name}};
    Metrics& m = *ctx.metrics;
    consumed_ = &m.counter("pemx_kafka_ingest_consumed_total", "Messages consumed", stage);
    acked_ = &m.counter("pemx_kafka_ingest_acked_total",
                        "Records acknowledged by the sink (all outputs delivered)", stage);
    commits_ = &m.counter("pemx_kafka_ingest_commits_total", "Offset commits sent", stage);
    commit_errors_ = &m.counter("pemx_kafka_ingest_commit_errors_total", "Failed offset commits",
                                stage);
    retries_ = &m.counter("pemx_kafka_ingest_retries_total", "Retried consumer calls", stage);
    pauses_ = &m.counter("pemx_kafka_ingest_backpressure_pauses_total",
                         "Times the partitions were paused because the output queue was full",
                         stage);
    transactions_committed_ =
        &m.counter("pemx_kafka_ingest_transactions_total",
                   "Batches whose transaction the sink ended (delivery = exactly_once)",
                   {{"stage", ctx.name}, {"outcome", "committed"}});
    transactions_aborted_ =
        &m.counter("pemx_kafka_ingest_transactions_total",
                   "Batches whose transaction the sink ended (delivery = exactly_once)",
                   {{"stage", ctx.name}, {"outcome", "aborted"}});
    for (const char* outcome : {"ok", "error"}) {
      fetch_wakeups_[outcome == std::string_view("ok") ? 0 : 1] = &m.counter(
          "pemx_kafka_ingest_fetch_wakeups_total",
          "Partitions whose latest offset the fetch waker asked for, to have the prefetch "
          "refilled (fetch_wakeup_interval)",
          {{"stage", ctx.name}, {"outcome", outcome}});
    }
    m.gauge_fn("pemx_kafka_ingest_outstanding", "Consumed records not yet acknowledged", stage,
               [this] { return static_cast<double>(outstanding_.load()); });
    m.gauge_fn("pemx_kafka_ingest_consumer_lag",
               "Messages in the assigned partitions not yet consumed (high watermark - position)",
               stage, [this] { return static_cast<double>(lag_.load()); });
    metrics_ = ctx.metrics;
    name_ = ctx.name;
    activity_ = ctx.activity;

    kafka::ConsumerSettings c;
    c.kafka = s.kafka;
    c.kafka.brokers = ctx.kafka_brokers;
    c.properties = {{"group.id", s.group_id},
                    {"enable.auto.commit", "false"},
                    {"enable.auto.offset.store", "false"},
                    {"auto.offset.reset", s.auto_offset_reset},
                    {"enable.partition.eof", "false"}};
    // Bounds the prefetch buffer and the fetch responses (src/kafka/sizing.hpp).
    for (auto& p : kafka::ingest_consumer_sizing()) c.properties.push_back(std::move(p));
    // Exactly-once: read only committed input (an upstream transactional producer's aborted
    // messages are skipped); offsets are committed by the sink's transactions, never here.
    if (s.exactly_once) c.properties.emplace_back("isolation.level", "read_committed");
    // Static membership: a restart with the same id takes its partitions back at once,
    // without a rebalance, if it comes back within session.timeout.ms.
    if (!s.group_instance_id.empty()) {
      c.properties.emplace_back("group.instance.id", s.group_instance_id);
    }
    c.properties.insert(c.properties.end(), s.properties.begin(), s.properties.end());
    c.opaque = this;
    c.on_rebalance = &KafkaIngest::on_rebalance;
    c.on_commit = &KafkaIngest::on_commit;
    c.errors = kafka::ErrorPolicy{"consumer", fatal_, fatal_hint(s, ctx.name)};
    c.log = {ctx.log, ctx.name, ctx.readiness, true, fatal_};
    auto client = kafka::make_consumer(std::move(c));
    if (!client) throw std::runtime_error("kafka_ingest: " + client.error().message);
    consumer_ = std::move(client.value());
  }

  // What the operator must do about a fatal consumer error librdkafka raised for `err`.
  static std::function<std::string(int)> fatal_hint(const Settings& s, const std::string& name) {
    return [key = "stages." + name + ".group_instance_id", id = s.group_instance_id,
            group = s.group_id](int err) -> std::string {
      if (err != RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID) return {};
      return "another consumer joined group " + group + " with the same " + key + " (\"" + id +
             "\") and took over this one's partitions; give every instance its own " + key +
             " (e.g. \"${HOSTNAME}\"). This instance stops";
    };
  }

  void start() override {
    kafka::PartitionListPtr topics(rd_kafka_topic_partition_list_new(static_cast<int>(s_.topics.size())));
    for (const auto& t : s_.topics) {
      rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    }
    auto err = retry_call(s_.retry, log_, "subscribe", [&] {
      rd_kafka_resp_err_t e = rd_kafka_subscribe(consumer_.get(), topics.get());
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return Attempt::success();
      retries_->inc();
      return Attempt::failure(rd_kafka_err2str(e), true);
    }, [] { return false; });
    if (err) throw std::runtime_error("subscribe failed: " + *err);
    std::string list;
    for (const auto& t : s_.topics) list += (list.empty() ? "" : ",") + t;
    log_.info("subscribed", {{"topics", list}, {"group", s_.group_id}});
    if (s_.fetch_wakeup_interval.count() > 0) {
      waker_.start([this](std::stop_token st) { wake_fetchers(st); });
    }
    worker_.start([this](std::stop_token st) { run(st); });
  }
  void stop_accepting() noexcept override { accepting_.store(false); }
  void shutting_down(const Deadline& deadline) noexcept override { deadline_ = &deadline; }
  bool drain(const Deadline& deadline) noexcept override {
    deadline_ = &deadline;
    bool finished = worker_.wait_done(deadline);
    if (!finished && closing_.load()) {
      // Only leaving the group is left, e.g. a join still pending: librdkafka's close waits
      // for the JoinGroup answer, which the coordinator holds until every earlier member
      // rejoined or its session expired (a killed predecessor: up to its session timeout).
      // What was delivered is committed, so the drain is complete; the worker abandons the
      // close now that the deadline passed (close_consumer) and the group times us out.
      log_.warn("the consumer did not leave the group before the drain deadline (a group join "
                "or rebalance was still pending); its member times out after session.timeout.ms",
                {{"group", s_.group_id}});
      finished = true;
    }
    if (finished && !committed_all_.load()) {
      log_.warn("the final offset commit failed: delivered records will be redelivered");
    }
    return finished && committed_all_.load();
  }
  void stop() noexcept override {
    accepting_.store(false);
    worker_.stop();
    waker_.stop();
  }

 private:
  static void on_rebalance(rd_kafka_t* rk, int err, rd_kafka_topic_partition_list_t* parts,
                           void* opaque) {
    static_cast<KafkaIngest*>(opaque)->rebalance(rk, static_cast<rd_kafka_resp_err_t>(err), parts);
  }
  // Served by consumer_poll on the worker thread, like the tracker it updates.
  static void on_commit(rd_kafka_t*, int err, rd_kafka_topic_partition_list_t* offsets,
                        void* opaque) {
    static_cast<KafkaIngest*>(opaque)->committed(static_cast<rd_kafka_resp_err_t>(err), offsets);
  }

  // Records a commit result per partition; failed partitions are sent again next time.
  void committed(rd_kafka_resp_err_t err, const rd_kafka_topic_partition_list_t* offsets) {
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET || offsets == nullptr) return;
    int failed = 0;
    for (int i = 0; i < offsets->cnt; ++i) {
      const auto& tp = offsets->elems[i];
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR || tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        tracker_.commit_failed({tp.topic, tp.partition}, tp.offset);
        ++failed;
      } else {
        tracker_.commit_succeeded({tp.topic, tp.partition}, tp.offset);
      }
    }
    if (failed > 0) {
      commit_errors_->inc();
      log_.warn("offset commit failed; it is sent again at the next commit",
                {{"error", rd_kafka_err2str(err != RD_KAFKA_RESP_ERR_NO_ERROR
                                                ? err
                                                : offsets->elems[0].err)},
                 {"partitions", failed}});
    }
  }

  void rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
    bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      for (int i = 0; i < parts->cnt; ++i) {
        tracker_.assign({parts->elems[i].topic, parts->elems[i].partition});
      }
      if (cooperative) {
        rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts);
        if (e != nullptr) {
          log_.error("incremental assign failed", {{"error", rd_kafka_error_string(e)}});
          rd_kafka_error_destroy(e);
        }
      } else {
        rd_kafka_assign(rk, parts);
      }
      if (paused_) rd_kafka_pause_partitions(rk, parts);
      log_.info("partitions assigned", {{"count", parts->cnt}});
    } else {
      // Commit what is done for the partitions we lose, then forget them: acks that arrive
      // later for them are ignored (the new owner redelivers; at-least-once). Exactly-once:
      // the open transaction is committed (or aborted) before the partitions go, so that the
      // new owner starts exactly where it ended.
      if (s_.exactly_once) end_batch_and_wait();
      else commit(false);
      for (int i = 0; i < parts->cnt; ++i) {
        tracker_.revoke({parts->elems[i].topic, parts->elems[i].partition});
      }
      if (cooperative) {
        rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts);
        if (e != nullptr) rd_kafka_error_destroy(e);
      } else {
        rd_kafka_assign(rk, nullptr);
      }
      log_.info("partitions revoked", {{"count", parts->cnt}});
    }
    outstanding_.store(static_cast<std::int64_t>(tracker_.outstanding()));
    update_lag();  // the overview and the partition series follow the assignment at once
  }

  void take_acks() {
    while (RecordPtr rec = acks_.try_pop()) acked(std::move(rec));
    outstanding_.store(static_cast<std::int64_t>(tracker_.outstanding()));
  }

  // Commits every partition whose committable offset moved. Asynchronously while running;
  // synchronously (with retries until the deadline) at the end.
  // False when a synchronous commit failed (async results arrive in on_commit).
  bool commit(bool async) {
    auto ready = tracker_.take_committable();
    if (ready.empty()) return true;
    kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(ready.size())));
    for (const auto& [tp, next] : ready) {
      rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second)->offset = next;
    }
    commits_->inc();
    if (async) {
      rd_kafka_commit(consumer_.get(), list.get(), 1);  // result: on_commit
      return true;
    }
    // Synchronous, but bounded: through a queue polled until the shutdown deadline less what
    // the close needs (or 10 s outside shutdown), so an unreachable coordinator cannot hold the
    // process. In a shutdown it waits as long as the deadline allows: when the coordinator
    // died, the cluster moves the group to another broker after about its session timeout
    // (9 s in KRaft's default broker fencing), and librdkafka then sends the commit there; a
    // 10 s cap gave up just before that and exited 1 (every delivered record redelivered).
    const auto until = wait_bound(kCloseReserve);
    auto give_up = [&] {
      const Deadline* d = deadline_.load();
      return (d != nullptr && d->passed()) || Clock::now() >= until;
    };
    auto err = retry_call(s_.retry, log_, "commit", [&] {
      kafka::QueuePtr q(rd_kafka_queue_new(consumer_.get()));
      rd_kafka_resp_err_t e = rd_kafka_commit_queue(consumer_.get(), list.get(), q.get(),
                                                    nullptr, nullptr);
      while (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_event_t* ev = rd_kafka_queue_poll(q.get(), 50);
        if (ev == nullptr) {
          if (give_up()) return Attempt::failure("commit timed out", false);
          continue;
        }
        e = rd_kafka_event_error(ev);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
          const auto* res = rd_kafka_event_topic_partition_list(ev);
          for (int i = 0; res != nullptr && i < res->cnt; ++i) {
            if (res->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) e = res->elems[i].err;
          }
        }
        rd_kafka_event_destroy(ev);
        break;
      }
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return Attempt::success();
      retries_->inc();
      // __FATAL: the consumer is done (e.g. fenced by another instance with its
      // group_instance_id); no commit can succeed any more.
      bool retriable = e != RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID &&
                       e != RD_KAFKA_RESP_ERR__FATAL &&
                       e != RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID &&
                       e != RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION &&
                       e != RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
      return Attempt::failure(rd_kafka_err2str(e), retriable);
    }, give_up);
    for (int i = 0; i < list->cnt; ++i) {
      const auto& tp = list->elems[i];
      if (err) tracker_.commit_failed({tp.topic, tp.partition}, tp.offset);
      else tracker_.commit_succeeded({tp.topic, tp.partition}, tp.offset);
    }
    if (err) commit_errors_->inc();
    return !err;
  }

  // The fetch waker (its own thread, fetch_wakeup_interval > 0). librdkafka 2.0.2 stops
  // fetching a partition once the prefetch is over queued.max.messages.kbytes, with no timer to
  // look again: its broker thread decides at its next wake-up, at the latest after 1 s, so the
  // prefetch would be refilled about once a second (kafka/sizing.hpp). Any request queued for
  // that broker thread wakes it, and it then decides again. An offset query for the latest
  // offset (a ListOffsets request to the partition's leader, which is the broker that fetches
  // it) is the lightest public call that does so. rd_kafka_offsets_for_times, not
  // rd_kafka_query_watermark_offsets: in librdkafka 2.0.2 only the first returns at its
  // timeout; the second waits for the answer, so with a dead leader it held this thread, and the
  // worker's stop before the close, until socket.timeout.ms (60 s), past the drain deadline.
  // At most kFetchWakeupsPerTick partitions per tick, taken in turn, so a consumer of many
  // partitions sends no more requests than one of few.
  void wake_fetchers(const std::stop_token& st) {
    static constexpr int kFetchWakeupsPerTick = 3;
    std::mutex mutex;
    std::condition_variable_any cv;
    std::size_t next = 0;
    // Bounded so that the worker's stop (before the close) never waits long for this thread.
    const int timeout_ms = 500;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex);
        if (cv.wait_for(lock, st, s_.fetch_wakeup_interval, [] { return false; }) ||
            st.stop_requested()) {
          return;
        }
      }
      // Idle (nothing consumed since the last tick): the prefetch cannot be full, so no
      // request; an idle consumer costs the brokers nothing.
      if (!consumed_since_wakeup_.exchange(false, std::memory_order_relaxed)) continue;
      rd_kafka_topic_partition_list_t* assigned = nullptr;
      if (rd_kafka_assignment(consumer_.get(), &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR ||
          assigned == nullptr) {
        continue;
      }
      kafka::PartitionListPtr owner(assigned);
      const int n = std::min(assigned->cnt, kFetchWakeupsPerTick);
      if (n == 0) continue;
      kafka::PartitionListPtr ask(rd_kafka_topic_partition_list_new(n));
      for (int i = 0; i < n; ++i) {
        const auto& tp = assigned->elems[(next + static_cast<std::size_t>(i)) %
                                         static_cast<std::size_t>(assigned->cnt)];
        rd_kafka_topic_partition_list_add(ask.get(), tp.topic, tp.partition)->offset =
            RD_KAFKA_OFFSET_END;  // a time of -1: the latest offset
      }
      // A failure (broker down, leader moving) is harmless here: the consumer reports and
      // recovers those itself; the requests were only meant to wake the broker threads.
      const bool ok = rd_kafka_offsets_for_times(consumer_.get(), ask.get(), timeout_ms) ==
                      RD_KAFKA_RESP_ERR_NO_ERROR;
      fetch_wakeups_[ok ? 0 : 1]->inc(n);
      next += static_cast<std::size_t>(n);
    }
  }

  // From librdkafka's cached watermarks (no request): cheap enough for every commit tick.
  // The stage's total counts what is not consumed yet (high watermark - position); each
  // partition's lag (the overview, pemx_kafka_ingest_partition_lag) what is not committed yet
  // (high watermark - committed offset): what a restart would read again and what the group's
  // lag on the broker (the autoscaler's) shows.
  void update_lag() {
    rd_kafka_topic_partition_list_t* assigned = nullptr;
    if (rd_kafka_assignment(consumer_.get(), &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    kafka::PartitionListPtr owner(assigned);
    rd_kafka_position(consumer_.get(), assigned);
    refresh_group_committed(assigned);
    std::int64_t total = 0;
    std::vector<PartitionLag> parts;
    parts.reserve(static_cast<std::size_t>(assigned->cnt));
    for (int i = 0; i < assigned->cnt; ++i) {
      const auto& tp = assigned->elems[i];
      PartitionLag p;
      p.topic = tp.topic;
      p.partition = tp.partition;
      p.committed = tracker_.committed_offset({tp.topic, tp.partition});
      if (p.committed < 0) {
        // Nothing committed by this member yet: the group's (a restart, a rebalance).
        auto it = group_committed_.find({tp.topic, tp.partition});
        if (it != group_committed_.end()) p.committed = it->second;
      }
      std::int64_t low = 0, high = 0;
      if (rd_kafka_get_watermark_offsets(consumer_.get(), tp.topic, tp.partition, &low, &high) !=
              RD_KAFKA_RESP_ERR_NO_ERROR ||
          high < 0) {
        parts.push_back(std::move(p));
        continue;
      }
      // Nothing consumed since the assignment: the consumer starts at the committed offset,
      // or (none in the group) at the earliest one.
      std::int64_t position = tp.offset >= 0 ? tp.offset : p.committed >= 0 ? p.committed : low;
      total += std::max<std::int64_t>(0, high - position);
      p.high_watermark = high;
      p.lag = std::max<std::int64_t>(0, high - (p.committed >= 0 ? p.committed : position));
      parts.push_back(std::move(p));
    }
    lag_.store(total);
    note_partition_lags(std::move(parts));
  }

  // The group's committed offsets of the assigned partitions that this member has neither
  // consumed from nor committed (just assigned after a restart or a rebalance, and idle):
  // without them such a partition's whole history would count as lag. Asked of the group
  // coordinator once per partition while it stays assigned (at most 200 ms, and after a
  // failure not again for 10 s); kept only for assigned partitions. Worker thread only.
  void refresh_group_committed(const rd_kafka_topic_partition_list_t* assigned) {
    std::map<OffsetTracker::Key, std::int64_t> kept;
    kafka::PartitionListPtr ask(rd_kafka_topic_partition_list_new(0));
    for (int i = 0; i < assigned->cnt; ++i) {
      const auto& tp = assigned->elems[i];
      OffsetTracker::Key key{tp.topic, tp.partition};
      if (tp.offset >= 0 || tracker_.committed_offset(key) >= 0) continue;
      if (auto it = group_committed_.find(key); it != group_committed_.end()) {
        kept.emplace(std::move(key), it->second);
      } else {
        rd_kafka_topic_partition_list_add(ask.get(), tp.topic, tp.partition);
      }
    }
    const auto now = Clock::now();
    if (ask->cnt > 0 && now >= next_committed_ask_) {
      if (rd_kafka_committed(consumer_.get(), ask.get(), 200) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < ask->cnt; ++i) {
          const auto& e = ask->elems[i];
          // No offset in the group (-1001): the consumer starts at the earliest one.
          if (e.err == RD_KAFKA_RESP_ERR_NO_ERROR) kept[{e.topic, e.partition}] = e.offset;
        }
      } else {
        next_committed_ask_ = now + std::chrono::seconds(10);
      }
    }
    group_committed_ = std::move(kept);
  }

  // Publishes the lag per partition: the kMaxPartitionLags most lagging partitions to the
  // overview (Activity) and as pemx_kafka_ingest_partition_lag series; a partition that left
  // the assignment (or that set) loses its series. Worker thread only.
  void note_partition_lags(std::vector<PartitionLag> parts) {
    const std::size_t assigned = parts.size();
    std::sort(parts.begin(), parts.end(), [](const PartitionLag& a, const PartitionLag& b) {
      if (a.lag != b.lag) return a.lag > b.lag;
      if (a.topic != b.topic) return a.topic < b.topic;
      return a.partition < b.partition;
    });
    if (parts.size() > kMaxPartitionLags) parts.resize(kMaxPartitionLags);
    std::map<OffsetTracker::Key, std::shared_ptr<std::atomic<std::int64_t>>> next;
    for (const auto& p : parts) {
      OffsetTracker::Key key{p.topic, p.partition};
      auto it = partition_lags_.find(key);
      std::shared_ptr<std::atomic<std::int64_t>> value;
      if (it != partition_lags_.end()) {
        value = std::move(it->second);
        partition_lags_.erase(it);
      } else {
        value = std::make_shared<std::atomic<std::int64_t>>(0);
        metrics_->gauge_fn(kPartitionLagMetric, kPartitionLagHelp, partition_labels(key),
                           [value] { return static_cast<double>(value->load()); });
      }
      value->store(p.lag);
      next.emplace(std::move(key), std::move(value));
    }
    for (const auto& [key, value] : partition_lags_) {
      metrics_->remove_gauge_fn(kPartitionLagMetric, partition_labels(key));
    }
    partition_lags_ = std::move(next);
    if (activity_ != nullptr) activity_->note_partitions(name_, std::move(parts), assigned);
  }

  Labels partition_labels(const OffsetTracker::Key& key) const {
    return {{"stage", name_}, {"topic", key.first}, {"partition", std::to_string(key.second)}};
  }

  static constexpr const char* kPartitionLagMetric = "pemx_kafka_ingest_partition_lag";
  static constexpr const char* kPartitionLagHelp =
      "Messages of an assigned partition not yet committed (high watermark - committed offset), "
      "for the 256 most lagging partitions of the stage";

  // How long a synchronous step of the consumer may wait: in a shutdown, until the drain
  // deadline less `reserve` (what must still run after it), yet at least until
  // min(now + reserve, deadline); outside a shutdown, 10 s.
  static constexpr Clock::duration kCloseReserve = std::chrono::seconds(2);
  Clock::time_point wait_bound(Clock::duration reserve) const {
    const Deadline* d = deadline_.load();
    const auto now = Clock::now();
    if (d == nullptr) return now + std::chrono::seconds(10);
    return std::max(d->at() - reserve, std::min(now + reserve, d->at()));
  }

  // Leaves the group, bounded by the shutdown deadline (a close can otherwise wait for a
  // session timeout when the coordinator is unreachable). Past the deadline the handle is
  // destroyed without the close: what was not committed is redelivered.
  void close_consumer() {
    const Deadline* deadline = deadline_.load();
    if (deadline != nullptr && deadline->passed()) {
      log_.warn("no time left to leave the group; the coordinator will time the member out");
      abandon_consumer();
      return;
    }
    kafka::QueuePtr q(rd_kafka_queue_new(consumer_.get()));
    rd_kafka_error_t* error = rd_kafka_consumer_close_queue(consumer_.get(), q.get());
    if (error != nullptr) {
      // No close was started (after a fatal error, say), so none can finish: do not wait.
      log_.warn("consumer close", {{"error", rd_kafka_error_string(error)}});
      rd_kafka_error_destroy(error);
      return;
    }
    const auto until = wait_bound(Clock::duration::zero());
    while (!rd_kafka_consumer_closed(consumer_.get())) {
      const Deadline* d = deadline_.load();
      if ((d != nullptr && d->passed()) || Clock::now() >= until) {
        log_.warn("consumer close did not finish before the deadline; leaving without it");
        q.reset();
        abandon_consumer();
        return;
      }
      // The close queue carries events, not callbacks: serve the revoke here.
      rd_kafka_event_t* ev = rd_kafka_queue_poll(q.get(), 50);
      if (ev == nullptr) continue;
      if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE) {
        rebalance(consumer_.get(), rd_kafka_event_error(ev),
                  rd_kafka_event_topic_partition_list(ev));
      } else if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT) {
        committed(rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev));
      }
      rd_kafka_event_destroy(ev);
    }
  }

  // Past the deadline even rd_kafka_destroy can wait for an unreachable coordinator, so the
  // handle is left to the process's exit, which is next (the supervisor is shutting down).
  // Nothing is lost: only acknowledged offsets were ever committed.
  void abandon_consumer() { static_cast<void>(consumer_.release()); }

  void set_paused(bool pause) {
    if (paused_ == pause) return;
    rd_kafka_topic_partition_list_t* assigned = nullptr;
    if (rd_kafka_assignment(consumer_.get(), &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      kafka::PartitionListPtr owner(assigned);
      if (pause) rd_kafka_pause_partitions(consumer_.get(), assigned);
      else rd_kafka_resume_partitions(consumer_.get(), assigned);
    }
    paused_ = pause;
    if (pause) pauses_->inc();
  }

  void acked(RecordPtr rec) {
    if (rec->end_of_transaction) {
      transaction_ended(std::move(rec));
      return;
    }
    acked_->inc();
    tracker_.acked({rec->topic, rec->partition}, rec->offset);
    if (spare_.size() < kafka::kIngestSpareRecords &&
        rec->string_bytes() <= kafka::kIngestSpareRecordBytes) {
      spare_.push_back(std::move(rec));
    }
  }

  RecordPtr to_record(const rd_kafka_message_t* m) {
    RecordPtr rec;
    if (spare_.empty()) {
      rec = std::make_unique<Record>();
    } else {
      rec = std::move(spare_.back());
      spare_.pop_back();
      rec->key.clear();
      rec->has_key = false;
      rec->end_of_transaction = false;
      rec->transaction_committed = false;
    }
    rec->topic = rd_kafka_topic_name(m->rkt);
    rec->partition = m->partition;
    rec->offset = m->offset;
    rd_kafka_timestamp_type_t tstype;
    rec->timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
    if (m->key != nullptr) {
      rec->has_key = true;
      rec->key.assign(static_cast<const char*>(m->key), m->key_len);
    }
    if (m->payload != nullptr) rec->value.assign(static_cast<const char*>(m->payload), m->len);
    else rec->value.clear();
    return rec;
  }

  void poll_once(std::chrono::milliseconds timeout) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_.get(), static_cast<int>(timeout.count()));
    if (m == nullptr) return;
    kafka::MessagePtr owner(m);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
      if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        // The consumer cannot go on (fenced, say): report it once (the supervisor drains
        // and exits 1) and consume nothing more; what is in flight is still acked.
        if (!failed_.exchange(true)) kafka::report_consumer_fatal(consumer_.get());
        return;
      }
      log_.warn("consume error", {{"error", rd_kafka_message_errstr(m)},
                                  {"code", rd_kafka_err2name(m->err)}});
      return;
    }
    consumed_->inc();
    consumed_since_wakeup_.store(true, std::memory_order_relaxed);
    tracker_.consumed({rd_kafka_topic_name(m->rkt), m->partition}, m->offset);
    held_.push_back(to_record(m));
    if (s_.exactly_once) {
      if (batch_size_++ == 0) batch_started_ = Clock::now();
      batch_start_.emplace(OffsetTracker::Key{rd_kafka_topic_name(m->rkt), m->partition},
                           m->offset);  // the first of the batch per partition: the rewind point
    }
  }

  // --- Exactly-once (delivery = "exactly_once") ---------------------------------------------
  // One batch at a time: records are consumed and handed over until the batch is full or
  // transaction_interval old; then a marker follows them and nothing more is consumed until it
  // is back from the sink, which has committed the transaction (outputs and these records'
  // offsets) or aborted it. On an abort the batch is consumed again from its first offsets.

  // Hands every held record over, then the marker. False when stopped first.
  bool end_batch(const std::stop_token& st) {
    if (batch_size_ == 0 || awaiting_marker_) return true;
    const auto forever = Clock::time_point::max();
    while (!held_.empty()) {
      if (output_.push(held_.front(), forever, st) != QueueStatus::kOk) return false;
      held_.pop_front();
    }
    auto marker = std::make_unique<Record>();
    marker->end_of_transaction = true;
    // The group's current generation and member id: the sink sends the offsets with them, so
    // the group coordinator refuses them from a member that lost its partitions (a zombie).
    rd_kafka_consumer_group_metadata_t* meta = rd_kafka_consumer_group_metadata(consumer_.get());
    void* buffer = nullptr;
    std::size_t size = 0;
    rd_kafka_error_t* error = rd_kafka_consumer_group_metadata_write(meta, &buffer, &size);
    rd_kafka_consumer_group_metadata_destroy(meta);
    if (error != nullptr) {
      std::string what = rd_kafka_error_string(error);
      rd_kafka_error_destroy(error);
      log_.error("cannot serialise the consumer group metadata", {{"error", what}});
      fatal_("kafka_ingest: consumer group metadata: " + what);
      return false;
    }
    marker->value.assign(static_cast<const char*>(buffer), size);
    rd_kafka_mem_free(nullptr, buffer);
    if (output_.push(marker, forever, st) != QueueStatus::kOk) return false;
    awaiting_marker_ = true;
    marker_sent_ = Clock::now();
    return true;
  }

  // From the rebalance callback: the batch ends now and its outcome is awaited, so that a
  // revoked partition leaves with its transaction finished.
  void end_batch_and_wait() {
    std::stop_token st = stop_token_;
    if (!end_batch(st)) return;
    while (awaiting_marker_ && !st.stop_requested()) {
      RecordPtr rec;
      auto status = acks_.pop(rec, Clock::now() + std::chrono::milliseconds(50), st);
      if (status == QueueStatus::kOk) acked(std::move(rec));
      else if (status == QueueStatus::kClosed) break;
      if (awaiting_marker_ && Clock::now() - marker_sent_ > s_.transaction_wait) {
        fatal_("kafka_ingest: the sink did not end the transaction in time");
        break;
      }
    }
  }

  void transaction_ended(RecordPtr marker) {
    awaiting_marker_ = false;
    if (marker->transaction_committed) {
      transactions_committed_->inc();
      // The sink committed these offsets in the transaction: the tracker forgets them.
      for (const auto& [tp, next] : tracker_.take_committable()) {
        tracker_.commit_succeeded(tp, next);
      }
      committed_all_.store(tracker_.outstanding() == 0);
    } else {
      transactions_aborted_->inc();
      rewind();
    }
    batch_size_ = 0;
    batch_start_.clear();
  }

  // After an abort: every partition of the batch goes back to its first offset in the batch
  // (what the last committed transaction left), so the batch is consumed and routed again.
  void rewind() {
    held_.clear();
    if (batch_start_.empty()) return;
    kafka::PartitionListPtr list(
        rd_kafka_topic_partition_list_new(static_cast<int>(batch_start_.size())));
    for (const auto& [tp, offset] : batch_start_) {
      rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second)->offset = offset;
      if (tracker_.assigned(tp)) {  // its pending offsets will be consumed again
        tracker_.revoke(tp);
        tracker_.assign(tp);
      }
    }
    rd_kafka_error_t* error = rd_kafka_seek_partitions(consumer_.get(), list.get(), 10'000);
    if (error != nullptr) {
      std::string what = rd_kafka_error_string(error);
      rd_kafka_error_destroy(error);
      log_.error("cannot rewind after an aborted transaction", {{"error", what}});
      fatal_("kafka_ingest: rewind after an aborted transaction: " + what);
      return;
    }
    // A partition revoked meanwhile reports an error in its element: its new owner starts
    // from the committed offset anyway, so that is not a failure.
    log_.warn("transaction aborted: the batch is consumed again from its first offsets",
              {{"partitions", list->cnt}});
  }

  void run_exactly_once(std::stop_token st) {
    stop_token_ = st;
    auto next_lag = Clock::now() + s_.commit_interval;
    committed_all_.store(true);
    while (!st.stop_requested()) {
      take_acks();
      if (Clock::now() >= next_lag) {
        update_lag();
        next_lag = Clock::now() + s_.commit_interval;
      }
      if (awaiting_marker_) {
        RecordPtr rec;
        auto status = acks_.pop(rec, Clock::now() + std::chrono::milliseconds(20), st);
        if (status == QueueStatus::kOk) acked(std::move(rec));
        if (status == QueueStatus::kClosed) break;
        if (awaiting_marker_ && Clock::now() - marker_sent_ > s_.transaction_wait) {
          log_.error("the sink did not end the transaction in time",
                     {{"waited_ms", static_cast<std::int64_t>(s_.transaction_wait.count())}});
          fatal_("kafka_ingest: the sink did not end the transaction in time");
          break;
        }
        // Nothing is consumed meanwhile: after an abort the batch is consumed again from its
        // first offsets, which must not skip a message taken in between. (The outcome comes
        // well within max.poll.interval.ms; a rebalance waits for the next poll.)
        continue;
      }
      if (!accepting_.load()) {
        // The batch so far is committed as a whole, then the output closes.
        if (batch_size_ > 0) {
          if (!end_batch(st)) break;
          continue;
        }
        held_.clear();
        output_.close();
        while (!st.stop_requested() && !(acks_.closed() && acks_.depth() == 0)) {
          RecordPtr rec;
          if (acks_.pop(rec, Clock::now() + std::chrono::milliseconds(50), st) ==
              QueueStatus::kOk) {
            acked(std::move(rec));
          }
        }
        break;
      }
      while (!held_.empty()) {
        // Room in the queue (the usual case) costs no clock read for a deadline.
        if (!output_.try_push(held_.front()) &&
            output_.push(held_.front(), Clock::now() + std::chrono::milliseconds(20), st) !=
                QueueStatus::kOk) {
          break;
        }
        held_.pop_front();
      }
      const bool full = batch_size_ >= s_.transaction_max_events;
      const bool old = batch_size_ > 0 && Clock::now() - batch_started_ >= s_.transaction_interval;
      if (held_.empty() && (full || old)) {
        if (!end_batch(st)) break;
        continue;
      }
      if (!held_.empty()) {
        // Backpressure, as in at-least-once: consume nothing while the output is full (a poll
        // would hand over prefetched messages and grow the batch past transaction_max_events,
        // and held_ past any bound); after pause_after, pause the partitions and poll only to
        // stay in the group (paused partitions return no messages).
        if (!blocked_since_) blocked_since_ = Clock::now();
        if (Clock::now() - *blocked_since_ > s_.pause_after) {
          set_paused(true);
          poll_once(std::chrono::milliseconds(0));
        }
        continue;
      }
      blocked_since_.reset();
      set_paused(false);
      auto left = batch_size_ == 0 ? std::chrono::milliseconds(100)
                                   : std::chrono::duration_cast<std::chrono::milliseconds>(
                                         s_.transaction_interval - (Clock::now() - batch_started_));
      poll_once(std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(100)));
    }
    if (awaiting_marker_ || batch_size_ > 0) {
      committed_all_.store(false);
      log_.warn("stopping with a transaction not ended: its batch is consumed again after a "
                "restart");
    }
    closing_.store(true);
    output_.close();
    waker_.stop();  // before the close: it uses the consumer
    close_consumer();
    log_.info("consumer closed", {{"delivery", "exactly_once"}});
  }

  void run(std::stop_token st) {
    if (s_.exactly_once) {
      run_exactly_once(st);
      return;
    }
    auto next_commit = Clock::now() + s_.commit_interval;
    bool closed_output = false;
    while (!st.stop_requested()) {
      take_acks();
      if (Clock::now() >= next_commit) {
        commit(true);
        update_lag();
        next_commit = Clock::now() + s_.commit_interval;
      }
      if (!accepting_.load() || failed_.load()) {
        if (!closed_output) {
          // Records not handed over are never acked, so their offsets stay uncommitted.
          held_.clear();
          output_.close();
          closed_output = true;
        }
        if (acks_.closed() && acks_.depth() == 0) break;  // the sink has finished
        RecordPtr rec;
        if (acks_.pop(rec, Clock::now() + std::chrono::milliseconds(50), st) == QueueStatus::kOk) {
          acked(std::move(rec));
        }
        continue;
      }
      // Backpressure: a full queue makes this thread wait in short slices (serving acks and
      // commits in between) without consuming more. Pausing the partitions would make
      // librdkafka drop its prefetched messages and refetch them, so it is kept for long
      // stalls only, where polling is needed to stay in the group.
      while (!held_.empty()) {
        // Room in the queue (the usual case) costs no clock read for a deadline.
        if (!output_.try_push(held_.front()) &&
            output_.push(held_.front(), Clock::now() + std::chrono::milliseconds(20), st) !=
                QueueStatus::kOk) {
          break;
        }
        held_.pop_front();
      }
      if (held_.empty()) {
        blocked_since_.reset();
        set_paused(false);
        poll_once(tracker_.outstanding() > 0 ? std::chrono::milliseconds(5)
                                             : std::chrono::milliseconds(100));
      } else {
        if (!blocked_since_) blocked_since_ = Clock::now();
        if (Clock::now() - *blocked_since_ > s_.pause_after) {
          set_paused(true);
          poll_once(std::chrono::milliseconds(0));  // keeps the group membership alive
        }
      }
    }
    take_acks();
    tracker_.resend_unconfirmed();
    // A drain is complete only if what was delivered is committed too: otherwise exit 1
    // says so (a restart redelivers the uncommitted tail).
    committed_all_.store(commit(false));
    closing_.store(true);  // after committed_all_: drain() reads them in this order
    output_.close();
    waker_.stop();  // before the close: it uses the consumer
    close_consumer();
    log_.info("consumer closed", {{"unacknowledged", static_cast<std::int64_t>(tracker_.outstanding())}});
  }

  Settings s_;
  Logger log_;
  std::function<void(const std::string&)> fatal_;
  RecordQueue& output_;
  RecordQueue& acks_;
  OffsetTracker tracker_;
  std::deque<RecordPtr> held_;
  bool paused_ = false;
  std::optional<Clock::time_point> blocked_since_;
  std::vector<RecordPtr> spare_;  // records back from the sink, reused (kafka/sizing.hpp)
  std::atomic<bool> accepting_{true};
  std::atomic<bool> failed_{false};  // a fatal consumer error: no more polls
  std::atomic<std::int64_t> outstanding_{0};
  std::atomic<std::int64_t> lag_{0};
  Metrics* metrics_ = nullptr;
  std::string name_;
  Activity* activity_ = nullptr;
  // The partitions' lag series (update_lag's worker thread; metrics read the values).
  std::map<OffsetTracker::Key, std::shared_ptr<std::atomic<std::int64_t>>> partition_lags_;
  std::atomic<bool> committed_all_{false};
  std::atomic<bool> closing_{false};  // the final commit is done; only the close is left
  std::atomic<const Deadline*> deadline_{nullptr};
  Counter* consumed_ = nullptr;
  Counter* acked_ = nullptr;
  Counter* commits_ = nullptr;
  Counter* commit_errors_ = nullptr;
  Counter* retries_ = nullptr;
  Counter* pauses_ = nullptr;
  Counter* fetch_wakeups_[2] = {nullptr, nullptr};  // outcome ok, error
  std::atomic<bool> consumed_since_wakeup_{false};  // set by the worker, taken by the waker
  std::map<OffsetTracker::Key, std::int64_t> group_committed_;  // refresh_group_committed
  Clock::time_point next_committed_ask_{};
  Counter* transactions_committed_ = nullptr;
  Counter* transactions_aborted_ = nullptr;
  // Exactly-once: the open batch (worker thread only).
  std::int64_t batch_size_ = 0;
  Clock::time_point batch_started_{};
  std::map<OffsetTracker::Key, std::int64_t> batch_start_;  // first offset per partition
  bool awaiting_marker_ = false;
  Clock::time_point marker_sent_{};
  std::stop_token stop_token_;
  kafka::HandlePtr consumer_;
  Worker waker_;   // the fetch waker's thread: uses consumer_ and the counters
  Worker worker_;  // last: its thread uses everything above
};

class Spec final : public StageSpec {
 public:
  explicit Spec(Settings s) : s_(std::move(s)) {}
  std::vector<QueuePort> ports() const override {
    return {{s_.output, PortDirection::kOut}, {s_.acks, PortDirection::kIn}};
  }
  std::vector<std::string> topics() const override { return s_.topics; }
  DeliveryRole delivery() const override {
    return s_.exactly_once ? DeliveryRole::kExactlyOnce : DeliveryRole::kAtLeastOnce;
  }
  std::vector<std::pair<std::string, std::string>> exclusive_ids() const override {
    if (s_.group_instance_id.empty()) return {};
    return {{"group_instance_id", "static member \"" + s_.group_instance_id + "\" of group \"" +
                                      s_.group_id + "\""}};
  }
  std::string describe() const override {
    std::ostringstream out;
    out << "kafka consumer: topics";
    for (const auto& t : s_.topics) out << " " << t;
    out << ", group " << s_.group_id;
    if (!s_.group_instance_id.empty()) out << " (static member " << s_.group_instance_id << ")";
    out << ", from " << s_.auto_offset_reset << " -> " << s_.output
        << "; commits after acknowledgement on " << s_.acks << "\n";
    if (s_.exactly_once) {
      out << "  delivery exactly_once: batches of at most " << s_.transaction_max_events
          << " records or " << s_.transaction_interval.count()
          << " ms, committed by the sink's transactions (read_committed input)\n";
    }
    return out.str();
  }
  std::unique_ptr<Stage> create(StageContext& ctx) const override {
    return std::make_unique<KafkaIngest>(s_, ctx);
  }

 private:
  Settings s_;
};

std::unique_ptr<StageSpec> parse(ConfigSection& section, const CommonConfig& common) {
  Settings s;
  s.kafka = common.kafka;
  s.topics = section.string_list("topics", s.topics);
  if (s.topics.empty()) section.error("topics", "list at least one topic");
  for (const auto& t : s.topics) {
    if (auto p = kafka::topic_name_problem(t)) section.error("topics", "\"" + t + "\": " + *p);
  }
  s.group_id = section.string("group_id", s.group_id);
  if (s.group_id.empty()) section.error("group_id", "must not be empty");
  if (auto raw = section.optional_string("group_instance_id")) {
    auto id = kafka::expand_placeholders(*raw, &kafka::process_env);
    if (!id) {
      section.error("group_instance_id", "\"" + *raw + "\": " + id.error().message);
    } else if (auto problem = kafka::group_instance_id_problem(id.value())) {
      std::string shown = "\"" + id.value() + "\"";
      if (id.value() != *raw) shown += " (expanded from \"" + *raw + "\")";
      section.error("group_instance_id", shown + " " + *problem);
    } else {
      s.group_instance_id = id.value();
    }
  }
  s.output = section.string("output", s.output);
  s.acks = section.string("acks", s.acks);
  s.auto_offset_reset = section.string("auto_offset_reset", s.auto_offset_reset);
  if (s.auto_offset_reset != "earliest" && s.auto_offset_reset != "latest") {
    section.error("auto_offset_reset", "expected \"earliest\" or \"latest\"");
  }
  s.commit_interval = section.duration("commit_interval", s.commit_interval,
                                       std::chrono::milliseconds(10), std::chrono::minutes(10));
  s.pause_after = section.duration("pause_after", s.pause_after, std::chrono::milliseconds(100),
                                   std::chrono::minutes(4));
  s.fetch_wakeup_interval =
      section.duration("fetch_wakeup_interval", s.fetch_wakeup_interval,
                       std::chrono::milliseconds(0), std::chrono::seconds(1));
  if (s.fetch_wakeup_interval.count() > 0 &&
      s.fetch_wakeup_interval < std::chrono::milliseconds(10)) {
    section.error("fetch_wakeup_interval",
                  "\"" + std::to_string(s.fetch_wakeup_interval.count()) +
                      "ms\" is too often: expected \"0s\" (off) or 10ms to 1s");
  }
  const std::string delivery =
      section.one_of("delivery", "at_least_once", {"at_least_once", "exactly_once"});
  s.exactly_once = delivery == "exactly_once";
  for (const char* key : {"transaction_interval", "transaction_max_events"}) {
    if (!s.exactly_once && section.has(key)) {
      section.error(key, "applies only with delivery = \"exactly_once\"; remove it or set "
                         "delivery");
    }
  }
  s.transaction_interval =
      section.duration("transaction_interval", s.transaction_interval,
                       std::chrono::milliseconds(1), std::chrono::seconds(60));
  s.transaction_max_events = section.integer("transaction_max_events", s.transaction_max_events,
                                             1, 1'000'000);
  s.properties = kafka::read_properties(section);
  for (const auto& [name, value] : s.properties) {
    if (s.exactly_once && name == "isolation.level" && value != "read_committed") {
      section.error("properties", name + " = " + value +
                                      " would route aborted input; exactly_once needs "
                                      "read_committed: remove it");
    }
    if ((name == "enable.auto.commit" || name == "auto.commit.enable" ||
         name == "enable.auto.offset.store") &&
        value != "false") {
      section.error("properties", name + " = " + value +
                                      " would commit offsets before delivery; remove it");
    }
    if (name == "group.id") section.error("properties", "set the group with group_id");
    if (name == "group.instance.id") {
      section.error("properties", "set the static member id with group_instance_id");
    }
  }
  if (auto err = kafka::check_properties(s.properties)) section.error("properties", *err);
  return std::make_unique<Spec>(std::move(s));
}

}  // namespace

StageFactory factory() {
  return {"kafka_ingest", "consumes Kafka topics in a group; commits after acknowledgement",
          &parse};
}

}  // namespace pemx::kafka_ingest
