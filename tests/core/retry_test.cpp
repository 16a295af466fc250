// Backoff (exponential growth, cap, jitter, reset) and retry_call (when it stops).
#include "core/retry.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <string>
#include <vector>

namespace pemx {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// Waits of at most a few milliseconds keep retry_call tests fast.
RetryPolicy tiny_policy(int max_attempts) { return {1ms, 4ms, 2.0, max_attempts}; }

// d/2 <= wait <= d, in whole milliseconds.
void check_within(milliseconds wait, double d) {
  CAPTURE(wait.count(), d);
  CHECK(static_cast<double>(wait.count()) >= d / 2);
  CHECK(static_cast<double>(wait.count()) <= d);
}

TEST_CASE("backoff grows by the multiplier, within [d/2, d]", "[unit][retry]") {
  for (std::uint64_t seed : {1u, 2u, 3u, 42u}) {
    Backoff backoff({100ms, 100s, 2.0, 0}, seed);
    double d = 100;
    for (int n = 0; n < 8; ++n, d *= 2) {
      check_within(backoff.next(), d);
      CHECK(backoff.attempts() == n + 1);
    }
  }
}

TEST_CASE("backoff is capped at max", "[unit][retry]") {
  Backoff backoff({100ms, 1000ms, 2.0, 0}, 7);
  for (int n = 0; n < 4; ++n) backoff.next();  // 100, 200, 400, 800
  for (int n = 0; n < 100; ++n) check_within(backoff.next(), 1000);  // no overflow either
}

TEST_CASE("backoff jitter spreads the waits", "[unit][retry]") {
  Backoff backoff({1000ms, 1000ms, 1.0, 0}, 11);  // d is 1000 every time
  std::set<long> seen;
  long lowest = 1000, highest = 0;
  for (int n = 0; n < 200; ++n) {
    long wait = backoff.next().count();
    seen.insert(wait);
    lowest = std::min(lowest, wait);
    highest = std::max(highest, wait);
  }
  CHECK(seen.size() > 100);  // not a constant
  CHECK(lowest >= 500);
  CHECK(lowest < 600);  // uses the lower part of the range...
  CHECK(highest > 900);  // ...and the upper part
  CHECK(highest <= 1000);
}

TEST_CASE("backoff with the same seed repeats its waits", "[unit][retry]") {
  Backoff a({100ms, 10s, 2.0, 0}, 99);
  Backoff b({100ms, 10s, 2.0, 0}, 99);
  for (int n = 0; n < 10; ++n) CHECK(a.next() == b.next());
}

TEST_CASE("reset starts the growth again", "[unit][retry]") {
  Backoff backoff({100ms, 100s, 2.0, 0}, 5);
  for (int n = 0; n < 6; ++n) backoff.next();
  backoff.reset();
  CHECK(backoff.attempts() == 0);
  check_within(backoff.next(), 100);
  check_within(backoff.next(), 200);
}

TEST_CASE("backoff never waits less than d/2, even for tiny durations",
          "[unit][retry]") {
  // d = 1ms: [0.5ms, 1ms] holds only 1ms, yet truncating the jittered value to whole
  // milliseconds answers 0ms, a busy retry loop.
  Backoff backoff({1ms, 1ms, 1.0, 0}, 3);
  for (int n = 0; n < 20; ++n) check_within(backoff.next(), 1);
  Backoff odd({3ms, 3ms, 1.0, 0}, 3);  // [1.5ms, 3ms]: 1ms is below it
  for (int n = 0; n < 50; ++n) check_within(odd.next(), 3);
}

TEST_CASE("retry_call stops at the first success", "[unit][retry]") {
  int calls = 0;
  auto error = retry_call(tiny_policy(5), Logger{}, "op", [&] {
    ++calls;
    return Attempt::success();
  });
  CHECK_FALSE(error);
  CHECK(calls == 1);
}

TEST_CASE("retry_call retries until success", "[unit][retry]") {
  int calls = 0;
  auto error = retry_call(tiny_policy(5), Logger{}, "op", [&] {
    return ++calls < 3 ? Attempt::failure("transient") : Attempt::success();
  });
  CHECK_FALSE(error);
  CHECK(calls == 3);
}

TEST_CASE("retry_call stops at a non-retriable error", "[unit][retry]") {
  int calls = 0;
  auto error = retry_call(tiny_policy(5), Logger{}, "op", [&] {
    ++calls;
    return Attempt::failure("unknown topic", false);
  });
  CHECK(error == "unknown topic");
  CHECK(calls == 1);
}

TEST_CASE("retry_call stops after max_attempts with the last error", "[unit][retry]") {
  int calls = 0;
  auto error = retry_call(tiny_policy(3), Logger{}, "op", [&] {
    ++calls;
    return Attempt::failure("failure " + std::to_string(calls));
  });
  CHECK(error == "failure 3");
  CHECK(calls == 3);
}

TEST_CASE("retry_call stops when give_up says so", "[unit][retry]") {
  int calls = 0;
  auto error = retry_call(
      tiny_policy(0), Logger{}, "op",
      [&] {
        ++calls;
        return Attempt::failure("down");
      },
      [&] { return calls >= 2; });
  CHECK(error == "down");
  CHECK(calls == 2);
}

TEST_CASE("retry_call gives up during a long wait without finishing it", "[unit][retry]") {
  int calls = 0;
  int asked = 0;
  auto start = std::chrono::steady_clock::now();
  auto error = retry_call(
      {10s, 10s, 1.0, 0}, Logger{}, "op",  // would wait at least 5 s before a second try
      [&] {
        ++calls;
        return Attempt::failure("down");
      },
      [&] { return ++asked >= 2; });  // no after the failure, yes during the wait
  CHECK(error == "down");
  CHECK(calls == 1);
  CHECK(std::chrono::steady_clock::now() - start < 4s);
}

}  // namespace
}  // namespace pemx
