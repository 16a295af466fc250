#pragma once
// PEMX's memory bounds for the buffers its stages own or ask librdkafka for, in one place so
// that each one is chosen on purpose (docs/memory.md lists every buffer, its size and why;
// docs/benchmarks.md, "Memory", has the measurements). A stage's `properties` (or
// [kafka.properties]) still override the librdkafka ones; the queue capacities are pemx.toml's.
// tests/kafka/sizing_test.cpp pins every value, so a change is a decision, not an accident.
#include <cstddef>
#include <cstdint>

#include "kafka/kafka_config.hpp"

namespace pemx::kafka {

// kafka_ingest's consumer prefetch. librdkafka's defaults let one consumer hold 64 MiB of
// fetched messages (queued.max.messages.kbytes) plus fetch responses of up to 50 MiB.
// librdkafka 2.0.2 (Debian 12's) stops fetching a partition once the pre-fetch queue is over
// queued.min.messages or this bound, with an indefinite backoff (rd_kafka_toppar_fetch_decide
// in src/rdkafka_fetcher.c), and its broker thread decides again only when something wakes it,
// at the latest at its 1 s wake-up. Alone, a prefetch of B bytes is therefore refilled about
// once a second and routing runs at most at about B per second (4 MiB gave 25,000 events/s,
// 8 MiB 42,000, 16 MiB 70,000-80,000 on the bench). kafka_ingest's fetch waker
// (kIngestFetchWakeupMs) wakes the broker thread every 50 ms instead, so the prefetch needs to
// hold only about 50 ms of input at the full rate: 4 MiB covers 80 MB/s (about 350,000
// reference-sized events/s), and costs about 12 MiB of peak RSS where 16 MiB cost about 50
// (each prefetched message also holds librdkafka's op and message structures and its fetch
// buffer: about 3 bytes per byte of bound). docs/memory.md, docs/benchmarks.md "Memory".
// librdkafka 2.2.0 added `fetch.queue.backoff.ms` for the same purpose.
inline constexpr const char* kIngestQueuedMaxKbytes = "4096";
// kafka_ingest's fetch waker: every this many ms it asks for the latest offset of at most 3 of
// its partitions in turn (one ListOffsets request per leader), which wakes the broker thread
// that fetches them so it looks at the drained prefetch again (plugins/kafka_ingest,
// wake_fetchers). Measured with a plain consumer at a 2 MiB prefetch on the bench broker:
// 64,000 events/s without it, 217,000 with it. A few small requests per tick per consumer, and
// none while nothing arrives; `fetch_wakeup_interval = "0s"` turns it off (then raise
// queued.max.messages.kbytes in the stage's properties to about one second of input, 16 MiB at
// the bench's rate). Each query is bounded by 500 ms, so a dead leader cannot hold the
// consumer's close (it once did, through rd_kafka_query_watermark_offsets, which waits past
// its timeout in 2.0.2: the failover integration test exited 1 at SIGTERM).
inline constexpr int kIngestFetchWakeupMs = 50;
// Fetches of 256 KiB per partition keep the prefetch's overshoot small.
inline constexpr const char* kIngestMaxPartitionFetchBytes = "262144";
// One fetch response at most; librdkafka still returns a single larger message whole.
inline constexpr const char* kIngestFetchMaxBytes = "8388608";

// The consumer properties above, applied by kafka_ingest before its stage's own `properties`.
inline Properties ingest_consumer_sizing() {
  return {{"queued.max.messages.kbytes", kIngestQueuedMaxKbytes},
          {"max.partition.fetch.bytes", kIngestMaxPartitionFetchBytes},
          {"fetch.max.bytes", kIngestFetchMaxBytes}};
}

// kafka_sink's default max_in_flight: records produced and not yet fully acknowledged. Each
// costs its Record and one librdkafka message per output (about 3 KiB with two outputs). It is
// a throughput bound too: the sink waits once this many records are in flight, so it must
// cover the produce round trip (linger, acks=all) at the full rate. Measured with
// bench/run_memory.sh against main's 20,000: 512 (with 256-record queues) gave 0.59 of the
// throughput, 2048 0.92 and 0.96, 4096 1.07 for 9 MiB more peak RSS than 2048; the old 20,000
// held about 60 MiB.
inline constexpr std::int64_t kSinkMaxInFlight = 4096;

// kafka_sink's producer sends a partition's messages as soon as its broker connection may
// (linger.ms = 0) instead of librdkafka's default 5 ms wait for more: at 1,000 events/s spread
// over the outputs' partitions nearly every batch is one message that waited the whole linger,
// which was 5 of the 5.1 ms PEMX added to a produce -> consume hop at p50 (docs/benchmarks.md,
// "Latency"). Under load batches still fill while earlier requests are in flight. Applied
// before [kafka.properties], so a cluster-wide or stage `properties` choice overrides it.
inline constexpr const char* kSinkLingerMs = "0";

inline Properties sink_producer_defaults() { return {{"linger.ms", kSinkLingerMs}}; }

// The push's producer (http_front's Pusher) waits 5 ms for more messages, librdkafka's own
// default, after [kafka.properties] (which cannot shorten it). Shorter, its broker thread
// spins: librdkafka 2.0.2 lets an idempotent producer send a partition's next request only
// while fewer than 5 *messages* of it are in flight (rd_kafka_toppar_producer_serve compares
// rktp_msgs_inflight with the 5-request window), so a partition has one request in flight, and
// once the next batch is older than linger.ms the broker thread's next wake-up is "now": it
// polls with a zero timeout until the acknowledgement comes. Requests arriving over HTTP keep a
// batch waiting nearly all the time; under the push bench (docs/benchmarks.md, "Push") that
// was 2,842 poll() calls per 1,000 events at linger.ms = 2 (1,366 at 3, 544 at 4, 59 at 5) and
// the broker thread 46 % of pemx's CPU. 5 ms is about one produce round trip there, so the
// batches do not wait much longer than they would for the request in flight anyway; when the
// round trip is longer (a busier machine) it spins again for the difference. (Upstream:
// confluentinc/librdkafka pull request 4989, one produce request at a time per partition.)
inline constexpr const char* kPushLingerMs = "5";

// kafka_ingest keeps at most this many records handed back by its sink for reuse (their
// strings keep their capacity: no allocation per event)...
inline constexpr std::size_t kIngestSpareRecords = 1024;
// ...and only records whose strings hold at most this many bytes: a record that carried one
// large event (up to events.max_bytes) is freed rather than kept with its buffer.
inline constexpr std::size_t kIngestSpareRecordBytes = 16 * 1024;

}  // namespace pemx::kafka
