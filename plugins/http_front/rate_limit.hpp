#pragma once
// Rate limits: a token bucket per token name and per client address, per route class ("push":
// POST /event; "read": GET /event and /api/*). Pure logic with an injected clock (the caller
// passes "now" in nanoseconds of a monotonic clock), so the tests need no sleeping.
//
// A request presenting a known token is counted against that token's bucket; any other request
// (no token, or an unknown one) against its peer address's bucket: one bucket update per request.
// The addresses are kept in AddressTable, a fixed-size table (no allocation after construction),
// so a flood of addresses cannot grow it. An address is an IPv4 address, or an IPv6 /64 (one
// host usually holds a whole /64: keyed per /128, it would have 2^64 fresh buckets). When the
// table is full, a new address replaces the least recently seen one only if that one's buckets
// have refilled (forgetting it loses nothing); until then new addresses share one overflow
// bucket per route. So rotating through more addresses than the table holds gains at most one
// more address's limit, where handing each a fresh full bucket would lift the limit altogether.
// Proxies (X-Forwarded-For) are not trusted: behind a proxy every client shares its address.
#include <array>
#include <cstdint>
#include <vector>

namespace pemx::http_front {

// Requests per second and the burst a bucket holds; per_second 0: no limit.
struct RateSpec {
  double per_second = 0;
  double burst = 0;
  bool enabled() const { return per_second > 0; }
};

enum class RateRoute : std::uint8_t { kPush = 0, kRead = 1 };
inline constexpr std::size_t kRateRoutes = 2;

struct RouteLimits {
  RateSpec per_token;
  RateSpec per_address;
};

// One spec per route (RateRoute), e.g. the per-address ones.
using RouteSpecs = std::array<RateSpec, kRateRoutes>;

struct RateLimits {
  std::array<RouteLimits, kRateRoutes> routes;  // by RateRoute
  std::size_t max_addresses = 10000;            // the address table's size
  RouteSpecs per_address() const {
    RouteSpecs specs;
    for (std::size_t r = 0; r < kRateRoutes; ++r) specs[r] = routes[r].per_address;
    return specs;
  }
  bool any_per_address() const {
    for (const auto& r : routes) {
      if (r.per_address.enabled()) return true;
    }
    return false;
  }
};

class TokenBucket {
 public:
  // Takes one request at `now_ns`: 0 when allowed, else the nanoseconds until it would be
  // (the bucket is left as it was). A new bucket starts full.
  std::int64_t take(std::int64_t now_ns, const RateSpec& spec);
  // Whether it holds its whole burst at `now_ns` (a new bucket, or one that has refilled): a
  // fresh bucket would allow exactly as much.
  bool full(std::int64_t now_ns, const RateSpec& spec) const;

 private:
  double tokens_ = 0;
  std::int64_t last_ns_ = 0;
  bool started_ = false;
};

// Retry-After for a wait: whole seconds, rounded up, at least 1.
std::int64_t retry_after_seconds(std::int64_t wait_ns);

// A peer address: IPv4 as its IPv4-mapped IPv6 form.
using PeerAddress = std::array<std::uint8_t, 16>;

// The key a peer address is limited by: an IPv4 (or IPv4-mapped IPv6) address whole, any other
// IPv6 address by its /64 (the last 8 bytes zeroed).
PeerAddress rate_key(const PeerAddress& address);

// A fixed-capacity map from address to one bucket per route: open addressing (linear probing,
// backward-shift deletion) over a slot array twice the capacity, and a least-recently-used list
// through the entries. Thread-compatible: the caller locks.
class AddressTable {
 public:
  explicit AddressTable(std::size_t capacity);
  // The buckets of `address` (a rate_key), marked most recently used. A new address gets
  // fresh buckets; when the table is full, in place of the least recently used address if its
  // buckets are full at `now_ns` under `specs`, else the shared overflow buckets (and the
  // address is not remembered).
  std::array<TokenBucket, kRateRoutes>& find_or_insert(const PeerAddress& address,
                                                       std::int64_t now_ns,
                                                       const RouteSpecs& specs);
  bool contains(const PeerAddress& address) const;
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return entries_.size(); }
  std::uint64_t evictions() const { return evictions_; }
  // Requests of new addresses answered from the overflow buckets.
  std::uint64_t overflows() const { return overflows_; }

 private:
  static constexpr std::uint32_t kNone = 0xffffffffu;
  struct Entry {
    PeerAddress address{};
    std::array<TokenBucket, kRateRoutes> buckets{};
    std::uint32_t prev = kNone;  // towards the most recent
    std::uint32_t next = kNone;  // towards the least recent
  };
  std::size_t home(const PeerAddress& a) const;
  // The slot holding `address`, or kNone.
  std::uint32_t find_slot(const PeerAddress& address) const;
  void unlink(std::uint32_t e);
  void push_front(std::uint32_t e);
  void erase_slot(std::uint32_t slot);

  std::vector<Entry> entries_;
  std::vector<std::uint32_t> slots_;  // entry index, or kNone
  std::size_t mask_ = 0;
  std::uint64_t seed_;
  std::size_t size_ = 0;
  std::uint32_t head_ = kNone;  // most recently used
  std::uint32_t tail_ = kNone;  // least recently used
  std::uint64_t evictions_ = 0;
  std::array<TokenBucket, kRateRoutes> overflow_{};
  std::uint64_t overflows_ = 0;
};

}  // namespace pemx::http_front
