#include "http_front/lineage_kafka.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "kafka/client.hpp"
#include "kafka/factory.hpp"

namespace pemx::http_front {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollSlice = std::chrono::milliseconds(100);
// A blocking request (metadata, offsets) is made in slices this long, so that a cancel is seen
// between them; long enough for a loaded broker's answer.
constexpr auto kRequestSlice = std::chrono::milliseconds(500);
// What one lookup's consumer prefetches at most (queued.max.messages.kbytes; librdkafka's
// default is 64 MiB per consumer): lineage reads a few partitions once, not at throughput.
constexpr char kLineageQueuedKbytes[] = "4096";
constexpr char kEventIdHeader[] = "pemx-event-id";

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::int64_t>(1, left.count()));
}

std::string where(const std::string& topic, std::int32_t partition) {
  return topic + "[" + std::to_string(partition) + "]";
}

// The headers lineage reads (HeaderPicker): nothing else of the message is copied.
MessageHeaders headers_of(const rd_kafka_message_t* m) {
  rd_kafka_headers_t* hdrs = nullptr;  // owned by the message
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || hdrs == nullptr) {
    return {};
  }
  HeaderPicker picker;
  const char* name = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  for (std::size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) ==
                          RD_KAFKA_RESP_ERR_NO_ERROR;
       ++i) {
    picker.offer(name, value == nullptr
                           ? std::string_view()
                           : std::string_view(static_cast<const char*>(value), size));
  }
  return picker.take();
}

FoundMessage found_of(const rd_kafka_message_t* m) {
  FoundMessage f;
  f.topic = rd_kafka_topic_name(m->rkt);
  f.partition = m->partition;
  f.offset = m->offset;
  rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  f.timestamp_ms = rd_kafka_message_timestamp(m, &type);
  f.headers = headers_of(m);
  return f;
}

// Whether a lookup should end now: the server stops (KafkaLineage::cancel) or the client went
// away (lookup's client_gone). Any thread.
struct StopFlags {
  const std::atomic<bool>& server;
  const std::atomic<bool>& client;
  bool operator()() const { return server.load() || client.load(); }
  std::string why() const {
    return client.load() ? "the lookup was cancelled (its client went away)"
                         : "the lookup was cancelled (the server is stopping)";
  }
};

// One partition to read from `start`: the message at that offset (kAtOffset), or the messages
// whose pemx-event-id is the lookup's (kEventId: the first one, or all with collect_all).
struct Scan {
  enum class Mode { kAtOffset, kEventId };
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t start = 0;
  Mode mode = Mode::kEventId;
  bool collect_all = false;
  std::size_t owner = 0;  // the output it serves (index), or kDeadLetters
  std::size_t scanned = 0;
  bool done = false;
  // It ended before its bound without an answer (the timeout, an error, a cancel): what it
  // looks for may be there.
  bool unknown = false;
  std::string why;  // how it ended without a hit
  std::vector<FoundMessage> hits;
};
constexpr std::size_t kDeadLetters = static_cast<std::size_t>(-1);

// The searches of one cluster through one consumer (the calling thread only).
class Lookup {
 public:
  Lookup(rd_kafka_t* rk, std::string cluster, const LineageSettings& s, const std::string& id,
         Clock::time_point deadline, StopFlags stop, HeldBudget* budget)
      : rk_(rk), cluster_(std::move(cluster)), s_(s), id_(id), deadline_(deadline), stop_(stop),
        budget_(budget) {}

  const std::string& cluster() const { return cluster_; }
  // Some search ended at the deadline (not by an error or a cancel).
  bool timed_out() const { return timed_out_; }

