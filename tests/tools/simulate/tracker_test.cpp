// Tracker (src/tools/simulate/tracker.*): the --watch bookkeeping of arrivals, duplicates,
// unexpected topics, failures, missing events and the memory cap.
#include "tools/simulate/tracker.hpp"

#include <catch2/catch.hpp>

#include <cstdio>

namespace pemx::sim {
namespace {

using namespace std::chrono_literals;
using Clock = Tracker::Clock;
using Topics = std::vector<std::string>;

const Clock::time_point t0 = Clock::time_point(1000s);

std::string id(int n, const char* tag = "aaaaaaaa") {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s-1111-4aaa-8bbb-%012d", tag, n);
  return buf;
}

TEST_CASE("an event is complete once it arrived at every expected topic", "[unit][sim]") {
  Tracker t("aaaaaaaa", 100);
  REQUIRE(t.add(id(1), {"price-US", "storage"}, t0));
  REQUIRE(t.add(id(2), {"country-Sweden", "storage"}, t0));
  CHECK(t.outstanding() == 2);
  t.arrived("storage", id(1), t0 + 5ms);
  CHECK(t.outstanding() == 2);
  t.arrived("price-US", id(1), t0 + 9ms);
  CHECK(t.outstanding() == 1);
  CHECK(t.complete() == 1);
  auto r = t.finish();
  CHECK(r.missing == 1);
  REQUIRE(r.missing_sample.size() == 1);
  CHECK(r.missing_sample[0] == id(2));
  CHECK(r.per_topic["storage"].expected == 2);
  CHECK(r.per_topic["storage"].arrived == 1);
  CHECK(r.per_topic["storage"].missing == 1);
  CHECK(r.per_topic["country-Sweden"].missing == 1);
  CHECK(r.per_topic["price-US"].missing == 0);
  CHECK(t.latency().count() == 2);
  CHECK(t.latency().max() == 9ms);
  CHECK(t.latency().percentile(0.5) >= 5ms);  // within the histogram's 1/64
  CHECK(t.latency().percentile(0.5) <= 5079us);
}

TEST_CASE("duplicates, unexpected topics and other producers' messages are told apart",
          "[unit][sim]") {
  Tracker t("aaaaaaaa", 100);
  t.add(id(1), {"price-US", "storage"}, t0);
  t.add(id(2), {"price-EU", "storage"}, t0);
  t.arrived("storage", id(1), t0);
  t.arrived("storage", id(1), t0);              // again: a duplicate
  t.arrived("price-EU", id(1), t0);             // not where it belongs
  t.arrived("storage", id(7, "bbbbbbbb"), t0);  // another run's event
  t.arrived("storage", "not-a-uuid", t0);
  t.arrived("storage", id(9), t0);  // this run's tag, never added
  auto r = t.finish();
  CHECK(r.duplicates == 1);
  CHECK(r.unexpected == 1);
  CHECK(r.per_topic["storage"].duplicates == 1);
  CHECK(r.per_topic["storage"].untracked == 1);
  CHECK(r.per_topic["price-EU"].unexpected == 1);
  CHECK(r.per_topic["storage"].arrived == 1);
  CHECK(t.foreign() == 2);
  CHECK(r.missing == 2);  // id 1 never reached price-US; id 2 reached nothing
}

TEST_CASE("a failed send is neither expected nor missing", "[unit][sim]") {
  Tracker t("aaaaaaaa", 100);
  t.add(id(1), {"price-US", "storage"}, t0);
  t.add(id(2), {"price-US", "storage"}, t0);
  t.failed(id(2));
  CHECK(t.outstanding() == 1);
  t.arrived("price-US", id(1), t0);
  t.arrived("storage", id(1), t0);
  auto r = t.finish();
  CHECK(r.missing == 0);
  CHECK(r.per_topic["price-US"].expected == 1);
  CHECK(t.outstanding() == 0);
}

TEST_CASE(
    "memory stays within the cap: complete events are forgotten first, then new ones "
    "go untracked",
    "[unit][sim]") {
  Tracker t("aaaaaaaa", 3);
  for (int i = 1; i <= 3; ++i) REQUIRE(t.add(id(i), {"storage"}, t0));
  CHECK_FALSE(t.add(id(4), {"storage"}, t0));  // all three outstanding: no room
  CHECK(t.untracked_sent() == 1);
  t.arrived("storage", id(1), t0);
  CHECK(t.add(id(5), {"storage"}, t0));  // id 1 was complete: forgotten to make room
  CHECK(t.forgotten() == 1);
  t.arrived("storage", id(1), t0);  // a late duplicate of a forgotten event
  t.arrived("storage", id(4), t0);  // an untracked event
  auto r = t.finish();
  CHECK(r.per_topic["storage"].untracked == 2);
  CHECK(r.duplicates == 0);
  CHECK(r.missing == 3);  // 2, 3 and 5
  CHECK(t.tracked() == 4);
}

TEST_CASE("an event id that is not a UUID cannot be tracked", "[unit][sim]") {
  Tracker t("aaaaaaaa", 10);
  CHECK_FALSE(t.add("abc", {"storage"}, t0));
  CHECK_FALSE(t.add(id(1), {}, t0));  // expected nowhere
  CHECK(t.untracked_sent() == 2);
}

}  // namespace
}  // namespace pemx::sim
