#pragma once
// pemx replay's run: stored events of a time range, read from the role's store in keyset
// pages, through the role's router stage and sink stage, built from their specs and joined by
// in-process queues as a run of the role joins them (docs/replay.md).
//
//   store pages --(main)--> [router input] rules_router [router output] --(main: --topics,
//   pemx-replay header, counts)--> [sink input] kafka_sink [acks] --(main)--> done
//
// So the routing is the router's own code (same checks, same headers, pemx-rules-version
// included) and the delivery the sink's (idempotent acks=all producer, murmur2 partitioner,
// retries, topic_unavailable dead letters). Threads: main's thread reads the store and moves
// records between the queues; the router and the sink each run their own worker thread.
#include <iosfwd>

#include "tools/replay/options.hpp"

namespace pemx {
struct Config;
}

namespace pemx::replay {

// Records alive at once (read, routed, in the sink): the bound on the replay's memory besides
// one page of rows.
inline constexpr std::size_t kMaxRecords = 2048;

// Exit code of a replay stopped by SIGINT or SIGTERM (docs/replay.md).
inline constexpr int kExitInterrupted = 3;

// The exit code: 0 when every output was acknowledged, 1 when some failed (or the store could
// not be read, or the producer failed), 2 for a role that cannot replay (no router, no sink,
// no store, an exactly-once sink, the embedded cluster), kExitInterrupted after SIGINT or
// SIGTERM: reading stops, the outputs in flight get a bounded wait, and the summary says what
// was acknowledged and where to resume. Progress lines go to `err` (at most one a second), the
// summary to `out`. Blocks SIGINT and SIGTERM in the calling thread (call it before any thread
// exists).
int run(const Config& config, const std::string& role, const ReplayOptions& options,
        std::ostream& out, std::ostream& err);

}  // namespace pemx::replay
