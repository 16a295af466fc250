#pragma once
// LatencyHistogram: percentiles in fixed memory. Values (microseconds) fall into log-linear
// buckets: exact below 64 us, then 64 buckets per power of two, so a reported percentile is
// at most 1/64 (1.6 %) above the true value; the maximum is exact. 32 KiB whatever the count.
// Not thread-safe.
#include <array>
#include <chrono>
#include <cstdint>

namespace pemx::sim {

class LatencyHistogram {
 public:
  void record(std::chrono::microseconds value);
  std::uint64_t count() const { return count_; }
  // The q-quantile (0 < q <= 1): the upper edge of the bucket that holds the ceil(q * count)-th
  // smallest value, never above the maximum; 0 when empty.
  std::chrono::microseconds percentile(double q) const;
  std::chrono::microseconds max() const { return std::chrono::microseconds(max_); }

 private:
  static constexpr int kSubBits = 6;  // 64 buckets per power of two
  static constexpr int kSub = 1 << kSubBits;
  static int index(std::uint64_t v);
  static std::uint64_t upper_edge(int index);

  std::array<std::uint64_t, kSub*(64 - kSubBits + 1)> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace pemx::sim
