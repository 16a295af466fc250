#pragma once
// Pacer: the arithmetic of sending at a steady rate. Event n (0-based) is due at
// start + n / rate; the sender sends whatever is due, then sleeps until the next one is due.
// After a stall (a full producer queue, a slow HTTP answer) it does not burst: once more than
// `max_backlog` of sending is owed, the schedule restarts from now.
// Pure: times are passed in, so tests need no clock. Not thread-safe (one sender).
#include <chrono>
#include <cstdint>
#include <limits>

namespace pemx::sim {

class Pacer {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();

  // rate in events per second; rate <= 0 means as fast as possible.
  Pacer(double rate, Clock::time_point start,
        std::chrono::milliseconds max_backlog = std::chrono::seconds(1));

  bool unlimited() const { return rate_ <= 0; }
  // How many events should have been sent in total by `now` (kUnlimited when unpaced).
  std::uint64_t due(Clock::time_point now) const;
  // When event number `n` (0-based) is due.
  Clock::time_point when(std::uint64_t n) const;
  // Call with the number sent so far before sending: restarts the schedule from `now` when
  // more than max_backlog of sending is owed. True when it did.
  bool limit_backlog(Clock::time_point now, std::uint64_t sent);

 private:
  double rate_;
  Clock::time_point start_;
  std::uint64_t base_ = 0;  // events sent before start_
  std::chrono::milliseconds max_backlog_;
};

}  // namespace pemx::sim
