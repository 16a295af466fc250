// Activity: the bounded rings behind the page's live view and dead-letter list.
#include <catch2/catch.hpp>

#include "pemx/activity.hpp"

using namespace pemx;

namespace {
LiveEvent event(const std::string& product) {
  LiveEvent e;
  e.kind = "stored";
  e.product_id = product;
  e.json = R"({"productId":")" + product + R"("})";
  return e;
}
}  // namespace

TEST_CASE("live events get increasing sequence numbers and are read after a given one",
          "[unit][activity]") {
  Activity a(8);
  CHECK(a.last_seq() == 0);
  CHECK(a.since(0, 10).events.empty());
  for (int i = 0; i < 3; ++i) a.publish(event("P" + std::to_string(i)));
  CHECK(a.last_seq() == 3);
  auto all = a.since(0, 10);
  REQUIRE(all.events.size() == 3);
  CHECK(all.missed == 0);
  CHECK(all.last == 3);
  CHECK(all.events[0]->seq == 1);
  CHECK(all.events[2]->product_id == "P2");
  auto rest = a.since(2, 10);
  REQUIRE(rest.events.size() == 1);
  CHECK(rest.events[0]->seq == 3);
  auto none = a.since(3, 10);
  CHECK(none.events.empty());
  CHECK(none.last == 3);
}

TEST_CASE("a reader reads at most max events per call", "[unit][activity]") {
  Activity a(16);
  for (int i = 0; i < 10; ++i) a.publish(event("P"));
  auto first = a.since(0, 4);
  CHECK(first.events.size() == 4);
  CHECK(first.last == 4);
  auto second = a.since(first.last, 100);
  CHECK(second.events.size() == 6);
  CHECK(second.events.front()->seq == 5);
}

TEST_CASE("the ring keeps only its capacity; a reader behind it is told what it missed",
          "[unit][activity]") {
  Activity a(4);
  for (int i = 1; i <= 10; ++i) a.publish(event("P" + std::to_string(i)));
  auto s = a.since(0, 100);
  CHECK(s.missed == 6);  // 1..6 were overwritten
  REQUIRE(s.events.size() == 4);
  CHECK(s.events.front()->seq == 7);
  CHECK(s.events.back()->product_id == "P10");
  auto later = a.since(8, 100);
  CHECK(later.missed == 0);
  CHECK(later.events.size() == 2);
}

TEST_CASE("watched() is true only while a Watch exists", "[unit][activity]") {
  Activity a;
  CHECK_FALSE(a.watched());
  {
    Activity::Watch w1(a);
    Activity::Watch w2(a);
    CHECK(a.watched());
    CHECK(a.watchers() == 2);
  }
  CHECK_FALSE(a.watched());
}

TEST_CASE("latest dead letters come newest first and stay bounded", "[unit][activity]") {
  Activity a(8, 3);
  CHECK(a.latest_dead_letters().empty());
  for (int i = 1; i <= 5; ++i) {
    DeadLetterNote n;
    n.reason = "r" + std::to_string(i);
    a.dead_letter(n);
  }
  auto latest = a.latest_dead_letters();
  REQUIRE(latest.size() == 3);
  CHECK(latest[0].reason == "r5");
  CHECK(latest[2].reason == "r3");
}

TEST_CASE("kinds and sources are recorded once each", "[unit][activity]") {
  Activity a;
  a.offer("routed");
  a.offer("stored");
  a.offer("routed");
  CHECK(a.kinds() == std::vector<std::string>{"routed", "stored"});
  a.note_source("dist_ingest", {"product-event"});
  REQUIRE(a.sources().size() == 1);
  CHECK(a.sources()[0].second == std::vector<std::string>{"product-event"});
}

TEST_CASE("a huge event is kept as a stub of its ids, so the ring's bytes stay bounded",
          "[unit][activity]") {
  Activity a(4);
  LiveEvent big = event("BIG");
  big.event_id = "e-1";
  big.event_type = "Country";
  big.json = R"({"eventId":"e-1","data":")" + std::string(kMaxLiveJson, 'x') + R"("})";
  a.publish(big);
  auto s = a.since(0, 10);
  REQUIRE(s.events.size() == 1);
  CHECK(s.events[0]->json.size() < 200);
  CHECK(s.events[0]->json.find(R"("eventId":"e-1")") != std::string::npos);
  CHECK(s.events[0]->json.find(R"("truncated":true)") != std::string::npos);
  a.publish(event("small"));
  CHECK(a.since(1, 10).events[0]->json == R"({"productId":"small"})");
}

TEST_CASE("when the last watcher leaves, the ring is emptied; sequence numbers go on",
          "[unit][activity]") {
  Activity a(8);
  {
    Activity::Watch w(a);
    for (int i = 0; i < 5; ++i) a.publish(event("P"));
  }
  CHECK(a.last_seq() == 5);
  auto empty = a.since(0, 10);
  CHECK(empty.events.empty());
  CHECK(empty.missed == 0);  // never seen by anyone: skipped, not missed
  CHECK(empty.last == 5);
  Activity::Watch w(a);
  a.publish(event("Q"));
  auto next = a.since(0, 10);
  REQUIRE(next.events.size() == 1);
  CHECK(next.events[0]->seq == 6);
  CHECK(next.events[0]->product_id == "Q");
}

TEST_CASE("an ingest stage's lag per partition replaces its last note and is bounded",
          "[unit][activity]") {
  Activity a;
  CHECK(a.partitions().empty());
  a.note_partitions("dist_ingest", {{"t", 0, 10, 15, 5}, {"t", 1, 3, 3, 0}}, 2);
  a.note_partitions("store_ingest", {{"s", 0, -1, 7, 7}}, 1);
  auto p = a.partitions();
  REQUIRE(p.size() == 2);
  CHECK(p[0].stage == "dist_ingest");
  REQUIRE(p[0].partitions.size() == 2);
  CHECK(p[0].partitions[0].lag == 5);
  CHECK(p[0].partitions[0].committed == 10);
  CHECK(p[0].partitions[0].high_watermark == 15);
  CHECK(p[1].partitions[0].committed == -1);

  std::vector<PartitionLag> many;
  for (int i = 0; i < 1000; ++i) many.push_back({"t", i, 0, 1, 1});
  a.note_partitions("dist_ingest", many, 1000);
  p = a.partitions();
  REQUIRE(p.size() == 2);
  CHECK(p[0].partitions.size() == kMaxPartitionLags);
  CHECK(p[0].assigned == 1000);
  CHECK(p[1].stage == "store_ingest");
}
