// Pacer (src/sim/pacer.*): when each event is due at a steady rate, and no burst after a stall.
#include "sim/pacer.hpp"

#include <catch2/catch.hpp>

namespace pemx::sim {
namespace {

using namespace std::chrono_literals;
using Clock = Pacer::Clock;

TEST_CASE("at 500/s event n is due at n * 2 ms", "[unit][sim]") {
  const auto t0 = Clock::time_point(100s);
  Pacer p(500, t0);
  CHECK(p.due(t0) == 1);  // the first at once
  CHECK(p.due(t0 + 1999us) == 1);
  CHECK(p.due(t0 + 2ms) == 2);
  CHECK(p.due(t0 + 1s) == 501);
  CHECK(p.due(t0 - 1ms) == 0);
  CHECK(p.when(0) == t0);
  CHECK(p.when(1) - t0 >= 2ms);
  CHECK(p.when(1) - t0 <= 2ms + 1us);
  CHECK(p.when(500) - t0 <= 1s + 1us);
  for (std::uint64_t n : {1u, 7u, 333u, 12345u}) CHECK(p.due(p.when(n)) == n + 1);
}

TEST_CASE("fractional rates pace too", "[unit][sim]") {
  const auto t0 = Clock::time_point(5s);
  Pacer p(0.2, t0);  // the reference mock: one every 5 s
  CHECK(p.due(t0 + 4999ms) == 1);
  CHECK(p.due(t0 + 5s) == 2);
  CHECK(p.when(3) - t0 >= 15s);
  CHECK(p.when(3) - t0 <= 15s + 1us);
}

TEST_CASE("after a stall the schedule restarts instead of bursting", "[unit][sim]") {
  const auto t0 = Clock::time_point(0s);
  Pacer p(1000, t0, 1s);
  CHECK_FALSE(p.limit_backlog(t0 + 900ms, 0));  // 901 owed: within a second's worth
  CHECK(p.limit_backlog(t0 + 5s, 100));         // 4901 owed: too many
  CHECK(p.due(t0 + 5s) == 101);                 // one more now, then 1000/s again
  CHECK(p.due(t0 + 6s) == 1101);
  CHECK(p.when(101) - t0 >= 5s + 1ms);
  CHECK(p.when(101) - t0 <= 5s + 1ms + 1us);
}

TEST_CASE("rate max is never paced", "[unit][sim]") {
  Pacer p(0, Clock::time_point(0s));
  CHECK(p.unlimited());
  CHECK(p.due(Clock::time_point(0s)) == Pacer::kUnlimited);
  CHECK_FALSE(p.limit_backlog(Clock::time_point(10s), 0));
}

}  // namespace
}  // namespace pemx::sim
