// pemx_bench_push_baseline: the baseline of the push benchmark (POST /event). The Kafka work
// of one push request, done by a plain librdkafka program with nothing else: --concurrency
// clients each produce a batch of the same events (key = productId, value = the event as
// sent) and wait until the broker acknowledged every message of it, then send the next,
// for --duration seconds. One producer shared by all clients, with the settings of
// plugins/http_front/pusher.cpp (acks=all, idempotence, linger.ms = kafka::kPushLingerMs,
// message.timeout.ms = push_timeout 10 s, messages copied into librdkafka) and, like it, one
// thread serving the delivery reports (rd_kafka_poll) that wakes the client whose batch
// completed.
//
// No HTTP, no JSON validation: the events are parsed once at start-up only to get each key.
#include <librdkafka/rdkafka.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "kafka/sizing.hpp"

namespace {

constexpr const char* kProgram = "pemx_bench_push_baseline";
constexpr const char* kUsage = R"(pemx_bench_push_baseline — plain librdkafka produce of push-sized batches

Usage: pemx_bench_push_baseline --events FILE --topic NAME [options]
  --brokers LIST       bootstrap servers (default 127.0.0.1:9092)
  --topic NAME         target topic (required)
  --events FILE        the batch: one event (JSON object) per line (required)
  --concurrency C      clients, each with one batch in flight (default 8)
  --duration SECONDS   how long to run (default 20)
  --warmup-batches N   batches sent (and waited for) before the clock starts (default 1)
  --property K=V       extra librdkafka producer property (repeatable)

Prints one JSON line: batches, events, elapsed_s, events_per_s, batches_per_s, p50_ms, p90_ms,
p99_ms, max_ms (latency of one batch: first produce to last acknowledgement), failed.
Exit 0 only if no message failed.
)";

struct Event {
  std::string key;
  std::string value;
};

// One client's batch in flight; completed by the delivery reports.
struct Batch {
  std::mutex mutex;
  std::condition_variable cv;
  int remaining = 0;
  bool failed = false;
};