  // Topic -> partition count, for the topics the cluster has; or the problem (then nothing of
  // this cluster can be searched: an unknown).
  std::optional<std::string> load_metadata() {
    const rd_kafka_metadata_t* raw = nullptr;
    rd_kafka_resp_err_t err = sliced([&](int ms) {
      return rd_kafka_metadata(rk_, 1, nullptr, &raw, ms);
    });
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return failure("its metadata", err);
    }
    kafka::MetadataPtr md(raw);
    for (int i = 0; i < md->topic_cnt; ++i) {
      const auto& t = md->topics[i];
      if (t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt > 0) {
        partitions_[t.topic] = t.partition_cnt;
      }
    }
    return std::nullopt;
  }
  std::int32_t partition_count(const std::string& topic) const {
    auto it = partitions_.find(topic);
    return it == partitions_.end() ? 0 : it->second;
  }

  // Sets each scan's start to the first offset at or after `from_ms`; a partition with no
  // message that late is done at once. Returns a problem that ends them all (unknown).
  std::optional<std::string> start_at_time(std::vector<Scan>& scans, std::int64_t from_ms) {
    if (scans.empty()) return std::nullopt;
    kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(scans.size())));
    for (const auto& sc : scans) {
      rd_kafka_topic_partition_list_add(list.get(), sc.topic.c_str(), sc.partition)->offset =
          from_ms;
    }
    // On a timeout librdkafka leaves the list as it was: each slice asks again for the time.
    rd_kafka_resp_err_t err = sliced([&](int ms) {
      for (int i = 0; i < list->cnt; ++i) list->elems[i].offset = from_ms;
      return rd_kafka_offsets_for_times(rk_, list.get(), ms);
    });
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return failure("offsets for the time", err);
    }
    for (auto& sc : scans) {
      const rd_kafka_topic_partition_t* tp =
          rd_kafka_topic_partition_list_find(list.get(), sc.topic.c_str(), sc.partition);
      if (tp == nullptr || tp->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        sc.done = true;
        sc.unknown = true;
        sc.why = where(sc.topic, sc.partition) + ": no offset for the time: " +
                 rd_kafka_err2str(tp == nullptr ? RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION : tp->err);
      } else if (tp->offset < 0) {
        sc.done = true;
        sc.why = where(sc.topic, sc.partition) + ": no message at or after " +
                 std::to_string(from_ms) + " ms (the margin's start)";
      } else {
        sc.start = tp->offset;
      }
    }
    return std::nullopt;
  }

  // Sets each scan's start to max_scan messages before the partition's end.
  void start_from_end(std::vector<Scan>& scans) {
    for (auto& sc : scans) {
      std::int64_t low = 0;
      std::int64_t high = 0;
      rd_kafka_resp_err_t err = sliced([&](int ms) {
        return static_cast<rd_kafka_resp_err_t>(kafka::query_watermarks(
            rk_, sc.topic.c_str(), sc.partition, low, high, std::chrono::milliseconds(ms)));
      });
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        sc.done = true;
        sc.unknown = true;
        sc.why = where(sc.topic, sc.partition) + ": " +
                 (stop_() ? stop_.why() : std::string("its offsets: ") + rd_kafka_err2str(err));
        continue;
      }
      if (high <= low) {
        sc.done = true;
        sc.why = where(sc.topic, sc.partition) + ": empty";
        continue;
      }
      sc.start = std::max(low, high - static_cast<std::int64_t>(s_.max_scan));
    }
  }

  // Reads every scan not done yet until each has its answer, the deadline or a cancel.
  void run(std::vector<Scan>& scans) {
    kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(scans.size())));
    std::map<std::pair<std::string, std::int32_t>, Scan*> by_partition;
    for (auto& sc : scans) {
      if (sc.done) continue;
      rd_kafka_topic_partition_list_add(list.get(), sc.topic.c_str(), sc.partition)->offset =
          sc.start;
      by_partition[{sc.topic, sc.partition}] = &sc;
    }
    std::size_t open = by_partition.size();
    if (open == 0) return;
    if (rd_kafka_resp_err_t err = rd_kafka_assign(rk_, list.get())) {
      for (auto& [key, sc] : by_partition) {
        sc->done = true;
        sc->unknown = true;
        sc->why = where(sc->topic, sc->partition) + ": assign: " + rd_kafka_err2str(err);
      }
      return;
    }
    // A partition an earlier run paused (finish below) stays paused across assignments:
    // resume this run's, or a second scan of it (the storage partition: read at the row's
    // offset, then searched as an output) never gets a message.
    (void)rd_kafka_resume_partitions(rk_, list.get());
    auto finish = [&](Scan& sc, std::string why, bool unknown = false) {
      if (sc.done) return;
      sc.done = true;
      sc.unknown = unknown;
      sc.why = std::move(why);
      --open;
      kafka::PartitionListPtr one(rd_kafka_topic_partition_list_new(1));
      rd_kafka_topic_partition_list_add(one.get(), sc.topic.c_str(), sc.partition);
      // Best effort: a partition still fetched costs reads until the lookup ends, nothing else
      // (its messages are skipped), so a failure here changes no answer.
      (void)rd_kafka_pause_partitions(rk_, one.get());
    };
    while (open > 0 && Clock::now() < deadline_ && !stop_()) {
      const auto slice = std::min<std::int64_t>(kPollSlice.count(), remaining_ms(deadline_));
      kafka::MessagePtr m(rd_kafka_consumer_poll(rk_, static_cast<int>(slice)));
      if (!m) continue;
      if (m->rkt == nullptr) continue;  // a client-level event: librdkafka retries
      auto it = by_partition.find({rd_kafka_topic_name(m->rkt), m->partition});
      if (it == by_partition.end() || it->second->done) continue;
      Scan& sc = *it->second;
      const std::string at = where(sc.topic, sc.partition);
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        finish(sc, at + ": reached its end after " + std::to_string(sc.scanned) +
                       " messages from offset " + std::to_string(sc.start));
        continue;
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        finish(sc, at + ": " + rd_kafka_message_errstr(m.get()), true);
        continue;
      }
      ++sc.scanned;
      if (sc.mode == Scan::Mode::kAtOffset) {
        if (m->offset == sc.start) {
          sc.hits.push_back(found_of(m.get()));
          if (budget_ != nullptr) budget_->keep(sc.hits.back());
          finish(sc, "");
        } else {
          finish(sc, at + ": no message at offset " + std::to_string(sc.start) +
                         " (deleted or compacted); the next is " + std::to_string(m->offset));
        }
        continue;
      }
      if (is_ours(m.get())) {
        FoundMessage f = found_of(m.get());
        if (!sc.collect_all) {
          if (budget_ != nullptr) budget_->keep(f);
          sc.hits.push_back(std::move(f));
          finish(sc, "");
          continue;
        }
        if (budget_ != nullptr && !budget_->admit_dead_letter(f)) {
          // More than one lookup keeps: the answer says truncated, the scan ends here.
          finish(sc, at + ": stopped at offset " + std::to_string(m->offset) +
                         ", more dead letters of this eventId than one lookup lists");
          continue;
        }
        sc.hits.push_back(std::move(f));
      }
      if (sc.scanned >= s_.max_scan) {
        finish(sc, at + ": scanned " + std::to_string(sc.scanned) + " messages from offset " +
                       std::to_string(sc.start) + " (lineage_max_scan)");
      }
    }
    const bool stopped = stop_();
    for (auto& [key, sc] : by_partition) {
      if (sc->done) continue;
      sc->done = true;
      sc->unknown = true;
      if (!stopped) timed_out_ = true;
      sc->why = where(sc->topic, sc->partition) + ": " +
                (stopped ? stop_.why() : std::string("lineage_timeout ran out")) + " after " +
                std::to_string(sc->scanned) + " messages from offset " +
                std::to_string(sc->start);
    }
    // The next run assigns its own partitions (rd_kafka_assign replaces the set), and the
    // consumer is destroyed after the last: a failed unassign changes nothing.
    (void)rd_kafka_assign(rk_, nullptr);
  }

 private:
  // A blocking librdkafka request, asked again in kRequestSlice slices while it times out or
  // the connection fails (a broker paused, restarting or not up yet: librdkafka reconnects),
  // the deadline is ahead and nothing stops the lookup. Its last error; at the deadline the
  // lookup has timed out (a 504 when nothing else answered), not failed.
  template <class Request>
  rd_kafka_resp_err_t sliced(Request request) {
    for (;;) {
      const auto started = Clock::now();
      const auto slice = std::min<std::int64_t>(kRequestSlice.count(), remaining_ms(deadline_));
      rd_kafka_resp_err_t err = request(static_cast<int>(slice));
      const bool transient = err == RD_KAFKA_RESP_ERR__TIMED_OUT ||
                             err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                             err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
      if (!transient || stop_()) return err;
      if (Clock::now() >= deadline_) {
        timed_out_ = true;
        return err;
      }
      // A failure that came at once is not asked again at once: librdkafka's reconnect
      // back-off is longer than this.
      const auto next = std::min(started + kPollSlice, deadline_);
      if (Clock::now() < next) std::this_thread::sleep_until(next);
    }
  }

  // Why a request of this cluster failed: the cancel, the deadline, or the cluster's error.
  std::string failure(const std::string& what, rd_kafka_resp_err_t err) const {
    if (stop_()) return stop_.why();
    return "cluster " + cluster_ + ": " + what + ": " +
           (timed_out_ ? std::string("no answer within lineage_timeout (the last error: ") +
                             rd_kafka_err2str(err) + ")"
                       : std::string(rd_kafka_err2str(err)));
  }

  bool is_ours(const rd_kafka_message_t* m) const {
    rd_kafka_headers_t* hdrs = nullptr;  // owned by the message
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
    const void* value = nullptr;
    std::size_t size = 0;
    if (rd_kafka_header_get_last(hdrs, kEventIdHeader, &value, &size) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        value == nullptr) {
      return false;
    }
    return std::string_view(static_cast<const char*>(value), size) == id_;
  }

  rd_kafka_t* rk_;
  std::string cluster_;
  const LineageSettings& s_;
  const std::string& id_;
  Clock::time_point deadline_;
  StopFlags stop_;
  HeldBudget* budget_;  // null: nothing counted (another cluster's outputs: one message each)
  bool timed_out_ = false;
  std::map<std::string, std::int32_t> partitions_;
};

