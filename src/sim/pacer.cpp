#include "sim/pacer.hpp"

#include <algorithm>
#include <cmath>

namespace pemx::sim {

Pacer::Pacer(double rate, Clock::time_point start, std::chrono::milliseconds max_backlog)
    : rate_(rate), start_(start), max_backlog_(max_backlog) {}

std::uint64_t Pacer::due(Clock::time_point now) const {
  if (unlimited()) return kUnlimited;
  if (now < start_) return base_;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  // +1: the first event is due at the start itself. The epsilon absorbs rounding, so that
  // event n is due at when(n) exactly.
  return base_ + static_cast<std::uint64_t>(std::floor(elapsed * rate_ + 1e-6)) + 1;
}

Pacer::Clock::time_point Pacer::when(std::uint64_t n) const {
  if (unlimited() || n <= base_) return start_;
  auto offset = std::chrono::duration<double>(static_cast<double>(n - base_) / rate_);
  return start_ + std::chrono::ceil<Clock::duration>(offset);
}

bool Pacer::limit_backlog(Clock::time_point now, std::uint64_t sent) {
  if (unlimited()) return false;
  std::uint64_t owed = due(now) - std::min(due(now), sent);
  double allowed = std::max(1.0, rate_ * std::chrono::duration<double>(max_backlog_).count());
  if (static_cast<double>(owed) <= allowed) return false;
  start_ = now;
  base_ = sent;
  return true;
}

}  // namespace pemx::sim
