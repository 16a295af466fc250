#pragma once
// The one retry helper for every network call: exponential backoff with full jitter and a
// cap, every attempt logged. Backoff is the arithmetic (also used by the sink to schedule
// asynchronous redeliveries); retry_call is the blocking loop for synchronous calls.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "pemx/log.hpp"

namespace pemx {

struct RetryPolicy {
  std::chrono::milliseconds initial{200};
  std::chrono::milliseconds max{10'000};
  double multiplier = 2.0;
  int max_attempts = 0;  // 0: until given up from outside (deadline, stop)
};

class Backoff {
 public:
  explicit Backoff(RetryPolicy policy, std::uint64_t seed = std::random_device{}())
      : policy_(policy), rng_(seed) {}
  // The wait before the next attempt: uniform in [d/2, d], d = initial * multiplier^n, capped.
  std::chrono::milliseconds next();
  // The wait before attempt n+1 after n failures (0-based), independent of next()'s count.
  std::chrono::milliseconds delay(int failures);
  int attempts() const { return attempts_; }
  void reset() { attempts_ = 0; }

 private:
  RetryPolicy policy_;
  std::mt19937_64 rng_;
  int attempts_ = 0;
};

struct Attempt {
  bool ok = false;
  bool retriable = true;
  std::string error;
  static Attempt success() { return {true, false, {}}; }
  static Attempt failure(std::string e, bool retriable = true) {
    return {false, retriable, std::move(e)};
  }
};

// Runs op until it succeeds, fails non-retriably, runs out of attempts, or give_up() says so.
// nullopt on success, else the last error.
std::optional<std::string> retry_call(const RetryPolicy& policy, const Logger& log,
                                      std::string_view what, const std::function<Attempt()>& op,
                                      const std::function<bool()>& give_up = {});

}  // namespace pemx
