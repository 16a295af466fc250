// pemx_bench_check: reads back every topic whose name starts with a prefix (one benchmark
// run's outputs) and checks that each input event arrived exactly once in the storage topic
// and exactly once among the other ("type") topics, that nothing was dead-lettered, and that
// each key's events kept their input order (by the pemx-source-offset header, which PEMX and
// the baseline both add). Prints one JSON line; exit 0 when every check passes.
#include <librdkafka/rdkafka.h>

#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "bench_util.hpp"

namespace {

constexpr const char* kProgram = "pemx_bench_check";
constexpr const char* kUsage = R"(pemx_bench_check — verify one benchmark run's output topics

Usage: pemx_bench_check --prefix P --storage-topic S [options]
  --brokers LIST        bootstrap servers (default 127.0.0.1:9092)
  --prefix P            the run's output topics: every topic whose name starts with P
  --storage-topic S     which of them is the storage topic (must start with P)
  --dlq-topic D         which of them is the dead-letter topic (optional)
  --expect N            input events (default 200000)
  --timeout SECONDS     give up after this long (default 120)

Counts, per group of topics (storage / type / dlq): messages, distinct values (each event's
JSON is unique: it carries a random eventId), duplicates = messages - distinct, missing =
N - distinct, and order violations (a key's source offsets going backwards in a partition).
)";

struct Group {
  std::int64_t messages = 0;
  std::unordered_set<std::size_t> values;
  std::int64_t order_violations = 0;
  std::int64_t no_offset_header = 0;
  // (topic/partition, key) -> last source offset seen.
  std::unordered_map<std::string, std::int64_t> last_offset;

  std::string json(std::int64_t expect) const {
    auto distinct = static_cast<std::int64_t>(values.size());
    pemx::bench::JsonLine j;
    j.add("messages", messages)
        .add("distinct", distinct)
        .add("duplicates", messages - distinct)
        .add("missing", expect - distinct)
        .add("order_violations", order_violations)
        .add("without_offset_header", no_offset_header);
    return j.str();
  }
};

}  // namespace