std::string join(const std::vector<Scan>& scans, std::size_t owner) {
  std::string out;
  for (const auto& sc : scans) {
    if (sc.owner != owner || sc.why.empty()) continue;
    out += (out.empty() ? "" : "; ") + sc.why;
  }
  return out;
}

// The scans of the outputs `which` (all on look's cluster): the key's partition of each, or
// every partition without a key. An output whose topic the cluster lacks is not_found; with
// the cluster's metadata missing, every one is unknown.
std::vector<Scan> output_scans(const Lookup& look, const std::optional<std::string>& problem,
                               const std::vector<std::size_t>& which,
                               std::vector<OutputLookup>& outputs, const std::string& key) {
  std::vector<Scan> scans;
  for (std::size_t index : which) {
    OutputLookup& o = outputs[index];
    if (problem) {
      o.why_not = *problem;
      o.unknown = true;
      continue;
    }
    const std::int32_t count = look.partition_count(o.topic);
    if (count == 0) {
      o.why_not = "topic " + o.topic + " is not in the metadata of cluster " + o.cluster;
      continue;
    }
    if (key.empty()) {
      for (std::int32_t p = 0; p < count; ++p) o.partitions.push_back(p);
    } else {
      o.partitions = {key_partition(key, count)};
    }
    for (auto p : o.partitions) {
      Scan& sc = scans.emplace_back();
      sc.topic = o.topic;
      sc.partition = p;
      sc.owner = index;
    }
  }
  return scans;
}

