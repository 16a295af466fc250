#include "http_front/lineage_kafka.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "kafka/factory.hpp"

namespace pemx::http_front {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollSlice = std::chrono::milliseconds(100);
constexpr char kEventIdHeader[] = "pemx-event-id";

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::int64_t>(1, left.count()));
}

std::string where(const std::string& topic, std::int32_t partition) {
  return topic + "[" + std::to_string(partition) + "]";
}

MessageHeaders headers_of(const rd_kafka_message_t* m) {
  MessageHeaders out;
  rd_kafka_headers_t* hdrs = nullptr;  // owned by the message
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || hdrs == nullptr) {
    return out;
  }
  const char* name = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  for (std::size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) ==
                          RD_KAFKA_RESP_ERR_NO_ERROR;
       ++i) {
    out.emplace_back(name, value == nullptr ? std::string()
                                            : std::string(static_cast<const char*>(value), size));
  }
  return out;
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
  std::string why;  // how it ended without a hit
  std::vector<FoundMessage> hits;
};
constexpr std::size_t kDeadLetters = static_cast<std::size_t>(-1);

class Lookup {
 public:
  Lookup(rd_kafka_t* rk, const LineageSettings& s, const std::string& id,
         Clock::time_point deadline, const std::atomic<bool>& cancelled)
      : rk_(rk), s_(s), id_(id), deadline_(deadline), cancelled_(cancelled) {}

  // Topic -> partition count, for the topics the cluster has; or the problem.
  std::optional<std::string> load_metadata() {
    const rd_kafka_metadata_t* raw = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 1, nullptr, &raw, remaining_ms(deadline_));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::string("the cluster's metadata: ") + rd_kafka_err2str(err);
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
  // message that late is done at once. Returns a problem that ends them all.
  std::optional<std::string> start_at_time(std::vector<Scan>& scans, std::int64_t from_ms) {
    if (scans.empty()) return std::nullopt;
    kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(scans.size())));
    for (const auto& sc : scans) {
      rd_kafka_topic_partition_list_add(list.get(), sc.topic.c_str(), sc.partition)->offset =
          from_ms;
    }
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk_, list.get(), remaining_ms(deadline_));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::string("offsets for the time: ") + rd_kafka_err2str(err);
    }
    for (auto& sc : scans) {
      const rd_kafka_topic_partition_t* tp =
          rd_kafka_topic_partition_list_find(list.get(), sc.topic.c_str(), sc.partition);
      if (tp == nullptr || tp->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        sc.done = true;
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
      rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
          rk_, sc.topic.c_str(), sc.partition, &low, &high, remaining_ms(deadline_));
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        sc.done = true;
        sc.why = where(sc.topic, sc.partition) + ": its offsets: " + rd_kafka_err2str(err);
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
        sc->why = where(sc->topic, sc->partition) + ": assign: " + rd_kafka_err2str(err);
      }
      return;
    }
    // A partition an earlier run paused (finish below) stays paused across assignments:
    // resume this run's, or a second scan of it (the storage partition: read at the row's
    // offset, then searched as an output) never gets a message.
    (void)rd_kafka_resume_partitions(rk_, list.get());
    auto finish = [&](Scan& sc, std::string why) {
      if (sc.done) return;
      sc.done = true;
      sc.why = std::move(why);
      --open;
      kafka::PartitionListPtr one(rd_kafka_topic_partition_list_new(1));
      rd_kafka_topic_partition_list_add(one.get(), sc.topic.c_str(), sc.partition);
      // Best effort: a partition still fetched costs reads until the lookup ends, nothing else
      // (its messages are skipped), so a failure here changes no answer.
      (void)rd_kafka_pause_partitions(rk_, one.get());
    };
    while (open > 0 && Clock::now() < deadline_ && !cancelled_.load()) {
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
        finish(sc, at + ": " + rd_kafka_message_errstr(m.get()));
        continue;
      }
      ++sc.scanned;
      if (sc.mode == Scan::Mode::kAtOffset) {
        if (m->offset == sc.start) {
          sc.hits.push_back(found_of(m.get()));
          finish(sc, "");
        } else {
          finish(sc, at + ": no message at offset " + std::to_string(sc.start) +
                         " (deleted or compacted); the next is " + std::to_string(m->offset));
        }
        continue;
      }
      if (is_ours(m.get())) {
        sc.hits.push_back(found_of(m.get()));
        if (!sc.collect_all) {
          finish(sc, "");
          continue;
        }
      }
      if (sc.scanned >= s_.max_scan) {
        finish(sc, at + ": scanned " + std::to_string(sc.scanned) + " messages from offset " +
                       std::to_string(sc.start) + " (lineage_max_scan)");
      }
    }
    for (auto& [key, sc] : by_partition) {
      if (sc->done) continue;
      sc->done = true;
      sc->why = where(sc->topic, sc->partition) +
                (cancelled_.load() ? ": the server is stopping" : ": lineage_timeout ran out") +
                " after " + std::to_string(sc->scanned) + " messages from offset " +
                std::to_string(sc->start);
    }
    // The next run assigns its own partitions (rd_kafka_assign replaces the set), and the
    // consumer is destroyed after the last: a failed unassign changes nothing.
    (void)rd_kafka_assign(rk_, nullptr);
  }

 private:
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
  const LineageSettings& s_;
  const std::string& id_;
  Clock::time_point deadline_;
  const std::atomic<bool>& cancelled_;
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

}  // namespace

