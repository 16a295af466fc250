// pemx_bench_latency: end-to-end latency at a fixed input rate. Produces reference-shaped
// events (pemx::sim::EventGenerator) to --produce-topic at --rate events/s for --warmup +
// --duration seconds, and in the same process consumes --consume-topic, where each event is
// expected back once: the same topic for a plain produce -> consume hop (the baseline), or a
// topic PEMX routes every event to (its storage topic). The latency of an event is its
// consumer's receive time minus its producer's send time (just before rd_kafka_producev),
// both read from one steady clock.
//
// Each event carries its sequence number in the last 12 hex digits of its eventId (random in
// a version-4 UUID, so the event stays valid), which is how a received message finds its send
// time: no table of ids, no clock in the payload. Events sent during the warm-up are not
// measured. Producer and consumer settings are the same in both uses (see kUsage); only the
// topics differ.
//
// Threads: main produces (and serves delivery reports); one consumer thread. The send times
// are atomics written before the produce call and read by the consumer after it received
// the message.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "sim/event_generator.hpp"
#include "sim/pacer.hpp"

namespace {

constexpr const char* kProgram = "pemx_bench_latency";
constexpr const char* kUsage = R"(pemx_bench_latency — end-to-end latency at a fixed input rate

Usage: pemx_bench_latency [options]
  --brokers LIST          bootstrap servers (default 127.0.0.1:9092)
  --produce-topic NAME    where the events are produced (default product-event)
  --consume-topic NAME    where each event is expected back once (default: --produce-topic,
                          a plain produce -> consume hop)
  --partitions P          create both topics with P partitions first unless they exist
                          (default 3; 0: do not create)
  --rate N                events per second (default 1000; 0: as fast as the producer takes
                          them, the "max" point of a latency curve)
  --warmup SECONDS        sent first and not measured (default 3)
  --duration SECONDS      measured sending time (default 20)
  --drain SECONDS         after the last send, how long to wait for the last events (default 15)
  --max-events N          bound on the events sent (default 5000000)
  --seed S                generator seed (default 1)
  --client-id ID          client.id of both clients (default pemx-bench-latency)
  --property K=V          extra librdkafka property for both clients (repeatable)

The producer: acks=all, idempotence, linger.ms=0 (so that the baseline hop is as short as
Kafka allows), key = productId. The consumer: no group, every partition of the consume topic
assigned from the beginning (the topic must be fresh), librdkafka's fetch defaults.

Prints one JSON line: {"tool":"pemx_bench_latency","rate":…,"sent":…,"measured":…,
"received":…,"missing":…,"duplicates":…,"failed":…,"achieved_per_s":…,"p50_ms":…,"p90_ms":…,
"p99_ms":…,"p999_ms":…,"max_ms":…,"mean_ms":…}. Exit 0 only if every measured event was
received.
)";

using pemx::bench::Clock;

struct Shared {
  std::unique_ptr<std::atomic<std::int64_t>[]> sent_ns;  // per sequence number; 0: not sent
  std::size_t capacity = 0;
  std::atomic<std::uint64_t> measured_from{UINT64_MAX};  // first measured sequence number
  std::atomic<std::uint64_t> sent{0};                    // events handed to the producer
  std::atomic<bool> sending_done{false};
  std::atomic<std::int64_t> failed{0};
  Clock::time_point epoch = Clock::now();
};

std::int64_t ns_since(const Shared& s, Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t - s.epoch).count() + 1;
}

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    static_cast<Shared*>(opaque)->failed.fetch_add(1, std::memory_order_relaxed);
  }
}

// The sequence number in an event's eventId (its last 12 hex digits); -1 when absent.
std::int64_t sequence_of(std::string_view payload) {
  constexpr std::string_view kKey = "\"eventId\"";
  auto at = payload.find(kKey);
  if (at == std::string_view::npos) return -1;
  std::size_t i = at + kKey.size();
  while (i < payload.size() && (payload[i] == ' ' || payload[i] == ':')) ++i;
  if (i >= payload.size() || payload[i] != '"' || i + 1 + 36 >= payload.size()) return -1;
  std::string_view id = payload.substr(i + 1, 36);
  std::int64_t seq = 0;
  for (char c : id.substr(24)) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return -1;
    seq = seq * 16 + d;
  }
  return seq;
}

// Writes the sequence number into the event's eventId (last 12 hex digits), in place.
bool stamp(pemx::sim::GeneratedEvent& ev, std::uint64_t seq) {
  auto at = ev.json.find(ev.event_id);
  if (ev.event_id.size() != 36 || at == std::string::npos) return false;
  char digits[13];
  for (int i = 11; i >= 0; --i, seq >>= 4) digits[i] = "0123456789abcdef"[seq & 15];
  digits[12] = '\0';
  ev.json.replace(at + 24, 12, digits);
  ev.event_id.replace(24, 12, digits);
  return true;
}

struct ConsumerResult {
  std::vector<double> latencies_ms;
  std::int64_t received = 0;
  std::int64_t duplicates = 0;
  std::int64_t foreign = 0;  // messages without a sequence number of this run
  std::string error;
};