// What the scans found for the outputs `which`: the first hit, else why not and whether the
// search was cut short (unknown).
void collect(std::vector<Scan>& scans, const std::vector<std::size_t>& which,
             std::vector<OutputLookup>& outputs) {
  for (auto& sc : scans) {
    if (sc.owner == kDeadLetters) continue;
    OutputLookup& o = outputs[sc.owner];
    o.scanned += sc.scanned;
    if (!o.found && !sc.hits.empty()) o.found = std::move(sc.hits[0]);
  }
  for (std::size_t index : which) {
    OutputLookup& o = outputs[index];
    if (o.found || !o.why_not.empty()) continue;
    o.why_not = join(scans, index);
    for (const auto& sc : scans) o.unknown = o.unknown || (sc.owner == index && sc.unknown);
  }
}

}  // namespace

KafkaLineage::KafkaLineage(kafka::KafkaConfig kafka, std::vector<kafka::ClusterConfig> clusters,
                           LineageSettings settings, std::shared_ptr<EventReader> reader,
                           std::shared_ptr<EventCheck> check, Logger log)
    : kafka_(std::move(kafka)), clusters_(std::move(clusters)), settings_(settings),
      reader_(std::move(reader)), check_(std::move(check)), log_(std::move(log)) {}

namespace {

// A lookup's consumer on one cluster (`cluster`: the [kafka] section or a [clusters.<name>]
// made into one: its brokers, client id and properties).
Result<kafka::HandlePtr> lineage_consumer(const kafka::KafkaConfig& cluster, const Logger& log) {
  kafka::ConsumerSettings cs;
  cs.kafka = cluster;
  // group.id only because librdkafka's consumer API needs one: it is never joined (assign,
  // not subscribe) and nothing is committed.
  cs.properties = {{"group.id", "pemx-lineage"},
                   {"enable.auto.commit", "false"},
                   {"enable.auto.offset.store", "false"},
                   {"allow.auto.create.topics", "false"},
                   {"auto.offset.reset", "error"},
                   {"enable.partition.eof", "true"},
                   {"queued.max.messages.kbytes", kLineageQueuedKbytes}};
  // No readiness entry (probe = false): a lookup's short-lived client says nothing about the
  // role's health. A failure of its watch thread is logged; the lookup then ends by its timeout.
  cs.log = {log, "lineage", nullptr, false, [log](const std::string& problem) {
              log.error("lineage consumer failed", {{"error", problem}});
            }};
  return kafka::make_consumer(std::move(cs));
}

// The outputs on one [clusters.<name>], searched on a thread of their own.
struct ClusterSearch {
  std::string name;
  const kafka::KafkaConfig* config = nullptr;  // null: no such cluster in this process
  std::vector<std::size_t> outputs;            // indices into the report's outputs
  bool timed_out = false;
};

// Searches `c`'s outputs on its cluster from `from_ms` (the calling thread; it writes only
// those outputs of `outputs`). Never throws: a failure is the outputs' reason.
void search_cluster(ClusterSearch& c, std::vector<OutputLookup>& outputs, const std::string& key,
                    std::int64_t from_ms, const LineageSettings& settings, const std::string& id,
                    Clock::time_point deadline, StopFlags stop, const Logger& log) noexcept {
  auto fail_all = [&](const std::string& why) {
    for (std::size_t i : c.outputs) {
      outputs[i].why_not = why;
      outputs[i].unknown = true;
    }
  };
  try {
    if (c.config == nullptr) {
      return fail_all("cluster " + c.name + " is not one this process started with ([clusters." +
                      c.name + "] needs a restart)");
    }
    auto client = lineage_consumer(*c.config, log);
    if (!client) return fail_all("cluster " + c.name + ": its consumer: " + client.error().message);
    Lookup look(client.value().get(), c.name, settings, id, deadline, stop, nullptr);
    const std::optional<std::string> problem = look.load_metadata();
    std::vector<Scan> scans = output_scans(look, problem, c.outputs, outputs, key);
    if (auto p = look.start_at_time(scans, from_ms)) {
      for (auto& sc : scans) sc.done = true, sc.unknown = true, sc.why = *p;
    }
    look.run(scans);
    collect(scans, c.outputs, outputs);
    c.timed_out = look.timed_out();
  } catch (const std::exception& e) {  // memory: the outputs say so, the thread ends cleanly
    fail_all(std::string("cluster ") + c.name + ": " + e.what());
  }
}

}  // namespace

