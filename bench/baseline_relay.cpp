// pemx_bench_baseline: the baseline PEMX's dist role is measured against. A plain librdkafka
// relay with no JSON parsing and no routing rules, doing the Kafka work PEMX must do:
//
//   - consume the input topic from the beginning in a consumer group (same consumer settings
//     as plugins/kafka_ingest: manual commits, auto.offset.reset=earliest);
//   - for each message, produce 2 outputs, as PEMX does for a valid event: one to a "type"
//     topic picked without parsing (FNV-1a hash of the key modulo --type-topics, so a
//     product's events stay in one topic and partition), and one to the storage topic. Same
//     key and value as the input, plus the 3 source headers PEMX adds (topic, partition,
//     offset; PEMX also adds event id and type, which need parsing);
//   - idempotent producer with acks=all (the settings of plugins/kafka_sink), librdkafka
//     defaults otherwise;
//   - commit an input offset only after both outputs of it and of every earlier message of
//     its partition are acknowledged (asynchronously every --commit-interval-ms, the same
//     1 s as pemx.toml, and synchronously at the end);
//   - exit once N messages are relayed and acknowledged and the final commit is done.
//
// Single thread: the consumer and producer are polled from one loop, and consumed messages
// are produced without copying (the consumer message lives until both outputs are acked).
#include <librdkafka/rdkafka.h>

#include <deque>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "bench_util.hpp"

namespace {

constexpr const char* kProgram = "pemx_bench_baseline";
constexpr const char* kUsage = R"(pemx_bench_baseline — plain librdkafka relay, the PEMX baseline

Usage: pemx_bench_baseline [options]
  --brokers LIST            bootstrap servers (default 127.0.0.1:9092)
  --input TOPIC             input topic (default product-event)
  --group ID                consumer group (default pemx-bench-baseline); use a fresh one to
                            start from the beginning
  --count N                 messages to relay before exiting (default 200000)
  --output-prefix P         output topics are P"type-0".."type-<K-1>" and P"storage"
                            (default baseline-)
  --type-topics K           number of type topics (default 6: PEMX's rules give 6 type topics
                            for the generator's events: 3 event types x 2 regions/countries)
  --headers 0|1             add the 3 source headers to every output (default 1)
  --commit-interval-ms MS   async commit period (default 1000)
  --max-in-flight N         input messages produced but not fully acked (default 20000)
  --timeout SECONDS         give up after this long (default 300)
  --progress-ms MS          print consumed/acknowledged counts to stderr this often
                            (default 0: never)
  --property K=V            extra librdkafka property for both clients (repeatable)

Prints one JSON line with elapsed_s and events_per_s (input events per second, from program
start to the final commit). Exit 0 only if N messages were relayed and acknowledged.
)";

struct Slot {
  rd_kafka_message_t* msg = nullptr;  // the consumed message; its key/value are the payloads
  std::int64_t offset = -1;
  int remaining = 0;                  // outputs not yet acknowledged
  bool done = false;
};

struct State {
  std::int64_t acked_events = 0;
  std::int64_t outputs_acked = 0;
  std::int64_t delivery_failures = 0;
  std::int64_t in_flight = 0;
  std::string first_error;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* st = static_cast<State*>(opaque);
  auto* slot = static_cast<Slot*>(m->_private);
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // librdkafka already retried for message.timeout.ms: the baseline gives up.
    if (st->delivery_failures++ == 0) st->first_error = rd_kafka_err2str(m->err);
    return;
  }
  ++st->outputs_acked;
  if (--slot->remaining == 0) {
    slot->done = true;
    rd_kafka_message_destroy(slot->msg);
    slot->msg = nullptr;
    --st->in_flight;
    ++st->acked_events;
  }
}

