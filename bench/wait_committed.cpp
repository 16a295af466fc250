// pemx_bench_wait: waits until a consumer group's committed offsets on a topic add up to N,
// i.e. until the group's owner (PEMX, which commits an offset only after every output of it
// is acknowledged) has fully processed N messages of a topic that started empty. Prints one
// JSON line with the elapsed time. It never joins the group: it only fetches its offsets.
#include <librdkafka/rdkafka.h>

#include <signal.h>

#include <cerrno>
#include <iostream>
#include <string>
#include <thread>

#include "bench_util.hpp"

namespace {

constexpr const char* kProgram = "pemx_bench_wait";
constexpr const char* kUsage = R"(pemx_bench_wait — wait for a group's committed offsets to reach N

Usage: pemx_bench_wait --group ID [options]
  --brokers LIST      bootstrap servers (default 127.0.0.1:9092)
  --group ID          the consumer group to watch (required)
  --topic NAME        the consumed topic (default product-event)
  --expect N          wait until the committed offsets of all partitions add up to N
                      (default 200000; the topic's partitions are assumed to start at 0)
  --start-ms T        measure from this wall-clock time (ms since the epoch), e.g. the
                      moment the watched process was launched (default: now)
  --pid PID           stop waiting (exit 1) if this process ends first
  --interval-ms MS    how often to fetch the offsets (default 100)
  --outputs-prefix P  also note when the messages in the topics whose names start with P
  --outputs-expect M  (their high watermarks, summed) first reach M: the moment the last
                      output was acknowledged, before the group's next commit.

  --timeout SECONDS   give up after this long (default 300)

Prints {"tool":"pemx_bench_wait","group":…,"committed":…,"elapsed_s":…,"events_per_s":…}
(+ "outputs", "outputs_elapsed_s" with --outputs-prefix).
Exit 0 when N was reached, 1 otherwise.
)";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pemx::bench;
  const std::int64_t launched_ms = now_ms();
  Options opts(kProgram, kUsage,
               {"brokers", "group", "topic", "expect", "start-ms", "pid", "interval-ms",
                "timeout", "outputs-prefix", "outputs-expect"});
  opts.parse(argc, argv);
  const std::string brokers = opts.str("brokers", "127.0.0.1:9092");
  const std::string group = opts.str("group", "");
  if (group.empty()) opts.fail("--group is required");
  const std::string topic = opts.str("topic", "product-event");
  const std::int64_t expect = opts.integer("expect", 200'000, 1, INT64_MAX);
  const std::int64_t start_ms = opts.integer("start-ms", launched_ms, 0, INT64_MAX);
  const auto pid = static_cast<pid_t>(opts.integer("pid", 0, 0, INT32_MAX));
  const auto interval = std::chrono::milliseconds(opts.integer("interval-ms", 100, 10, 60'000));
  const auto deadline =
      Clock::now() + std::chrono::seconds(opts.integer("timeout", 300, 1, 86'400));
  const std::string outputs_prefix = opts.str("outputs-prefix", "");
  const std::int64_t outputs_expect = opts.integer("outputs-expect", 0, 0, INT64_MAX);
  if (!outputs_prefix.empty() && outputs_expect == 0) opts.fail("--outputs-prefix needs --outputs-expect");

  Handle consumer = make_client(kProgram, RD_KAFKA_CONSUMER,
                                make_conf(kProgram, {{"bootstrap.servers", brokers},
                                                     {"client.id", "pemx-bench-wait"},
                                                     {"group.id", group},
                                                     {"enable.auto.commit", "false"}}));

  auto alive = [&] { return pid == 0 || kill(pid, 0) == 0 || errno == EPERM; };

  int partitions = 0;
  while (partitions <= 0 && Clock::now() < deadline && alive()) {
    partitions = partition_count(consumer.get(), topic, 5000);
    if (partitions <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // Sum of the high watermarks of the output topics (they start empty).
  auto outputs_now = [&]() -> std::int64_t {
    auto topics = list_topics(consumer.get(), 5000);
    if (!topics) return -1;
    std::int64_t sum = 0;
    for (const auto& [name, n] : *topics) {
      if (name.rfind(outputs_prefix, 0) != 0) continue;
      for (int p = 0; p < n; ++p) {
        std::int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(consumer.get(), name.c_str(), p, &lo, &hi, 5000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
          return -1;
        }
        sum += hi;
      }
    }
    return sum;
  };
  std::int64_t outputs = 0;
  double outputs_elapsed = -1;

  std::int64_t committed = 0;
  bool reached = false;
  std::string state = "timeout";
  auto next_report = Clock::now() + std::chrono::seconds(10);
  while (partitions > 0 && Clock::now() < deadline) {
    if (!alive()) {
      state = "process ended";
      break;
    }
    if (!outputs_prefix.empty() && outputs_elapsed < 0) {
      std::int64_t n = outputs_now();
      if (n >= 0) outputs = n;
      if (outputs >= outputs_expect) {
        outputs_elapsed = static_cast<double>(now_ms() - start_ms) / 1000.0;
      }
    }
    PartitionList list(rd_kafka_topic_partition_list_new(partitions));
    for (int p = 0; p < partitions; ++p) {
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
    }
    if (rd_kafka_committed(consumer.get(), list.get(), 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::int64_t sum = 0;
      for (int i = 0; i < list->cnt; ++i) {
        if (list->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && list->elems[i].offset > 0) {
          sum += list->elems[i].offset;
        }
      }
      committed = sum;
      if (committed >= expect) {
        if (!outputs_prefix.empty() && outputs_elapsed < 0) {
          // Committed implies every output acknowledged; the last output poll was late.
          std::int64_t n = outputs_now();
          if (n >= 0) outputs = n;
          if (outputs >= outputs_expect) {
            outputs_elapsed = static_cast<double>(now_ms() - start_ms) / 1000.0;
          }
        }
        reached = true;
        state = "reached";
        break;
      }
    }
    if (Clock::now() >= next_report) {
      std::cerr << kProgram << ": group " << group << " committed " << committed << "/" << expect
                << "\n";
      next_report = Clock::now() + std::chrono::seconds(10);
    }
    std::this_thread::sleep_for(interval);
  }
  const double elapsed = static_cast<double>(now_ms() - start_ms) / 1000.0;

  JsonLine out;
  out.add("tool", "pemx_bench_wait")
      .add("group", group)
      .add("topic", topic)
      .add("partitions", partitions)
      .add("expect", expect)
      .add("committed", committed)
      .add("state", state)
      .add("elapsed_s", elapsed)
      .add("events_per_s", reached && elapsed > 0 ? static_cast<double>(expect) / elapsed : 0.0);
  if (!outputs_prefix.empty()) {
    out.add("outputs_prefix", outputs_prefix)
        .add("outputs", outputs)
        .add("outputs_expect", outputs_expect)
        .add("outputs_elapsed_s", outputs_elapsed)
        .add("outputs_events_per_s",
             outputs_elapsed > 0 ? static_cast<double>(expect) / outputs_elapsed : 0.0);
  }
  std::cout << out.str() << std::endl;
  return reached ? 0 : 1;
}