Answer KafkaLineage::lookup(const std::string& event_id, const std::atomic<bool>& client_gone) {
  const auto deadline = Clock::now() + settings_.timeout;
  const StopFlags stop{cancelled_, client_gone};
  LineageReport r;
  r.event_id = event_id;
  if (stop()) return error_answer(503, stop.why());
  auto found = reader_->find_event(event_id);
  if (!found) return store_error_answer(found.error());
  r.row = std::move(found.value());

  // The rules in force: for a stored event its decision; for another, their dead-letter topic.
  std::optional<RouteTrace> trace;
  if (check_) trace = check_->trace(r.row ? std::string_view(r.row->raw_json) : "null");
  if (trace) {
    r.rules_known = true;
    r.rules_version = trace->rules_version;
    r.dead_letter_topic = trace->dead_letter_topic;
    if (r.row) {
      r.key = trace->key;
      r.routed_reason = trace->reason;
      r.routed_detail = trace->detail;
    }
  }

  auto client = lineage_consumer(kafka_, log_);
  if (!client) {
    return error_answer(500, "lineage: the Kafka consumer: " + client.error().message);
  }
  HeldBudget budget;
  Lookup look(client.value().get(), std::string(kLineageMainCluster), settings_, event_id,
              deadline, stop, &budget);
  const std::optional<std::string> metadata_problem = look.load_metadata();

  // 2. The storage message at the row's coordinates.
  std::int64_t anchor_ms = -1;
  if (r.row) {
    if (metadata_problem) {
      r.storage_problem = *metadata_problem;
      r.storage_unknown = true;
    } else if (look.partition_count(r.row->source_topic) <= r.row->source_partition) {
      r.storage_problem = "topic " + r.row->source_topic + " or its partition " +
                          std::to_string(r.row->source_partition) + " is not in the cluster";
    } else {
      std::vector<Scan> one(1);
      one[0].topic = r.row->source_topic;
      one[0].partition = r.row->source_partition;
      one[0].start = r.row->source_offset;
      one[0].mode = Scan::Mode::kAtOffset;
      look.run(one);
      if (!one[0].hits.empty()) {
        r.storage = std::move(one[0].hits[0]);
        anchor_ms = r.storage->timestamp_ms;
      } else {
        r.storage_problem = one[0].why;
        r.storage_unknown = one[0].unknown;
      }
    }
    // Without the message, the time the store wrote the row (later than the outputs').
    if (anchor_ms < 0) anchor_ms = r.row->stored_at_ms;
  }
  const std::int64_t from_ms = std::max<std::int64_t>(0, anchor_ms - settings_.margin.count());

  // 3. The outputs: those on [kafka] here, each other cluster's on a thread of its own.
  std::vector<std::size_t> main_outputs;
  std::vector<ClusterSearch> others;
  if (r.row && r.rules_known && r.routed_reason.empty()) {
    for (std::size_t i = 0; i < trace->topics.size(); ++i) {
      OutputLookup& o = r.outputs.emplace_back();
      o.topic = trace->topics[i];
      if (i < trace->clusters.size()) o.cluster = trace->clusters[i];
      if (o.cluster != kLineageMainCluster) {
        auto it = std::find_if(others.begin(), others.end(),
                               [&](const ClusterSearch& c) { return c.name == o.cluster; });
        if (it == others.end()) {
          ClusterSearch& c = others.emplace_back();
          c.name = o.cluster;
          it = others.end() - 1;
        }
        it->outputs.push_back(i);
        continue;
      }
      if (r.storage && o.topic == r.row->source_topic &&
          header_value(r.storage->headers, kEventIdHeader) == event_id) {
        o.partitions = {r.storage->partition};
        o.found = *r.storage;  // the message the store consumed is this output
        continue;
      }
      main_outputs.push_back(i);
    }
  }
  // Their configs, as [kafka] sections (a cluster's own brokers, client id and properties).
  std::vector<kafka::KafkaConfig> other_configs;
  other_configs.reserve(others.size());
  for (auto& c : others) {
    auto it = std::find_if(clusters_.begin(), clusters_.end(),
                           [&](const kafka::ClusterConfig& k) { return k.name == c.name; });
    if (it == clusters_.end()) continue;
    kafka::KafkaConfig& k = other_configs.emplace_back();
    k.brokers = it->brokers;
    k.client_id = it->client_id;
    k.properties = it->properties;
    c.config = &k;
  }
  std::vector<std::jthread> threads;  // joined before the outputs are read (below)
  for (auto& c : others) {
    threads.emplace_back([&, &c = c] {
      search_cluster(c, r.outputs, r.key, from_ms, settings_, event_id, deadline, stop, log_);
    });
  }

  std::vector<Scan> scans = output_scans(look, metadata_problem, main_outputs, r.outputs, r.key);
  std::vector<Scan> dead;
  if (r.dead_letter_topic.empty()) {
    r.dead_letter_problem = "no router in this config: its dead-letter topic is unknown";
  } else if (metadata_problem) {
    r.dead_letter_problem = *metadata_problem;
    r.dead_letters_unknown = true;
  } else if (look.partition_count(r.dead_letter_topic) == 0) {
    r.dead_letter_problem = "topic " + r.dead_letter_topic + " is not in the cluster's metadata";
  } else {
    for (std::int32_t p = 0; p < look.partition_count(r.dead_letter_topic); ++p) {
      Scan& sc = dead.emplace_back();
      sc.topic = r.dead_letter_topic;
      sc.partition = p;
      sc.owner = kDeadLetters;
      sc.collect_all = true;
    }
  }
  if (r.row) {
    if (auto problem = look.start_at_time(scans, from_ms)) {
      for (auto& sc : scans) sc.done = true, sc.unknown = true, sc.why = *problem;
    }
    if (auto problem = look.start_at_time(dead, from_ms)) {
      r.dead_letter_problem = *problem;
      r.dead_letters_unknown = true;
    }
    r.dead_letter_bounds = "at most " + std::to_string(settings_.max_scan) +
                           " messages per partition from " + std::to_string(from_ms) +
                           " ms (the stored message's timestamp minus lineage_margin)";
  } else {
    look.start_from_end(dead);
    r.dead_letter_bounds = "the last " + std::to_string(settings_.max_scan) +
                           " messages of each partition (the event is not stored)";
  }
  if (r.dead_letter_problem.empty()) {
    for (auto& sc : dead) scans.push_back(std::move(sc));
  }
  look.run(scans);
  for (auto& sc : scans) {
    if (sc.owner != kDeadLetters) continue;
    r.dead_letter_scanned += sc.scanned;
    r.dead_letters_unknown = r.dead_letters_unknown || sc.unknown;
    for (auto& h : sc.hits) r.dead_letters.push_back(std::move(h));
  }
  r.dead_letters_truncated = budget.truncated();
  collect(scans, main_outputs, r.outputs);
  threads.clear();  // joins: every other cluster's outputs are written
  r.timed_out = look.timed_out();
  for (const auto& c : others) r.timed_out = r.timed_out || c.timed_out;
  if (stop()) {
    log_.info("lineage lookup cancelled", {{"eventId", event_id}, {"why", stop.why()}});
  }
  return lineage_answer(r);
}

}  // namespace pemx::http_front
