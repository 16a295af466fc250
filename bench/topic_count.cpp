// pemx_bench_topic_count: prints how many messages a topic holds (the sum of its partitions'
// high watermarks; the bench topics start empty and are never compacted or trimmed).
#include <librdkafka/rdkafka.h>

#include <iostream>
#include <string>

#include "bench_util.hpp"

namespace {

constexpr const char* kProgram = "pemx_bench_topic_count";
constexpr const char* kUsage = R"(pemx_bench_topic_count — messages in a topic

Usage: pemx_bench_topic_count --topic NAME [--brokers LIST]
Prints {"tool":"pemx_bench_topic_count","topic":…,"partitions":…,"messages":…}.
Exit 1 if the topic does not exist or a watermark cannot be read.
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace pemx::bench;
  Options opts(kProgram, kUsage, {"brokers", "topic"});
  opts.parse(argc, argv);
  const std::string brokers = opts.str("brokers", "127.0.0.1:9092");
  const std::string topic = opts.str("topic", "");
  if (topic.empty()) opts.fail("--topic is required");
  Handle consumer = make_client(kProgram, RD_KAFKA_CONSUMER,
                                make_conf(kProgram, {{"bootstrap.servers", brokers},
                                                     {"client.id", "pemx-bench-topic-count"},
                                                     {"group.id", "pemx-bench-topic-count"}}));
  const int partitions = partition_count(consumer.get(), topic, 10000);
  if (partitions <= 0) die(kProgram, "topic " + topic + " not found");
  std::int64_t sum = 0;
  for (int p = 0; p < partitions; ++p) {
    std::int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(consumer.get(), topic.c_str(), p, &lo, &hi, 10000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      die(kProgram, "watermarks of " + topic + " [" + std::to_string(p) + "]: " + rd_kafka_err2str(e));
    }
    sum += hi;
  }
  JsonLine out;
  out.add("tool", kProgram).add("topic", topic).add("partitions", partitions).add("messages", sum);
  std::cout << out.str() << std::endl;
  return 0;
}