// Until every measured event is back, or (once sending is done) the drain deadline passes.
void consume(rd_kafka_t* consumer, Shared& shared, const std::atomic<std::int64_t>& deadline_ns,
             ConsumerResult& out) {
  std::vector<bool> seen(shared.capacity, false);
  std::int64_t expected_measured = -1;
  std::int64_t measured_received = 0;
  for (;;) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
    const auto now = Clock::now();
    if (m != nullptr) {
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::int64_t seq = sequence_of(
            std::string_view(static_cast<const char*>(m->payload), m->len));
        if (seq < 0 || static_cast<std::size_t>(seq) >= shared.capacity) {
          ++out.foreign;
        } else if (seen[seq]) {
          ++out.duplicates;
        } else {
          seen[seq] = true;
          ++out.received;
          std::int64_t sent = shared.sent_ns[seq].load(std::memory_order_acquire);
          if (sent == 0) {
            ++out.foreign;
          } else if (static_cast<std::uint64_t>(seq) >=
                     shared.measured_from.load(std::memory_order_acquire)) {
            out.latencies_ms.push_back(static_cast<double>(ns_since(shared, now) - sent) / 1e6);
            ++measured_received;
          }
        }
      } else if (out.error.empty() && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        out.error = rd_kafka_message_errstr(m);
      }
      rd_kafka_message_destroy(m);
    }
    if (shared.sending_done.load(std::memory_order_acquire)) {
      if (expected_measured < 0) {
        std::uint64_t from = shared.measured_from.load();
        std::uint64_t sent = shared.sent.load();
        expected_measured =
            from == UINT64_MAX || sent < from ? 0 : static_cast<std::int64_t>(sent - from);
      }
      if (measured_received >= expected_measured) return;
      if (ns_since(shared, now) >= deadline_ns.load()) return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pemx::bench;
  Options opts(kProgram, kUsage,
               {"brokers", "produce-topic", "consume-topic", "partitions", "rate", "warmup",
                "duration", "drain", "max-events", "seed", "client-id", "property"},
               {"property"});
  opts.parse(argc, argv);
  const std::string brokers = opts.str("brokers", "127.0.0.1:9092");
  const std::string produce_topic = opts.str("produce-topic", "product-event");
  const std::string consume_topic = opts.str("consume-topic", produce_topic);
  const int partitions = static_cast<int>(opts.integer("partitions", 3, 0, 10'000));
  const std::int64_t rate = opts.integer("rate", 1000, 0, 10'000'000);
  const std::int64_t warmup_s = opts.integer("warmup", 3, 0, 3600);
  const std::int64_t duration_s = opts.integer("duration", 20, 1, 3600);
  const std::int64_t drain_s = opts.integer("drain", 15, 1, 3600);
  const std::int64_t max_events = opts.integer("max-events", 5'000'000, 1, 100'000'000);
  const auto seed = static_cast<std::uint64_t>(opts.integer("seed", 1, 0, INT64_MAX));
  const std::string client_id = opts.str("client-id", "pemx-bench-latency");

  Shared shared;
  shared.capacity = static_cast<std::size_t>(
      rate > 0 ? std::min<std::int64_t>(max_events, rate * (warmup_s + duration_s) + 16)
               : max_events);
  shared.sent_ns = std::make_unique<std::atomic<std::int64_t>[]>(shared.capacity);
  for (std::size_t i = 0; i < shared.capacity; ++i) shared.sent_ns[i].store(0);

  std::vector<std::pair<std::string, std::string>> extra;
  for (const auto& kv : opts.all("property")) extra.push_back(split_property(opts, kv));

  std::vector<std::pair<std::string, std::string>> pprops = {
      {"bootstrap.servers", brokers}, {"client.id", client_id}, {"acks", "all"},
      {"enable.idempotence", "true"}, {"linger.ms", "0"}};
  pprops.insert(pprops.end(), extra.begin(), extra.end());
  rd_kafka_conf_t* pconf = make_conf(kProgram, pprops);
  rd_kafka_conf_set_dr_msg_cb(pconf, &on_delivery);
  rd_kafka_conf_set_opaque(pconf, &shared);
  Handle producer = make_client(kProgram, RD_KAFKA_PRODUCER, pconf);

  if (partitions > 0) {
    create_topic(kProgram, producer.get(), produce_topic, partitions);
    if (consume_topic != produce_topic) {
      create_topic(kProgram, producer.get(), consume_topic, partitions);
    }
  }

  // The consumer: no group (nothing to join or commit), every partition from the beginning.
  std::vector<std::pair<std::string, std::string>> cprops = {
      {"bootstrap.servers", brokers}, {"client.id", client_id}, {"group.id", client_id},
      {"enable.auto.commit", "false"}, {"enable.partition.eof", "false"}};
  cprops.insert(cprops.end(), extra.begin(), extra.end());
  Handle consumer = make_client(kProgram, RD_KAFKA_CONSUMER, make_conf(kProgram, cprops));
  int consume_partitions = 0;
  for (int i = 0; i < 100 && consume_partitions <= 0; ++i) {
    consume_partitions = partition_count(consumer.get(), consume_topic, 5000);
    if (consume_partitions <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (consume_partitions <= 0) die(kProgram, "topic " + consume_topic + " not found");
  {
    PartitionList list(rd_kafka_topic_partition_list_new(consume_partitions));
    for (int p = 0; p < consume_partitions; ++p) {
      rd_kafka_topic_partition_list_add(list.get(), consume_topic.c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
    if (rd_kafka_resp_err_t err = rd_kafka_assign(consumer.get(), list.get())) {
      die(kProgram, std::string("assign: ") + rd_kafka_err2str(err));
    }
  }

  std::atomic<std::int64_t> deadline_ns{INT64_MAX};
  ConsumerResult result;
  std::thread consumer_thread(
      [&] { consume(consumer.get(), shared, deadline_ns, result); });

  pemx::sim::GeneratorOptions gen_options;
  gen_options.seed = seed;
  pemx::sim::EventGenerator generator(gen_options);

  const auto start = Clock::now();
  const auto measure_at = start + std::chrono::seconds(warmup_s);
  const auto stop_at = measure_at + std::chrono::seconds(duration_s);
  pemx::sim::Pacer pacer(static_cast<double>(rate), start);
  std::uint64_t sent = 0;
  std::string produce_error;
  Clock::time_point measure_started{};
  std::uint64_t measured_sent = 0;
  while (produce_error.empty() && sent < shared.capacity) {
    auto now = Clock::now();
    if (now >= stop_at) break;
    if (shared.measured_from.load(std::memory_order_relaxed) == UINT64_MAX && now >= measure_at) {
      shared.measured_from.store(sent, std::memory_order_release);
      measure_started = now;
    }
    if (!pacer.unlimited()) {
      pacer.limit_backlog(now, sent);
      if (sent >= pacer.due(now)) {
        rd_kafka_poll(producer.get(), 0);
        std::this_thread::sleep_until(std::min(pacer.when(sent), stop_at));
        continue;
      }
    }
    pemx::sim::GeneratedEvent ev = generator.next();
    if (!stamp(ev, sent)) die(kProgram, "generated event without a 36-character eventId");
    for (;;) {
      shared.sent_ns[sent].store(ns_since(shared, Clock::now()), std::memory_order_release);
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer.get(), RD_KAFKA_V_TOPIC(produce_topic.c_str()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(ev.product_id.data(), ev.product_id.size()),
          RD_KAFKA_V_VALUE(ev.json.data(), ev.json.size()), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        produce_error = rd_kafka_err2str(err);
        break;
      }
      rd_kafka_poll(producer.get(), 1);  // serve delivery reports: frees queue room
    }
    if (!produce_error.empty()) break;
    ++sent;
    shared.sent.store(sent, std::memory_order_release);
    if (shared.measured_from.load(std::memory_order_relaxed) != UINT64_MAX) ++measured_sent;
    if ((sent & 255) == 0) rd_kafka_poll(producer.get(), 0);
  }
  const double send_seconds =
      measure_started == Clock::time_point{} ? 0 : seconds_since(measure_started);
  deadline_ns.store(ns_since(shared, Clock::now() + std::chrono::seconds(drain_s)));
  shared.sending_done.store(true, std::memory_order_release);
  while (rd_kafka_outq_len(producer.get()) > 0 &&
         ns_since(shared, Clock::now()) < deadline_ns.load()) {
    rd_kafka_flush(producer.get(), 100);
  }
  consumer_thread.join();
  rd_kafka_consumer_close(consumer.get());

  std::vector<double>& lat = result.latencies_ms;
  double mean = 0;
  for (double v : lat) mean += v;
  if (!lat.empty()) mean /= static_cast<double>(lat.size());
  const auto measured = static_cast<std::int64_t>(measured_sent);
  const auto got = static_cast<std::int64_t>(lat.size());
  JsonLine out;
  out.add("tool", "pemx_bench_latency")
      .add("produce_topic", produce_topic)
      .add("consume_topic", consume_topic)
      .add("rate", rate)
      .add("sent", static_cast<std::int64_t>(sent))
      .add("measured", measured)
      .add("received", result.received)
      .add("measured_received", got)
      .add("missing", measured - got)
      .add("duplicates", result.duplicates)
      .add("foreign", result.foreign)
      .add("failed", shared.failed.load())
      .add("send_s", send_seconds)
      .add("achieved_per_s", send_seconds > 0 ? static_cast<double>(measured) / send_seconds : 0.0)
      .add("mean_ms", mean)
      .add("p50_ms", percentile(lat, 50))
      .add("p90_ms", percentile(lat, 90))
      .add("p99_ms", percentile(lat, 99))
      .add("p999_ms", percentile(lat, 99.9))
      .add("max_ms", lat.empty() ? 0.0 : lat.back());
  if (!result.error.empty()) out.add("consumer_error", result.error);
  if (!produce_error.empty()) out.add("produce_error", produce_error);
  std::cout << out.str() << std::endl;
  return got == measured && measured > 0 && shared.failed.load() == 0 && produce_error.empty()
             ? 0
             : 1;
}