int main(int argc, char** argv) {
  using namespace pemx::bench;
  Options opts(kProgram, kUsage,
               {"brokers", "prefix", "storage-topic", "dlq-topic", "expect", "timeout"});
  opts.parse(argc, argv);
  const std::string brokers = opts.str("brokers", "127.0.0.1:9092");
  const std::string prefix = opts.str("prefix", "");
  const std::string storage = opts.str("storage-topic", "");
  const std::string dlq = opts.str("dlq-topic", "");
  if (prefix.empty() || storage.empty()) opts.fail("--prefix and --storage-topic are required");
  if (storage.rfind(prefix, 0) != 0) opts.fail("--storage-topic must start with --prefix");
  const std::int64_t expect = opts.integer("expect", 200'000, 0, INT64_MAX);
  const auto deadline =
      Clock::now() + std::chrono::seconds(opts.integer("timeout", 120, 1, 86'400));

  Handle consumer = make_client(kProgram, RD_KAFKA_CONSUMER,
                                make_conf(kProgram, {{"bootstrap.servers", brokers},
                                                     {"client.id", "pemx-bench-check"},
                                                     {"group.id", "pemx-bench-check"},
                                                     {"enable.auto.commit", "false"},
                                                     // The end of a partition whose last
                                                     // record is a transaction's commit marker
                                                     // (--delivery exactly_once) is seen only
                                                     // as an EOF: no message has its offset.
                                                     {"enable.partition.eof", "true"}}));
  auto topics = list_topics(consumer.get(), 10000);
  if (!topics) die(kProgram, "cannot read the cluster's metadata");

  // Assign every partition of every matching topic from its start, up to its current end.
  PartitionList assignment(rd_kafka_topic_partition_list_new(16));
  std::map<std::pair<std::string, int>, std::int64_t> ends;  // tp -> high watermark
  std::map<std::string, std::int64_t> per_topic;
  for (const auto& [name, partitions] : *topics) {
    if (name.rfind(prefix, 0) != 0) continue;
    per_topic[name] = 0;
    for (int p = 0; p < partitions; ++p) {
      std::int64_t lo = 0, hi = 0;
      rd_kafka_resp_err_t e =
          rd_kafka_query_watermark_offsets(consumer.get(), name.c_str(), p, &lo, &hi, 10000);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        die(kProgram, "watermarks of " + name + "/" + std::to_string(p) + ": " + rd_kafka_err2str(e));
      }
      if (hi <= lo) continue;
      ends[{name, p}] = hi;
      rd_kafka_topic_partition_list_add(assignment.get(), name.c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
  }
  if (assignment->cnt > 0) {
    rd_kafka_resp_err_t e = rd_kafka_assign(consumer.get(), assignment.get());
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) die(kProgram, std::string("assign: ") + rd_kafka_err2str(e));
  }

  Group storage_group, type_group, dlq_group;
  std::size_t open = ends.size();
  std::int64_t errors = 0;
  bool timed_out = false;
  while (open > 0) {
    if (Clock::now() >= deadline) {
      timed_out = true;
      break;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      auto end = ends.find({rd_kafka_topic_name(m->rkt), m->partition});
      if (end != ends.end() && m->offset >= end->second) {
        ends.erase(end);
        --open;
      }
      rd_kafka_message_destroy(m);
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (errors++ < 5) std::cerr << kProgram << ": " << rd_kafka_message_errstr(m) << "\n";
      rd_kafka_message_destroy(m);
      continue;
    }
    std::string topic = rd_kafka_topic_name(m->rkt);
    ++per_topic[topic];
    Group& g = topic == storage ? storage_group : topic == dlq ? dlq_group : type_group;
    ++g.messages;
    g.values.insert(std::hash<std::string_view>{}(
        std::string_view(static_cast<const char*>(m->payload), m->len)));
    rd_kafka_headers_t* hdrs = nullptr;
    const void* val = nullptr;
    size_t size = 0;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, "pemx-source-offset", &val, &size) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::int64_t source_offset = std::stoll(std::string(static_cast<const char*>(val), size));
      std::string k = topic + "/" + std::to_string(m->partition) + "/" +
                      std::string(static_cast<const char*>(m->key), m->key_len);
      auto [it, inserted] = g.last_offset.emplace(k, source_offset);
      if (!inserted) {
        if (source_offset <= it->second) ++g.order_violations;
        it->second = source_offset;
      }
    } else {
      ++g.no_offset_header;
    }
    auto end = ends.find({topic, m->partition});
    if (end != ends.end() && m->offset + 1 >= end->second) {
      ends.erase(end);
      --open;
    }
    rd_kafka_message_destroy(m);
  }

  const std::int64_t storage_distinct = static_cast<std::int64_t>(storage_group.values.size());
  const std::int64_t type_distinct = static_cast<std::int64_t>(type_group.values.size());
  const bool ok = !timed_out && storage_group.messages == expect && storage_distinct == expect &&
                  type_group.messages == expect && type_distinct == expect &&
                  dlq_group.messages == 0 && storage_group.order_violations == 0 &&
                  type_group.order_violations == 0;

  JsonLine topics_json;
  for (const auto& [name, n] : per_topic) topics_json.add(name, n);
  JsonLine out;
  out.add("tool", "pemx_bench_check")
      .add("prefix", prefix)
      .add("expect", expect)
      .raw("topics", topics_json.str())
      .raw("storage", storage_group.json(expect))
      .raw("type_topics", type_group.json(expect))
      .add("dead_lettered", dlq_group.messages)
      .add("timed_out", timed_out)
      .add("ok", ok);
  std::cout << out.str() << std::endl;
  rd_kafka_consumer_close(consumer.get());
  return ok ? 0 : 1;
}