std::atomic<std::int64_t> g_failed{0};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* batch = static_cast<Batch*>(m->_private);
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) g_failed.fetch_add(1);
  std::lock_guard<std::mutex> lock(batch->mutex);
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) batch->failed = true;
  if (--batch->remaining == 0) batch->cv.notify_one();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pemx::bench;
  Options opts(kProgram, kUsage,
               {"brokers", "topic", "events", "concurrency", "duration", "warmup-batches",
                "property"},
               {"property"});
  opts.parse(argc, argv);
  const std::string brokers = opts.str("brokers", "127.0.0.1:9092");
  const std::string topic = opts.str("topic", "");
  const std::string events_file = opts.str("events", "");
  if (topic.empty() || events_file.empty()) opts.fail("--topic and --events are required");
  const int concurrency = static_cast<int>(opts.integer("concurrency", 8, 1, 1024));
  const auto duration = std::chrono::seconds(opts.integer("duration", 20, 1, 3600));
  const std::int64_t warmup = opts.integer("warmup-batches", 1, 0, 1000);

  std::vector<Event> events;
  {
    std::ifstream in(events_file);
    if (!in) die(kProgram, "cannot read " + events_file);
    std::string line;
    rapidjson::Document d;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      d.Parse(line.data(), line.size());
      auto it = d.IsObject() ? d.FindMember("productId") : rapidjson::Value::MemberIterator();
      if (!d.IsObject() || it == d.MemberEnd() || !it->value.IsString()) {
        die(kProgram, "an event without a string productId in " + events_file);
      }
      events.push_back({std::string(it->value.GetString(), it->value.GetStringLength()), line});
    }
  }
  if (events.empty()) die(kProgram, events_file + " holds no events");

  // plugins/http_front/pusher.cpp's producer.
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", brokers},
      {"client.id", "pemx-bench-push-baseline"},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", pemx::kafka::kPushLingerMs},
      {"message.timeout.ms", "10000"}};
  for (const auto& kv : opts.all("property")) props.push_back(split_property(opts, kv));
  rd_kafka_conf_t* conf = make_conf(kProgram, props);
  rd_kafka_conf_set_dr_msg_cb(conf, &on_delivery);
  Handle producer = make_client(kProgram, RD_KAFKA_PRODUCER, conf);

  std::atomic<bool> stop_poll{false};
  std::thread poller([&] {
    while (!stop_poll.load()) rd_kafka_poll(producer.get(), 100);
  });

  // Sends one batch and waits for all its reports; returns its latency in ms.
  auto send_batch = [&](Batch& batch) -> double {
    const auto t0 = Clock::now();
    {
      std::lock_guard<std::mutex> lock(batch.mutex);
      batch.remaining = static_cast<int>(events.size()) + 1;  // +1 until all are queued
      batch.failed = false;
    }
    int refused = 0;
    for (const auto& e : events) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
          RD_KAFKA_V_KEY(e.key.data(), e.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(e.value.data()), e.value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&batch), RD_KAFKA_V_END);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) ++refused;
    }
    std::unique_lock<std::mutex> lock(batch.mutex);
    batch.remaining -= 1 + refused;
    if (refused > 0) {
      batch.failed = true;
      g_failed.fetch_add(refused);
    }
    batch.cv.wait(lock, [&] { return batch.remaining == 0; });
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };

  {
    Batch b;
    for (std::int64_t i = 0; i < warmup; ++i) send_batch(b);
  }
  const std::int64_t warmup_failed = g_failed.load();

  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(concurrency));
  std::vector<std::int64_t> failed_batches(static_cast<std::size_t>(concurrency), 0);
  const auto start = Clock::now();
  const auto end = start + duration;
  std::vector<std::thread> clients;
  for (int c = 0; c < concurrency; ++c) {
    clients.emplace_back([&, c] {
      Batch b;
      while (Clock::now() < end) {
        double ms = send_batch(b);
        if (b.failed) {
          ++failed_batches[static_cast<std::size_t>(c)];
        } else {
          latencies[static_cast<std::size_t>(c)].push_back(ms);
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  const double elapsed = seconds_since(start);
  stop_poll.store(true);
  poller.join();
  rd_kafka_flush(producer.get(), 5000);

  std::vector<double> all;
  std::int64_t failed = 0;
  for (int c = 0; c < concurrency; ++c) {
    all.insert(all.end(), latencies[static_cast<std::size_t>(c)].begin(),
               latencies[static_cast<std::size_t>(c)].end());
    failed += failed_batches[static_cast<std::size_t>(c)];
  }
  const auto batches = static_cast<std::int64_t>(all.size());
  const auto n_events = batches * static_cast<std::int64_t>(events.size());
  double mean = 0;
  for (double v : all) mean += v;
  if (!all.empty()) mean /= static_cast<double>(all.size());

  JsonLine out;
  out.add("tool", kProgram)
      .add("topic", topic)
      .add("batch_events", static_cast<std::int64_t>(events.size()))
      .add("concurrency", concurrency)
      .add("warmup_batches", warmup)
      .add("batches", batches)
      .add("failed_batches", failed)
      .add("failed_messages", g_failed.load())
      .add("warmup_failed_messages", warmup_failed)
      .add("events", n_events)
      .add("elapsed_s", elapsed)
      .add("batches_per_s", elapsed > 0 ? static_cast<double>(batches) / elapsed : 0.0)
      .add("events_per_s", elapsed > 0 ? static_cast<double>(n_events) / elapsed : 0.0)
      .add("mean_ms", mean)
      .add("p50_ms", percentile(all, 50))
      .add("p90_ms", percentile(all, 90))
      .add("p99_ms", percentile(all, 99))
      .add("max_ms", percentile(all, 100));
  std::cout << out.str() << std::endl;
  return g_failed.load() == 0 ? 0 : 1;
}
