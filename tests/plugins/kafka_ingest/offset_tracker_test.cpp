// OffsetTracker: only contiguous acknowledged offsets become committable, per partition.
#include "kafka_ingest/offset_tracker.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <utility>
#include <vector>

namespace pemx::kafka_ingest {
namespace {

using Key = OffsetTracker::Key;
using Commits = std::vector<std::pair<Key, std::int64_t>>;

const Key kP0{"product-event", 0};
const Key kP1{"product-event", 1};

void consume(OffsetTracker& t, const Key& tp, std::vector<std::int64_t> offsets) {
  for (auto o : offsets) t.consumed(tp, o);
}

TEST_CASE("acks in order make each next offset committable", "[unit][kafka_ingest]") {
  OffsetTracker t;
  t.assign(kP0);
  consume(t, kP0, {10, 11, 12});
  CHECK(t.outstanding() == 3);
  CHECK(t.take_committable().empty());  // nothing acknowledged yet

  REQUIRE(t.acked(kP0, 10));
  CHECK(t.take_committable() == Commits{{kP0, 11}});  // Kafka commits the next offset
  REQUIRE(t.acked(kP0, 11));
  REQUIRE(t.acked(kP0, 12));
  CHECK(t.take_committable() == Commits{{kP0, 13}});
  CHECK(t.outstanding() == 0);
}

TEST_CASE("take_committable reports only movement", "[unit][kafka_ingest]") {
  OffsetTracker t;
  t.assign(kP0);
  consume(t, kP0, {0, 1});
  REQUIRE(t.acked(kP0, 0));
  CHECK(t.take_committable() == Commits{{kP0, 1}});
  CHECK(t.take_committable().empty());
  CHECK(t.take_committable().empty());
  REQUIRE(t.acked(kP0, 1));
  CHECK(t.take_committable() == Commits{{kP0, 2}});
}

TEST_CASE("an out-of-order ack waits for every earlier offset", "[unit][kafka_ingest]") {
  OffsetTracker t;
  t.assign(kP0);
  consume(t, kP0, {10, 11, 12, 13});

  REQUIRE(t.acked(kP0, 12));
  REQUIRE(t.acked(kP0, 11));
  CHECK(t.take_committable().empty());  // 10 is still in flight
  CHECK(t.outstanding() == 4);

  REQUIRE(t.acked(kP0, 10));
  CHECK(t.take_committable() == Commits{{kP0, 13}});  // 10..12 done, 13 pending
  CHECK(t.outstanding() == 1);

  REQUIRE(t.acked(kP0, 13));
  CHECK(t.take_committable() == Commits{{kP0, 14}});
}

TEST_CASE("gaps between consumed offsets do not block commits", "[unit][kafka_ingest]") {
  OffsetTracker t;  // compacted topics and transaction markers leave gaps
  t.assign(kP0);
  consume(t, kP0, {5, 9, 20});
  REQUIRE(t.acked(kP0, 9));
  REQUIRE(t.acked(kP0, 5));
  CHECK(t.take_committable() == Commits{{kP0, 10}});
  REQUIRE(t.acked(kP0, 20));
  CHECK(t.take_committable() == Commits{{kP0, 21}});
}

TEST_CASE("partitions are tracked independently", "[unit][kafka_ingest]") {
  OffsetTracker t;
  t.assign(kP0);
  t.assign(kP1);
  consume(t, kP0, {100, 101});
  consume(t, kP1, {7, 8});

  REQUIRE(t.acked(kP1, 7));
  REQUIRE(t.acked(kP0, 101));
  CHECK(t.take_committable() == Commits{{kP1, 8}});  // P0 waits for 100
  REQUIRE(t.acked(kP0, 100));
  REQUIRE(t.acked(kP1, 8));
  CHECK(t.take_committable() == Commits{{kP0, 102}, {kP1, 9}});
  CHECK(t.outstanding() == 0);
}

TEST_CASE("acks for a revoked partition are ignored", "[unit][kafka_ingest]") {
  OffsetTracker t;
  t.assign(kP0);
  t.assign(kP1);
  consume(t, kP0, {1, 2});
  consume(t, kP1, {1});
  t.revoke(kP0);
  CHECK_FALSE(t.assigned(kP0));
  CHECK(t.assigned(kP1));
  CHECK(t.outstanding() == 1);

  CHECK_FALSE(t.acked(kP0, 1));
  CHECK_FALSE(t.acked(kP0, 2));
  REQUIRE(t.acked(kP1, 1));
  CHECK(t.take_committable() == Commits{{kP1, 2}});  // nothing for the revoked partition
}

TEST_CASE("a reassigned partition starts afresh", "[unit][kafka_ingest]") {
  OffsetTracker t;
  t.assign(kP0);
  consume(t, kP0, {50, 51});
  REQUIRE(t.acked(kP0, 50));
  CHECK(t.take_committable() == Commits{{kP0, 51}});
  t.revoke(kP0);
  t.assign(kP0);  // redelivery resumes from the committed offset
  CHECK(t.outstanding() == 0);

  CHECK_FALSE(t.acked(kP0, 51));  // consumed before the rebalance: stale
  consume(t, kP0, {51, 52});
  REQUIRE(t.acked(kP0, 51));
  CHECK(t.take_committable() == Commits{{kP0, 52}});
}

TEST_CASE("clear forgets every partition", "[unit][kafka_ingest]") {
  OffsetTracker t;
  t.assign(kP0);
  t.assign(kP1);
  consume(t, kP0, {1});
  consume(t, kP1, {1});
  t.clear();
  CHECK_FALSE(t.assigned(kP0));
  CHECK_FALSE(t.assigned(kP1));
  CHECK(t.outstanding() == 0);
  CHECK_FALSE(t.acked(kP0, 1));
  CHECK(t.take_committable().empty());
}

TEST_CASE("offsets never consumed, or consumed on unassigned partitions, are ignored",
          "[unit][kafka_ingest]") {
  OffsetTracker t;
  t.assign(kP0);
  consume(t, kP0, {10, 12});
  CHECK_FALSE(t.acked(kP0, 11));  // between two consumed offsets
  CHECK_FALSE(t.acked(kP0, 9));
  CHECK_FALSE(t.acked(kP0, 13));
  CHECK(t.take_committable().empty());

  t.consumed(kP1, 3);  // kP1 is not assigned
  CHECK(t.outstanding() == 2);
  CHECK_FALSE(t.acked(kP1, 3));
  CHECK_FALSE(t.assigned(kP1));
}

TEST_CASE("an ack for an already committed offset changes nothing", "[unit][kafka_ingest]") {
  OffsetTracker t;
  t.assign(kP0);
  consume(t, kP0, {1, 2});
  REQUIRE(t.acked(kP0, 1));
  CHECK(t.take_committable() == Commits{{kP0, 2}});
  CHECK_FALSE(t.acked(kP0, 1));  // a duplicate ack
  CHECK(t.take_committable().empty());
  CHECK(t.outstanding() == 1);
}

TEST_CASE("the committed offset: the confirmed commit, else the first offset consumed since "
          "the assignment", "[unit][kafka_ingest]") {
  OffsetTracker t;
  CHECK(t.committed_offset(kP0) == -1);  // not assigned
  t.assign(kP0);
  CHECK(t.committed_offset(kP0) == -1);  // nothing consumed or committed yet
  consume(t, kP0, {40, 41, 42});
  CHECK(t.committed_offset(kP0) == 40);  // where the group's commit started this member
  REQUIRE(t.acked(kP0, 40));
  REQUIRE(t.acked(kP0, 41));
  CHECK(t.take_committable() == Commits{{kP0, 42}});
  CHECK(t.committed_offset(kP0) == 40);  // sent, not confirmed
  t.commit_failed(kP0, 42);
  CHECK(t.committed_offset(kP0) == 40);
  CHECK(t.take_committable() == Commits{{kP0, 42}});
  t.commit_succeeded(kP0, 42);
  CHECK(t.committed_offset(kP0) == 42);
  // A new assignment starts afresh.
  t.revoke(kP0);
  t.assign(kP0);
  CHECK(t.committed_offset(kP0) == -1);
  consume(t, kP0, {42});
  CHECK(t.committed_offset(kP0) == 42);
}

}  // namespace
}  // namespace pemx::kafka_ingest
