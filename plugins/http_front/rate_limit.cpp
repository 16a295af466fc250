#include "http_front/rate_limit.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

namespace pemx::http_front {

std::int64_t TokenBucket::take(std::int64_t now_ns, const RateSpec& spec) {
  if (!spec.enabled()) return 0;
  const double burst = std::max(spec.burst, 1.0);
  if (!started_) {
    started_ = true;
    tokens_ = burst;
  } else if (now_ns > last_ns_) {
    tokens_ = std::min(burst, tokens_ + static_cast<double>(now_ns - last_ns_) * 1e-9 *
                                            spec.per_second);
  }
  last_ns_ = std::max(last_ns_, now_ns);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return 0;
  }
  const double wait = (1.0 - tokens_) / spec.per_second * 1e9;
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait)));
}

bool TokenBucket::full(std::int64_t now_ns, const RateSpec& spec) const {
  if (!started_ || !spec.enabled()) return true;
  const double burst = std::max(spec.burst, 1.0);
  const double elapsed = now_ns > last_ns_ ? static_cast<double>(now_ns - last_ns_) * 1e-9 : 0;
  return tokens_ + elapsed * spec.per_second >= burst;
}

PeerAddress rate_key(const PeerAddress& address) {
  static constexpr std::array<std::uint8_t, 12> kV4Mapped = {0, 0, 0, 0, 0, 0,
                                                             0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kV4Mapped.begin(), kV4Mapped.end(), address.begin())) return address;
  PeerAddress key = address;
  std::fill(key.begin() + 8, key.end(), std::uint8_t{0});
  return key;
}

std::int64_t retry_after_seconds(std::int64_t wait_ns) {
  constexpr std::int64_t kSecond = 1'000'000'000;
  return std::max<std::int64_t>(1, (wait_ns + kSecond - 1) / kSecond);
}

AddressTable::AddressTable(std::size_t capacity)
    : entries_(std::max<std::size_t>(capacity, 1)), seed_(std::random_device{}()) {
  std::size_t slots = 2;
  while (slots < entries_.size() * 2) slots *= 2;
  slots_.assign(slots, kNone);
  mask_ = slots - 1;
  seed_ = (seed_ << 32) ^ std::random_device{}();
}

std::size_t AddressTable::home(const PeerAddress& a) const {
  // Seeded, so that a client choosing its addresses cannot aim them at one run of slots.
  std::uint64_t lo = 0;
  std::uint64_t hi = 0;
  std::memcpy(&lo, a.data(), 8);
  std::memcpy(&hi, a.data() + 8, 8);
  std::uint64_t h = seed_ ^ lo;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h ^= hi;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  h ^= h >> 31;
  return static_cast<std::size_t>(h) & mask_;
}

std::uint32_t AddressTable::find_slot(const PeerAddress& address) const {
  for (std::size_t s = home(address);; s = (s + 1) & mask_) {
    const std::uint32_t e = slots_[s];
    if (e == kNone) return kNone;
    if (entries_[e].address == address) return static_cast<std::uint32_t>(s);
  }
}

bool AddressTable::contains(const PeerAddress& address) const {
  return find_slot(address) != kNone;
}

void AddressTable::unlink(std::uint32_t e) {
  auto& n = entries_[e];
  if (n.prev != kNone) entries_[n.prev].next = n.next; else head_ = n.next;
  if (n.next != kNone) entries_[n.next].prev = n.prev; else tail_ = n.prev;
  n.prev = n.next = kNone;
}

void AddressTable::push_front(std::uint32_t e) {
  entries_[e].prev = kNone;
  entries_[e].next = head_;
  if (head_ != kNone) entries_[head_].prev = e;
  head_ = e;
  if (tail_ == kNone) tail_ = e;
}

// Backward-shift deletion: later entries of the same run move up, so that lookups never need
// tombstones and the table never degrades.
void AddressTable::erase_slot(std::uint32_t slot) {
  std::size_t hole = slot;
  for (std::size_t s = (hole + 1) & mask_; slots_[s] != kNone; s = (s + 1) & mask_) {
    const std::size_t h = home(entries_[slots_[s]].address);
    // May the entry at s move to the hole? Only if its home is not within (hole, s].
    const bool between = hole <= s ? (h > hole && h <= s) : (h > hole || h <= s);
    if (!between) {
      slots_[hole] = slots_[s];
      hole = s;
    }
  }
  slots_[hole] = kNone;
}

std::array<TokenBucket, kRateRoutes>& AddressTable::find_or_insert(const PeerAddress& address,
                                                                   std::int64_t now_ns,
                                                                   const RouteSpecs& specs) {
  if (const auto slot = find_slot(address); slot != kNone) {
    const std::uint32_t e = slots_[slot];
    if (head_ != e) {
      unlink(e);
      push_front(e);
    }
    return entries_[e].buckets;
  }
  std::uint32_t e;
  if (size_ < entries_.size()) {
    e = static_cast<std::uint32_t>(size_++);
  } else {
    // The least recently used makes room, if forgetting it loses nothing: else a client
    // rotating through more addresses than the table holds would get a fresh burst each time.
    const auto& oldest = entries_[tail_].buckets;
    for (std::size_t r = 0; r < kRateRoutes; ++r) {
      if (!oldest[r].full(now_ns, specs[r])) {
        ++overflows_;
        return overflow_;
      }
    }
    e = tail_;
    erase_slot(find_slot(entries_[e].address));
    unlink(e);
    ++evictions_;
  }
  entries_[e].address = address;
  entries_[e].buckets = {};
  std::size_t s = home(address);
  while (slots_[s] != kNone) s = (s + 1) & mask_;
  slots_[s] = e;
  push_front(e);
  return entries_[e].buckets;
}

}  // namespace pemx::http_front