KafkaLineage::KafkaLineage(kafka::KafkaConfig kafka, LineageSettings settings,
                           std::shared_ptr<EventReader> reader, std::shared_ptr<EventCheck> check,
                           Logger log)
    : kafka_(std::move(kafka)), settings_(settings), reader_(std::move(reader)),
      check_(std::move(check)), log_(std::move(log)) {}

Answer KafkaLineage::lookup(const std::string& event_id) {
  const auto deadline = Clock::now() + settings_.timeout;
  LineageReport r;
  r.event_id = event_id;
  auto found = reader_->find_event(event_id);
  if (!found) {
    if (found.error().code == "store_busy") {
      Answer a = error_answer(503, found.error().message);
      a.headers.emplace_back("Retry-After", "1");
      return a;
    }
    return error_answer(500, found.error().message);
  }
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

  kafka::ConsumerSettings cs;
  cs.kafka = kafka_;
  // group.id only because librdkafka's consumer API needs one: it is never joined (assign,
  // not subscribe) and nothing is committed.
  cs.properties = {{"group.id", "pemx-lineage"},
                   {"enable.auto.commit", "false"},
                   {"enable.auto.offset.store", "false"},
                   {"allow.auto.create.topics", "false"},
                   {"auto.offset.reset", "error"},
                   {"enable.partition.eof", "true"}};
  // No readiness entry (probe = false): a lookup's short-lived client says nothing about the
  // role's health. A failure of its watch thread is logged; the lookup then ends by its timeout.
  cs.log = {log_, "lineage", nullptr, false,
            [log = log_](const std::string& problem) {
              log.error("lineage consumer failed", {{"error", problem}});
            }};
  auto client = kafka::make_consumer(std::move(cs));
  if (!client) {
    return error_answer(500, "lineage: the Kafka consumer: " + client.error().message);
  }
  rd_kafka_t* rk = client.value().get();
  Lookup look(rk, settings_, event_id, deadline, cancelled_);
  const std::optional<std::string> metadata_problem = look.load_metadata();

  // 2. The storage message at the row's coordinates.
  std::int64_t anchor_ms = -1;
  if (r.row) {
    if (metadata_problem) {
      r.storage_problem = *metadata_problem;
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
      }
    }
    // Without the message, the time the store wrote the row (later than the outputs').
    if (anchor_ms < 0) anchor_ms = r.row->stored_at_ms;
  }
  const std::int64_t from_ms = std::max<std::int64_t>(0, anchor_ms - settings_.margin.count());

  // 3. The outputs and the dead letters, in one scan.
  std::vector<Scan> scans;
  if (r.row && r.rules_known && r.routed_reason.empty()) {
    for (const auto& topic : trace->topics) {
      OutputLookup& o = r.outputs.emplace_back();
      o.topic = topic;
      const std::size_t index = r.outputs.size() - 1;
      if (r.storage && topic == r.row->source_topic &&
          header_value(r.storage->headers, kEventIdHeader) == event_id) {
        o.partitions = {r.storage->partition};
        o.found = *r.storage;  // the message the store consumed is this output
        continue;
      }
      if (metadata_problem) {
        o.why_not = *metadata_problem;
        continue;
      }
      const std::int32_t count = look.partition_count(topic);
      if (count == 0) {
        o.why_not = "topic " + topic + " is not in the cluster's metadata";
        continue;
      }
      if (r.key.empty()) {
        for (std::int32_t p = 0; p < count; ++p) o.partitions.push_back(p);
      } else {
        o.partitions = {key_partition(r.key, count)};
      }
      for (auto p : o.partitions) {
        Scan& sc = scans.emplace_back();
        sc.topic = topic;
        sc.partition = p;
        sc.owner = index;
      }
    }
  }
  std::vector<Scan> dead;
  if (r.dead_letter_topic.empty()) {
    r.dead_letter_problem = "no router in this config: its dead-letter topic is unknown";
  } else if (metadata_problem) {
    r.dead_letter_problem = *metadata_problem;
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
      for (auto& sc : scans) sc.done = true, sc.why = *problem;
    }
    if (auto problem = look.start_at_time(dead, from_ms)) r.dead_letter_problem = *problem;
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
    if (sc.owner == kDeadLetters) {
      r.dead_letter_scanned += sc.scanned;
      for (auto& h : sc.hits) r.dead_letters.push_back(std::move(h));
      continue;
    }
    OutputLookup& o = r.outputs[sc.owner];
    o.scanned += sc.scanned;
    if (!o.found && !sc.hits.empty()) o.found = std::move(sc.hits[0]);
  }
  for (std::size_t i = 0; i < r.outputs.size(); ++i) {
    if (!r.outputs[i].found && r.outputs[i].why_not.empty()) r.outputs[i].why_not = join(scans, i);
  }
  return lineage_answer(r);
}

}  // namespace pemx::http_front
