// pemx_bench_load: produces N reference-shaped events (pemx::sim::EventGenerator, fixed seed,
// key = productId) to a topic as fast as librdkafka takes them, with acks=all and
// idempotence, waits for every delivery report, and prints a one-line JSON summary.
//
// The events come from the generator only; this program adds nothing to them, so the same
// seed gives the same event stream wherever the generator is used (tests, simulator, bench).
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <iostream>
#include <string>
#include <thread>

#include "bench_util.hpp"
#include "sim/event_generator.hpp"

namespace {

constexpr const char* kProgram = "pemx_bench_load";
constexpr const char* kUsage = R"(pemx_bench_load — produce reference-shaped events to Kafka

Usage: pemx_bench_load [options]
  --brokers LIST      bootstrap servers (default 127.0.0.1:9092)
  --topic NAME        target topic (default product-event)
  --count N           events to produce (default 200000)
  --seed S            generator seed (default 1)
  --partitions P      create the topic with P partitions first if it does not exist
                      (default 0: do not create; rely on the broker's auto-creation)
  --timeout SECONDS   give up after this long (default 300)
  --property K=V      extra librdkafka producer property (repeatable)

Prints one JSON line: {"tool":"pemx_bench_load","topic":…,"count":…,"delivered":…,
"failed":…,"bytes":…,"elapsed_s":…,"events_per_s":…}. Exit 0 only if every event was
acknowledged by the broker.
)";

struct Counts {
  std::int64_t delivered = 0;
  std::int64_t failed = 0;
  std::string first_error;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* c = static_cast<Counts*>(opaque);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++c->delivered;
  } else {
    if (c->failed++ == 0) c->first_error = rd_kafka_err2str(m->err);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pemx::bench;
  Options opts(kProgram, kUsage,
               {"brokers", "topic", "count", "seed", "partitions", "timeout", "property"},
               {"property"});
  opts.parse(argc, argv);
  const std::string brokers = opts.str("brokers", "127.0.0.1:9092");
  const std::string topic = opts.str("topic", "product-event");
  const std::int64_t count = opts.integer("count", 200'000, 0, 1'000'000'000);
  const auto seed = static_cast<std::uint64_t>(opts.integer("seed", 1, 0, INT64_MAX));
  const int partitions = static_cast<int>(opts.integer("partitions", 0, 0, 10'000));
  const std::int64_t timeout_s = opts.integer("timeout", 300, 1, 86'400);

  Counts counts;
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", brokers},
      {"client.id", "pemx-bench-load"},
      {"acks", "all"},
      {"enable.idempotence", "true"}};
  for (const auto& kv : opts.all("property")) props.push_back(split_property(opts, kv));
  rd_kafka_conf_t* conf = make_conf(kProgram, props);
  rd_kafka_conf_set_dr_msg_cb(conf, &on_delivery);
  rd_kafka_conf_set_opaque(conf, &counts);
  Handle producer = make_client(kProgram, RD_KAFKA_PRODUCER, conf);

  if (partitions > 0) create_topic(kProgram, producer.get(), topic, partitions);

  pemx::sim::GeneratorOptions gen_options;
  gen_options.seed = seed;
  pemx::sim::EventGenerator generator(gen_options);

  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(timeout_s);
  std::int64_t bytes = 0;
  std::int64_t produced = 0;
  bool timed_out = false;
  std::string produce_error;
  for (std::int64_t i = 0; i < count && !timed_out && produce_error.empty(); ++i) {
    pemx::sim::GeneratedEvent ev = generator.next();
    for (;;) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(ev.product_id.data(), ev.product_id.size()),
          RD_KAFKA_V_VALUE(ev.json.data(), ev.json.size()), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        produce_error = rd_kafka_err2str(err);
        break;
      }
      if (Clock::now() >= deadline) {
        timed_out = true;
        break;
      }
      rd_kafka_poll(producer.get(), 10);  // serve delivery reports: frees queue room
    }
    if (!produce_error.empty() || timed_out) break;
    ++produced;
    bytes += static_cast<std::int64_t>(ev.json.size() + ev.product_id.size());
    if ((i & 1023) == 0) rd_kafka_poll(producer.get(), 0);
  }
  // Wait for every delivery report, bounded by the deadline.
  while (rd_kafka_outq_len(producer.get()) > 0 && Clock::now() < deadline) {
    rd_kafka_flush(producer.get(), 100);
  }
  rd_kafka_poll(producer.get(), 0);
  if (rd_kafka_outq_len(producer.get()) > 0) timed_out = true;
  const double elapsed = seconds_since(start);

  JsonLine out;
  out.add("tool", "pemx_bench_load")
      .add("topic", topic)
      .add("seed", static_cast<std::int64_t>(seed))
      .add("count", count)
      .add("produced", produced)
      .add("delivered", counts.delivered)
      .add("failed", counts.failed)
      .add("bytes", bytes)
      .add("elapsed_s", elapsed)
      .add("events_per_s", elapsed > 0 ? static_cast<double>(counts.delivered) / elapsed : 0.0)
      .add("timed_out", timed_out);
  if (!counts.first_error.empty()) out.add("first_delivery_error", counts.first_error);
  if (!produce_error.empty()) out.add("produce_error", produce_error);
  std::cout << out.str() << std::endl;
  return counts.delivered == count && counts.failed == 0 ? 0 : 1;
}
