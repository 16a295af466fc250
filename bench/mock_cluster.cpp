// pemx_bench_mock_cluster: librdkafka's in-process mock cluster (rdkafka_mock.h, what pemx
// runs for kafka.brokers = "embedded") in a process of its own, for bench/run_dist.sh
// --cluster embedded. pemx and the baseline relay then connect to it over loopback exactly
// as to a real broker, and neither carries the cluster's CPU: what each process is charged
// is its own client work only.
//
//   - starts a mock cluster of --brokers N brokers on 127.0.0.1 (ephemeral ports);
//   - creates every --topic with --partitions partitions (replication factor 1), so that no
//     topic depends on the mock's auto-creation (4 partitions in librdkafka 2.0.2);
//   - prints one JSON line {"tool":…,"bootstrap":"127.0.0.1:P,…","brokers":N,"topics":T}
//     on stdout once it is ready, then lives until SIGTERM or SIGINT (exit 0).
//
// The mock keeps everything in memory and, per partition, only the newest ~5 MiB or 100,000
// message sets (it drops older ones silently): give the topics enough partitions for the
// run's volume (bench/run_dist.sh checks its estimate, and pemx_bench_check would see the
// loss as missing events). Its brokers are served by one thread of this process.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

#include "bench_util.hpp"

namespace {

constexpr const char* kProgram = "pemx_bench_mock_cluster";
constexpr const char* kUsage = R"(pemx_bench_mock_cluster — librdkafka's mock cluster as a process

Usage: pemx_bench_mock_cluster [options]
  --brokers N        mock brokers (default 1)
  --partitions P     partitions of each --topic (default 3)
  --topic NAME       a topic to create (repeatable; also NAME1,NAME2,…)
  --timeout SECONDS  exit by itself after this long (default 3600), in case the script that
                     started it dies without stopping it

Prints one JSON line with "bootstrap" when ready; exits 0 on SIGTERM or SIGINT.
)";

struct ClusterDeleter {
  void operator()(rd_kafka_mock_cluster_t* c) const { rd_kafka_mock_cluster_destroy(c); }
};

}  // namespace

int main(int argc, char** argv) {
  using namespace pemx::bench;
  Options opts(kProgram, kUsage, {"brokers", "partitions", "topic", "timeout"}, {"topic"});
  opts.parse(argc, argv);
  const int brokers = static_cast<int>(opts.integer("brokers", 1, 1, 16));
  const int partitions = static_cast<int>(opts.integer("partitions", 3, 1, 1000));
  const auto timeout = std::chrono::seconds(opts.integer("timeout", 3600, 1, 86'400));
  std::vector<std::string> topics;
  for (const auto& list : opts.all("topic")) {
    std::size_t pos = 0;
    while (pos <= list.size()) {
      std::size_t comma = list.find(',', pos);
      if (comma == std::string::npos) comma = list.size();
      if (comma > pos) topics.push_back(list.substr(pos, comma - pos));
      pos = comma + 1;
    }
  }

  // Block the stop signals before any librdkafka thread starts, so that they inherit the mask
  // and only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // The owner client never connects anywhere; it only hosts the mock brokers (as
  // src/kafka/embedded.cpp does in pemx).
  Handle owner = make_client(kProgram, RD_KAFKA_PRODUCER,
                             make_conf(kProgram, {{"client.id", "pemx-bench-mock-cluster"}}));
  // Destroyed before its owner (declared after it).
  std::unique_ptr<rd_kafka_mock_cluster_t, ClusterDeleter> cluster(
      rd_kafka_mock_cluster_new(owner.get(), brokers));
  if (!cluster) die(kProgram, "rd_kafka_mock_cluster_new failed");
  for (const auto& t : topics) {
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(cluster.get(), t.c_str(), partitions, 1);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      die(kProgram, "creating topic " + t + ": " + rd_kafka_err2str(e));
    }
  }

  JsonLine out;
  out.add("tool", kProgram)
      .add("bootstrap", std::string(rd_kafka_mock_cluster_bootstraps(cluster.get())))
      .add("brokers", static_cast<std::int64_t>(brokers))
      .add("partitions", static_cast<std::int64_t>(partitions))
      .add("topics", static_cast<std::int64_t>(topics.size()))
      .add("pid", static_cast<std::int64_t>(getpid()));
  std::cout << out.str() << std::endl;

  timespec limit{static_cast<time_t>(timeout.count()), 0};
  int sig = sigtimedwait(&stop_signals, nullptr, &limit);
  if (sig < 0) std::cerr << kProgram << ": no stop signal within the timeout; exiting\n";
  cluster.reset();
  return 0;
}
