#pragma once
// A stream of input events produced in two phases around a fault (a kill, a signal), so the
// fault lands mid-stream by construction, whatever the machine's speed.
//
// Phase 1 ([0, split)) is produced from a thread, a chunk at a time, while pemx consumes it,
// and never more than `window` messages ahead of `progress()` (what pemx has consumed, read
// from its /metrics: consumed_now): pemx cannot race through phase 1 before the test acts,
// however fast it is, and the stream keeps flowing at pemx's own pace. Phase 2 ([split,
// total)) follows only after release(), which the test calls once its fault has landed. So a
// test that acts once `progress()` reached N, with N + window + chunk < split, acts before
// phase 1 is complete: at most `split` events exist, fewer than the whole stream, and more
// are still to come.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/http_client.hpp"
#include "support/kafka_util.hpp"

namespace pemx::test {

class PhasedProducer {
 public:
  using Messages = std::vector<std::pair<std::string, std::string>>;

  struct Options {
    std::size_t split = 0;   // size of phase 1
    std::size_t chunk = 1000;
    std::size_t window = 0;  // phase 1's lead over progress(); 0: no limit
    std::function<std::int64_t()> progress;
  };

  PhasedProducer(std::string brokers, std::string topic, const Messages& messages, Options o)
      : brokers_(std::move(brokers)), topic_(std::move(topic)), messages_(messages),
        o_(std::move(o)), released_future_(gate_.get_future().share()) {
    done_ = std::async(std::launch::async, [this] { run(); });
  }
  ~PhasedProducer() {
    release();
    if (done_.valid()) done_.wait();
  }
  PhasedProducer(const PhasedProducer&) = delete;
  PhasedProducer& operator=(const PhasedProducer&) = delete;

  std::size_t split() const { return o_.split; }
  std::size_t total() const { return messages_.size(); }
  // Messages acknowledged by the broker so far (a chunk at a time).
  std::size_t produced() const { return produced_.load(); }
  // Ends phase 1's flow control and lets phase 2 go. Idempotent.
  void release() {
    if (!released_.exchange(true)) gate_.set_value();
  }
  // Releases and waits for both phases; a produce failure is rethrown here (fails the test).
  void finish() {
    release();
    done_.get();
  }

 private:
  bool released() const {
    return released_future_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }
  void run() {
    for (std::size_t at = 0; at < o_.split; at += o_.chunk) {
      // Keep within `window` of pemx's progress, until released (pemx may be gone by then).
      while (o_.window > 0 && !released() &&
             static_cast<std::int64_t>(at) - o_.progress() >=
                 static_cast<std::int64_t>(o_.window)) {
        released_future_.wait_for(std::chrono::milliseconds(50));
      }
      produce_range(at, std::min(o_.split, at + o_.chunk));
    }
    released_future_.wait();
    for (std::size_t at = o_.split; at < messages_.size(); at += o_.chunk) {
      produce_range(at, std::min(messages_.size(), at + o_.chunk));
    }
  }
  void produce_range(std::size_t from, std::size_t to) {
    produce(brokers_, topic_,
            Messages(messages_.begin() + static_cast<std::ptrdiff_t>(from),
                     messages_.begin() + static_cast<std::ptrdiff_t>(to)));
    produced_.store(to);
  }

  std::string brokers_;
  std::string topic_;
  const Messages& messages_;
  Options o_;
  std::atomic<std::size_t> produced_{0};
  std::atomic<bool> released_{false};
  std::promise<void> gate_;
  std::shared_future<void> released_future_;
  std::future<void> done_;  // last: its thread uses everything above
};

// What pemx's kafka_ingest stage has consumed so far, from its /metrics on `port` (the first
// such stage of the role); -1 when pemx does not answer. No Catch assertions: safe from a
// PhasedProducer's thread.
inline std::int64_t consumed_now(std::uint16_t port) {
  const std::string series = "pemx_kafka_ingest_consumed_total{";
  auto page = http_get(port, "/metrics");
  if (page.status != 200) return -1;
  auto at = page.body.find(series);
  if (at == std::string::npos) return -1;
  auto value = page.body.find("} ", at);
  if (value == std::string::npos) return -1;
  return std::strtoll(page.body.c_str() + value + 2, nullptr, 10);
}

// Polls consumed_now until it reaches `target` (true) or the timeout passes.
inline bool wait_consumed(std::uint16_t port, std::int64_t target,
                          std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (consumed_now(port) >= target) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace pemx::test
