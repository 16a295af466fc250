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
  --timeout SECONDS   give up after this long (default 300)

Prints {"tool":"pemx_bench_wait","group":…,"committed":…,"elapsed_s":…,"events_per_s":…}.
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
                "timeout"});
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
  std::int64_t committed = 0;
  bool reached = false;
  std::string state = "timeout";
  auto next_report = Clock::now() + std::chrono::seconds(10);
  while (partitions > 0 && Clock::now() < deadline) {
    if (!alive()) {
      state = "process ended";
      break;
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
  std::cout << out.str() << std::endl;
  return reached ? 0 : 1;
}
