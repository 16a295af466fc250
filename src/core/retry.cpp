#include "core/retry.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

namespace pemx {

std::chrono::milliseconds Backoff::next() { return delay(attempts_++); }

std::chrono::milliseconds Backoff::delay(int failures) {
  double d = static_cast<double>(policy_.initial.count()) *
             std::pow(policy_.multiplier, std::min(std::max(failures, 0), 30));
  d = std::min(d, static_cast<double>(policy_.max.count()));
  // Whole milliseconds, rounded up, so a tiny delay never becomes a busy loop.
  auto low = static_cast<std::int64_t>(std::ceil(d / 2));
  auto high = std::max(low, static_cast<std::int64_t>(std::ceil(d)));
  return std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(low, high)(rng_));
}

std::optional<std::string> retry_call(const RetryPolicy& policy, const Logger& log,
                                      std::string_view what, const std::function<Attempt()>& op,
                                      const std::function<bool()>& give_up) {
  Backoff backoff(policy);
  for (int attempt = 1;; ++attempt) {
    Attempt a = op();
    if (a.ok) {
      if (attempt > 1) log.info("retry succeeded", {{"op", what}, {"attempt", attempt}});
      return std::nullopt;
    }
    bool last = !a.retriable || (policy.max_attempts > 0 && attempt >= policy.max_attempts) ||
                (give_up && give_up());
    if (last) {
      log.error("giving up", {{"op", what}, {"attempt", attempt}, {"error", a.error}});
      return a.error;
    }
    auto wait = backoff.next();
    log.warn("retrying", {{"op", what},
                          {"attempt", attempt},
                          {"error", a.error},
                          {"retry_in_ms", static_cast<std::int64_t>(wait.count())}});
    auto until = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < until) {
      if (give_up && give_up()) {
        log.error("giving up", {{"op", what}, {"attempt", attempt}, {"error", a.error}});
        return a.error;
      }
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          until - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
    }
  }
}

}  // namespace pemx
