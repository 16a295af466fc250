// ReloadRunner (core/reload_runner.hpp): the supervisor's reloads on their own thread, one at a
// time, a request during a running reload coalesced into one more, stop() dropping a waiting
// request. The reload here is a gate the test opens, so that every step is deterministic.
#include "core/reload_runner.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace pemx {
namespace {

using Requested = ReloadRunner::Requested;

// Each run waits until the test lets it finish; counts runs started and finished.
struct Gate {
  std::mutex mutex;
  std::condition_variable changed;
  int started = 0;
  int finished = 0;
  int allowed = 0;  // runs allowed to finish

  void run() {
    std::unique_lock<std::mutex> lock(mutex);
    ++started;
    changed.notify_all();
    changed.wait(lock, [&] { return finished < allowed; });
    ++finished;
    changed.notify_all();
  }
  void allow_one() {
    std::lock_guard<std::mutex> lock(mutex);
    ++allowed;
    changed.notify_all();
  }
  // Waits (a generous bound) until `n` runs started / finished.
  bool wait_started(int n) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(30), [&] { return started >= n; });
  }
  bool wait_finished(int n) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(30), [&] { return finished >= n; });
  }
  int runs() {
    std::lock_guard<std::mutex> lock(mutex);
    return started;
  }
};

ThreadOwner owner() { return {"supervisor", Logger(), nullptr}; }

// Polls (a generous bound) until the runner has nothing running or waiting.
bool wait_idle(const ReloadRunner& runner) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!runner.idle()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST_CASE("requests during a running reload are coalesced into one more reload",
          "[unit][reload]") {
  Gate gate;
  ReloadRunner runner(owner(), [&] { gate.run(); });
  CHECK(runner.request() == Requested::kStarts);
  REQUIRE(gate.wait_started(1));
  // Three SIGHUPs while it runs: one more reload, not three.
  CHECK(runner.request() == Requested::kCoalesced);
  CHECK(runner.request() == Requested::kCoalesced);
  CHECK(runner.request() == Requested::kCoalesced);
  gate.allow_one();
  REQUIRE(gate.wait_started(2));
  gate.allow_one();
  REQUIRE(gate.wait_finished(2));
  // Nothing runs or waits now (a third reload would start and wait at the gate): a request
  // starts a reload of its own.
  REQUIRE(wait_idle(runner));
  CHECK(gate.runs() == 2);
  CHECK(runner.request() == Requested::kStarts);
  REQUIRE(gate.wait_started(3));
  gate.allow_one();
  REQUIRE(gate.wait_finished(3));
  runner.stop();
  CHECK(gate.runs() == 3);
  CHECK(runner.request() == Requested::kStopped);
}

TEST_CASE("stop() waits for the running reload and drops the waiting one", "[unit][reload]") {
  Gate gate;
  ReloadRunner runner(owner(), [&] { gate.run(); });
  CHECK(runner.request() == Requested::kStarts);
  REQUIRE(gate.wait_started(1));
  CHECK(runner.request() == Requested::kCoalesced);
  std::thread stopper([&] { runner.stop(); });
  // Once stop() has begun, requests are refused; the running reload still holds it.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (runner.request() != Requested::kStopped && std::chrono::steady_clock::now() < until) {
    std::this_thread::yield();
  }
  CHECK(runner.request() == Requested::kStopped);
  gate.allow_one();
  stopper.join();
  CHECK(gate.runs() == 1);
  runner.stop();  // idempotent
}

TEST_CASE("a reload that throws is reported to the owner, and the runner goes on",
          "[unit][reload]") {
  std::mutex mutex;
  std::condition_variable changed;
  std::string reported;
  int runs = 0;
  ReloadRunner runner({"supervisor", Logger(),
                       [&](const std::string& reason) {
                         std::lock_guard<std::mutex> lock(mutex);
                         reported = reason;
                         changed.notify_all();
                       }},
                      [&] {
                        {
                          std::lock_guard<std::mutex> lock(mutex);
                          ++runs;
                          changed.notify_all();
                        }
                        throw std::runtime_error("broken loader");
                      });
  runner.request();
  std::unique_lock<std::mutex> lock(mutex);
  REQUIRE(changed.wait_for(lock, std::chrono::seconds(30), [&] { return !reported.empty(); }));
  CHECK(reported.find("broken loader") != std::string::npos);
  lock.unlock();
  runner.request();
  lock.lock();
  REQUIRE(changed.wait_for(lock, std::chrono::seconds(30), [&] { return runs == 2; }));
}

}  // namespace
}  // namespace pemx
