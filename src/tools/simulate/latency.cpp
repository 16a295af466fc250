#include "tools/simulate/latency.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace pemx::sim {

int LatencyHistogram::index(std::uint64_t v) {
  if (v < kSub) return static_cast<int>(v);
  int octave = std::bit_width(v) - 1;  // v in [2^octave, 2^(octave+1)), octave >= kSubBits
  int shift = octave - kSubBits;
  int sub = static_cast<int>(v >> shift) - kSub;  // 0..kSub-1
  return (shift + 1) * kSub + sub;
}

std::uint64_t LatencyHistogram::upper_edge(int index) {
  if (index < kSub) return static_cast<std::uint64_t>(index);
  int shift = index / kSub - 1;
  std::uint64_t sub = static_cast<std::uint64_t>(index % kSub);
  std::uint64_t low = (kSub + sub) << shift;
  return low + ((std::uint64_t{1} << shift) - 1);
}

void LatencyHistogram::record(std::chrono::microseconds value) {
  std::uint64_t v = value.count() < 0 ? 0 : static_cast<std::uint64_t>(value.count());
  ++buckets_[static_cast<std::size_t>(index(v))];
  ++count_;
  max_ = std::max(max_, v);
}

std::chrono::microseconds LatencyHistogram::percentile(double q) const {
  if (count_ == 0) return std::chrono::microseconds(0);
  auto rank = static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * count_));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      return std::chrono::microseconds(
          static_cast<std::int64_t>(std::min(upper_edge(static_cast<int>(i)), max_)));
    }
  }
  return max();
}

}  // namespace pemx::sim