std::uint64_t fnv1a(const void* data, std::size_t len) {
  std::uint64_t h = 1469598103934665603ULL;
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < len; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pemx::bench;
  const auto start = Clock::now();
  Options opts(kProgram, kUsage,
               {"brokers", "input", "group", "count", "output-prefix", "type-topics", "headers",
                "commit-interval-ms", "max-in-flight", "timeout", "progress-ms", "property"},
               {"property"});
  opts.parse(argc, argv);
  const std::string brokers = opts.str("brokers", "127.0.0.1:9092");
  const std::string input = opts.str("input", "product-event");
  const std::string group = opts.str("group", "pemx-bench-baseline");
  const std::int64_t count = opts.integer("count", 200'000, 1, 1'000'000'000);
  const std::string prefix = opts.str("output-prefix", "baseline-");
  const int type_topics = static_cast<int>(opts.integer("type-topics", 6, 1, 1000));
  const bool headers = opts.integer("headers", 1, 0, 1) == 1;
  const auto commit_interval = std::chrono::milliseconds(
      opts.integer("commit-interval-ms", 1000, 10, 600'000));
  const std::int64_t max_in_flight = opts.integer("max-in-flight", 20'000, 1, 10'000'000);
  const auto deadline = start + std::chrono::seconds(opts.integer("timeout", 300, 1, 86'400));
  const auto progress = std::chrono::milliseconds(opts.integer("progress-ms", 0, 0, 3'600'000));
  std::vector<std::pair<std::string, std::string>> extra;
  for (const auto& kv : opts.all("property")) extra.push_back(split_property(opts, kv));

  std::vector<std::string> type_names;
  for (int i = 0; i < type_topics; ++i) type_names.push_back(prefix + "type-" + std::to_string(i));
  const std::string storage = prefix + "storage";

  State state;
  // Producer: the settings of plugins/kafka_sink.
  std::vector<std::pair<std::string, std::string>> pprops = {
      {"bootstrap.servers", brokers},
      {"client.id", "pemx-bench-baseline"},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", "0"}};  // kafka::kSinkLingerMs
  pprops.insert(pprops.end(), extra.begin(), extra.end());
  rd_kafka_conf_t* pconf = make_conf(kProgram, pprops);
  rd_kafka_conf_set_dr_msg_cb(pconf, &on_delivery);
  rd_kafka_conf_set_opaque(pconf, &state);
  Handle producer = make_client(kProgram, RD_KAFKA_PRODUCER, pconf);

  // Consumer: the settings of plugins/kafka_ingest.
  std::vector<std::pair<std::string, std::string>> cprops = {
      {"bootstrap.servers", brokers},
      {"client.id", "pemx-bench-baseline"},
      {"group.id", group},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "false"}};
  cprops.insert(cprops.end(), extra.begin(), extra.end());
  Handle consumer = make_client(kProgram, RD_KAFKA_CONSUMER, make_conf(kProgram, cprops));
  rd_kafka_poll_set_consumer(consumer.get());
  {
    PartitionList topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), input.c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(consumer.get(), topics.get());
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) die(kProgram, std::string("subscribe: ") + rd_kafka_err2str(e));
  }

  // Per input partition: consumed slots in offset order, and the commit position.
  struct Partition {
    std::deque<Slot*> pending;
    std::int64_t next_commit = -1;
    std::int64_t committed = -1;
  };
  std::map<std::int32_t, Partition> parts;
  std::int64_t commits = 0;
  std::int64_t consume_errors = 0;

  auto produce_one = [&](Slot* slot, const std::string& topic) -> bool {
    const rd_kafka_message_t* m = slot->msg;
    for (;;) {
      rd_kafka_headers_t* hdrs = nullptr;
      if (headers) {
        hdrs = rd_kafka_headers_new(3);
        const char* src = rd_kafka_topic_name(m->rkt);
        std::string part = std::to_string(m->partition);
        std::string off = std::to_string(m->offset);
        rd_kafka_header_add(hdrs, "pemx-source-topic", -1, src, -1);
        rd_kafka_header_add(hdrs, "pemx-source-partition", -1, part.data(),
                            static_cast<ssize_t>(part.size()));
        rd_kafka_header_add(hdrs, "pemx-source-offset", -1, off.data(),
                            static_cast<ssize_t>(off.size()));
      }
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(0),
          RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
          RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(slot), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return true;
      if (hdrs != nullptr) rd_kafka_headers_destroy(hdrs);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        die(kProgram, "produce to " + topic + ": " + rd_kafka_err2str(err));
      }
      if (Clock::now() >= deadline) return false;
      rd_kafka_poll(producer.get(), 10);
    }
  };

  auto retire_and_commit = [&](bool sync) {
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(parts.size())));
    for (auto& [partition, p] : parts) {
      while (!p.pending.empty() && p.pending.front()->done) {
        p.next_commit = p.pending.front()->offset + 1;
        delete p.pending.front();
        p.pending.pop_front();
      }
      if (p.next_commit > p.committed) {
        rd_kafka_topic_partition_list_add(list.get(), input.c_str(), partition)->offset =
            p.next_commit;
        p.committed = p.next_commit;
      }
    }
    if (list->cnt == 0) return;
    ++commits;
    rd_kafka_resp_err_t e = rd_kafka_commit(consumer.get(), list.get(), sync ? 0 : 1);
    if (sync && e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      die(kProgram, std::string("final commit: ") + rd_kafka_err2str(e));
    }
  };

  std::int64_t consumed = 0;
  double first_message_s = -1;
  bool timed_out = false;
  auto next_commit = Clock::now() + commit_interval;
  auto next_progress = Clock::now() + progress;
  while (state.acked_events < count) {
    if (Clock::now() >= deadline) {
      timed_out = true;
      break;
    }
    if (state.delivery_failures > 0) break;
    bool took = false;
    if (consumed < count && state.in_flight < max_in_flight) {
      rd_kafka_message_t* m =
          rd_kafka_consumer_poll(consumer.get(), state.in_flight > 0 ? 0 : 100);
      if (m != nullptr) {
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          if (consume_errors++ < 10) {
            std::cerr << kProgram << ": consume error: " << rd_kafka_message_errstr(m) << "\n";
          }
          rd_kafka_message_destroy(m);
        } else {
          if (first_message_s < 0) first_message_s = seconds_since(start);
          ++consumed;
          took = true;
          auto* slot = new Slot{m, m->offset, 2, false};
          parts[m->partition].pending.push_back(slot);
          ++state.in_flight;
          const std::string& type_topic =
              type_names[fnv1a(m->key, m->key_len) % type_names.size()];
          if (!produce_one(slot, type_topic) || !produce_one(slot, storage)) {
            timed_out = true;
            break;
          }
        }
      }
    }
    rd_kafka_poll(producer.get(), took ? 0 : (state.in_flight > 0 ? 1 : 0));
    if (Clock::now() >= next_commit) {
      retire_and_commit(false);
      next_commit = Clock::now() + commit_interval;
    }
    if (progress.count() > 0 && Clock::now() >= next_progress) {
      std::fprintf(stderr, "%s: t=%.3f s consumed %lld acked %lld in_flight %lld\n", kProgram,
                   seconds_since(start), static_cast<long long>(consumed),
                   static_cast<long long>(state.acked_events),
                   static_cast<long long>(state.in_flight));
      next_progress = Clock::now() + progress;
    }
  }
  bool ok = !timed_out && state.delivery_failures == 0 && state.acked_events == count;
  if (ok) retire_and_commit(true);
  const double elapsed = seconds_since(start);

  JsonLine out;
  out.add("tool", "pemx_bench_baseline")
      .add("group", group)
      .add("count", count)
      .add("consumed", consumed)
      .add("relayed", state.acked_events)
      .add("outputs_acked", state.outputs_acked)
      .add("delivery_failures", state.delivery_failures)
      .add("consume_errors", consume_errors)
      .add("commits", commits)
      .add("first_message_s", first_message_s)
      .add("elapsed_s", elapsed)
      .add("events_per_s", elapsed > 0 ? static_cast<double>(state.acked_events) / elapsed : 0.0)
      .add("timed_out", timed_out);
  if (!state.first_error.empty()) out.add("first_delivery_error", state.first_error);
  std::cout << out.str() << std::endl;

  if (!ok) {
    // Outputs may still be queued that point into consumed messages: do not tear down.
    std::cout.flush();
    std::_Exit(1);
  }
  // Everything is acknowledged and every slot retired: leave the group and close.
  rd_kafka_consumer_close(consumer.get());
  rd_kafka_flush(producer.get(), 1000);
  return 0;
}
