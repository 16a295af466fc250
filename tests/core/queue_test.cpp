// BoundedQueue (include/pemx/queue.hpp): capacity, FIFO, close semantics, blocking variants
// with deadline and stop token, and an SPSC stress run.
#include "pemx/queue.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <latch>
#include <memory>
#include <thread>

namespace pemx {
namespace {

using namespace std::chrono_literals;
using IntQueue = BoundedQueue<int>;

// Far enough that reaching it means the wake-up under test never came.
constexpr auto kLongWait = 30s;
// A generous bound for "promptly" on a loaded 2-core machine, still far below kLongWait.
constexpr auto kPromptly = 5s;

std::unique_ptr<int> item(int v) { return std::make_unique<int>(v); }

bool push_value(IntQueue& q, int v) {
  auto p = item(v);
  return q.try_push(p);
}

TEST_CASE("a new queue is empty and open", "[unit][queue]") {
  IntQueue q("events", 8);
  CHECK(q.name() == "events");
  CHECK(q.capacity() == 8);
  CHECK(q.depth() == 0);
  CHECK_FALSE(q.closed());
  CHECK(q.try_pop() == nullptr);
}

TEST_CASE("try_push accepts exactly capacity items, then refuses", "[unit][queue]") {
  IntQueue q("q", 4);
  for (int i = 0; i < 4; ++i) REQUIRE(push_value(q, i));
  CHECK(q.depth() == 4);

  auto extra = item(99);
  CHECK_FALSE(q.try_push(extra));
  REQUIRE(extra != nullptr);  // a refused item stays with the caller
  CHECK(*extra == 99);
  CHECK(q.depth() == 4);

  REQUIRE(q.try_pop() != nullptr);
  CHECK(q.try_push(extra));  // room again
  CHECK(extra == nullptr);   // moved in
  CHECK(q.depth() == 4);
}

TEST_CASE("items come out in the order they went in", "[unit][queue]") {
  IntQueue q("q", 16);
  for (int round = 0; round < 3; ++round) {  // wraps around the ring
    for (int i = 0; i < 10; ++i) REQUIRE(push_value(q, round * 100 + i));
    for (int i = 0; i < 10; ++i) {
      auto p = q.try_pop();
      REQUIRE(p != nullptr);
      CHECK(*p == round * 100 + i);
    }
    CHECK(q.try_pop() == nullptr);
  }
  CHECK(q.pushes() == 30);
  CHECK(q.pops() == 30);
}

TEST_CASE("pop on a closed, empty queue answers kClosed at once", "[unit][queue]") {
  IntQueue q("q", 4);
  q.close();
  CHECK(q.closed());
  std::unique_ptr<int> out;
  auto start = Clock::now();
  CHECK(q.pop(out, Clock::now() + kLongWait) == QueueStatus::kClosed);
  CHECK(Clock::now() - start < kPromptly);
  CHECK(out == nullptr);
}

TEST_CASE("items pushed before close still pop, then kClosed", "[unit][queue]") {
  IntQueue q("q", 4);
  REQUIRE(push_value(q, 1));
  REQUIRE(push_value(q, 2));
  q.close();
  q.close();  // idempotent

  std::unique_ptr<int> out;
  REQUIRE(q.pop(out, Clock::now() + kLongWait) == QueueStatus::kOk);
  CHECK(*out == 1);
  CHECK(*q.try_pop() == 2);
  CHECK(q.pop(out, Clock::now() + kLongWait) == QueueStatus::kClosed);
}

TEST_CASE("push after close fails and keeps the item", "[unit][queue]") {
  IntQueue q("q", 4);
  q.close();
  auto p = item(7);
  CHECK_FALSE(q.try_push(p));
  CHECK(q.push(p, Clock::now() + kLongWait) == QueueStatus::kClosed);
  REQUIRE(p != nullptr);
  CHECK(*p == 7);
  CHECK(q.pushes() == 0);
  CHECK(q.depth() == 0);
}

TEST_CASE("a blocking pop on an empty queue times out at its deadline", "[unit][queue]") {
  IntQueue q("q", 4);
  std::unique_ptr<int> out;
  auto start = Clock::now();
  auto deadline = start + 120ms;
  CHECK(q.pop(out, deadline) == QueueStatus::kTimeout);
  CHECK(Clock::now() >= deadline);
  CHECK(Clock::now() - start < kPromptly);
  CHECK(out == nullptr);

  // A deadline already passed answers at once.
  CHECK(q.pop(out, Clock::now() - 1s) == QueueStatus::kTimeout);
}

TEST_CASE("a blocking push on a full queue times out at its deadline", "[unit][queue]") {
  IntQueue q("q", 2);
  REQUIRE(push_value(q, 1));
  REQUIRE(push_value(q, 2));
  auto p = item(3);
  auto deadline = Clock::now() + 120ms;
  CHECK(q.push(p, deadline) == QueueStatus::kTimeout);
  CHECK(Clock::now() >= deadline);
  REQUIRE(p != nullptr);  // not dropped: still the caller's
  CHECK(q.depth() == 2);
}

TEST_CASE("a blocked pop wakes when another thread pushes", "[unit][queue]") {
  IntQueue q("q", 4);
  std::latch popping(1);
  std::jthread producer([&] {
    popping.wait();
    auto p = item(42);
    q.push(p, Clock::now() + kLongWait);
  });

  std::unique_ptr<int> out;
  auto start = Clock::now();
  popping.count_down();
  REQUIRE(q.pop(out, start + kLongWait) == QueueStatus::kOk);
  CHECK(Clock::now() - start < kPromptly);
  CHECK(*out == 42);
}

TEST_CASE("a blocked push wakes when another thread pops", "[unit][queue]") {
  IntQueue q("q", 1);
  REQUIRE(push_value(q, 1));
  std::latch pushing(1);
  std::jthread consumer([&] {
    pushing.wait();
    std::unique_ptr<int> out;
    q.pop(out, Clock::now() + kLongWait);
  });

  auto p = item(2);
  auto start = Clock::now();
  pushing.count_down();
  REQUIRE(q.push(p, start + kLongWait) == QueueStatus::kOk);
  CHECK(Clock::now() - start < kPromptly);
  consumer.join();
  CHECK(*q.try_pop() == 2);
}

TEST_CASE("close wakes a blocked pop with kClosed", "[unit][queue]") {
  IntQueue q("q", 4);
  std::latch popping(1);
  std::jthread closer([&] {
    popping.wait();
    q.close();
  });

  std::unique_ptr<int> out;
  auto start = Clock::now();
  popping.count_down();
  CHECK(q.pop(out, start + kLongWait) == QueueStatus::kClosed);
  CHECK(Clock::now() - start < kPromptly);
}

TEST_CASE("close wakes a blocked push with kClosed", "[unit][queue]") {
  IntQueue q("q", 1);
  REQUIRE(push_value(q, 1));
  std::latch pushing(1);
  std::jthread closer([&] {
    pushing.wait();
    q.close();
  });

  auto p = item(2);
  auto start = Clock::now();
  pushing.count_down();
  CHECK(q.push(p, start + kLongWait) == QueueStatus::kClosed);
  CHECK(Clock::now() - start < kPromptly);
  CHECK(p != nullptr);
}

TEST_CASE("a stop request wakes a blocked pop", "[unit][queue]") {
  IntQueue q("q", 4);
  std::stop_source stop;
  std::latch popping(1);
  std::jthread stopper([&] {
    popping.wait();
    stop.request_stop();
  });

  std::unique_ptr<int> out;
  auto start = Clock::now();
  popping.count_down();
  CHECK(q.pop(out, start + kLongWait, stop.get_token()) == QueueStatus::kTimeout);
  CHECK(Clock::now() - start < kPromptly);
  CHECK(out == nullptr);
}

TEST_CASE("a stop request does not hide queued items", "[unit][queue]") {
  IntQueue q("q", 4);
  REQUIRE(push_value(q, 5));
  std::stop_source stop;
  stop.request_stop();
  std::unique_ptr<int> out;
  REQUIRE(q.pop(out, Clock::now() + kLongWait, stop.get_token()) == QueueStatus::kOk);
  CHECK(*out == 5);
  CHECK(q.pop(out, Clock::now() + kLongWait, stop.get_token()) == QueueStatus::kTimeout);
}

TEST_CASE("SPSC stress: one producer, one consumer, nothing lost or reordered",
          "[unit][queue]") {
  constexpr std::uint64_t kItems = 1'000'000;
  BoundedQueue<std::uint64_t> q("stress", 1024);
  const auto deadline = Clock::now() + 120s;  // bounds the whole run

  std::jthread producer([&] {
    for (std::uint64_t i = 0; i < kItems; ++i) {
      auto p = std::make_unique<std::uint64_t>(i);
      if (q.push(p, deadline) != QueueStatus::kOk) break;
    }
    q.close();
  });

  std::uint64_t received = 0;
  std::uint64_t out_of_order = 0;
  std::unique_ptr<std::uint64_t> out;
  while (received <= kItems) {
    auto status = q.pop(out, deadline);
    if (status != QueueStatus::kOk) {
      CHECK(status == QueueStatus::kClosed);
      break;
    }
    if (*out != received) ++out_of_order;
    ++received;
  }
  producer.join();

  CHECK(received == kItems);
  CHECK(out_of_order == 0);
  CHECK(q.pushes() == kItems);
  CHECK(q.pops() == kItems);
  CHECK(q.depth() == 0);
}

}  // namespace
}  // namespace pemx
