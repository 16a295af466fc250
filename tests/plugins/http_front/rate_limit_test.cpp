// The rate limiter's parts (rate_limit.hpp) with an injected clock: the token bucket, the
// Retry-After rounding, and the fixed-size address table: least-recently-used eviction of
// refilled addresses, the overflow bucket, IPv6 keyed per /64.
#include "http_front/rate_limit.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace pemx::http_front;

namespace {
constexpr std::int64_t kSecond = 1'000'000'000;

const RouteSpecs kNoLimits{};  // every bucket counts as full: the table evicts as plain LRU

PeerAddress address(std::uint32_t n) {
  PeerAddress a{};
  a[10] = a[11] = 0xff;  // IPv4-mapped
  a[12] = static_cast<std::uint8_t>(n >> 24);
  a[13] = static_cast<std::uint8_t>(n >> 16);
  a[14] = static_cast<std::uint8_t>(n >> 8);
  a[15] = static_cast<std::uint8_t>(n);
  return a;
}
}  // namespace

TEST_CASE("a token bucket allows its burst, then its rate", "[unit][http][rate]") {
  const RateSpec spec{2, 3};  // 2 a second, bursts of 3
  TokenBucket b;
  const std::int64_t t0 = 1000 * kSecond;
  CHECK(b.take(t0, spec) == 0);
  CHECK(b.take(t0, spec) == 0);
  CHECK(b.take(t0, spec) == 0);
  const auto wait = b.take(t0, spec);
  CHECK(wait == kSecond / 2);  // one token every half second
  CHECK(b.take(t0 + kSecond / 4, spec) > 0);
  CHECK(b.take(t0 + kSecond / 2, spec) == 0);
  CHECK(b.take(t0 + kSecond / 2, spec) > 0);
  // A long pause refills to the burst, not beyond.
  const std::int64_t t1 = t0 + 100 * kSecond;
  CHECK(b.take(t1, spec) == 0);
  CHECK(b.take(t1, spec) == 0);
  CHECK(b.take(t1, spec) == 0);
  CHECK(b.take(t1, spec) > 0);
  // A clock that goes back does not refill.
  CHECK(b.take(t1 - kSecond, spec) > 0);
}

TEST_CASE("a disabled limit always allows", "[unit][http][rate]") {
  TokenBucket b;
  for (int i = 0; i < 100; ++i) CHECK(b.take(0, RateSpec{}) == 0);
}

TEST_CASE("Retry-After is whole seconds, rounded up, at least 1", "[unit][http][rate]") {
  CHECK(retry_after_seconds(1) == 1);
  CHECK(retry_after_seconds(kSecond) == 1);
  CHECK(retry_after_seconds(kSecond + 1) == 2);
  CHECK(retry_after_seconds(0) == 1);
  // A slow rate: 1 request a minute after a burst of 1.
  TokenBucket b;
  const RateSpec slow{1.0 / 60, 1};
  CHECK(b.take(0, slow) == 0);
  CHECK(retry_after_seconds(b.take(0, slow)) == 60);
}

TEST_CASE("the address table keeps each address's buckets", "[unit][http][rate]") {
  AddressTable t(4);
  const RateSpec spec{1, 1};
  CHECK(t.find_or_insert(address(1), 0, kNoLimits)[0].take(0, spec) == 0);
  CHECK(t.find_or_insert(address(1), 0, kNoLimits)[0].take(0, spec) > 0);   // same bucket
  CHECK(t.find_or_insert(address(1), 0, kNoLimits)[1].take(0, spec) == 0);  // the other route's own
  CHECK(t.find_or_insert(address(2), 0, kNoLimits)[0].take(0, spec) == 0);  // another address
  CHECK(t.size() == 2);
}

TEST_CASE("the address table never grows: the least recently used address goes",
          "[unit][http][rate]") {
  AddressTable t(8);
  for (std::uint32_t i = 0; i < 8; ++i) t.find_or_insert(address(i), 0, kNoLimits);
  t.find_or_insert(address(0), 0, kNoLimits);  // now the most recent; 1 is the least recent
  t.find_or_insert(address(100), 0, kNoLimits);
  CHECK(t.size() == 8);
  CHECK(t.contains(address(0)));
  CHECK_FALSE(t.contains(address(1)));
  CHECK(t.contains(address(100)));
  CHECK(t.evictions() == 1);
  // A flood of addresses: the size stays at the capacity and every lookup still finds the
  // most recent ones (the backward-shift deletion keeps the probe runs intact).
  for (std::uint32_t i = 1000; i < 101000; ++i) {
    t.find_or_insert(address(i), 0, kNoLimits);
    REQUIRE(t.size() == 8);
  }
  for (std::uint32_t i = 100992; i < 101000; ++i) CHECK(t.contains(address(i)));
  CHECK_FALSE(t.contains(address(100991)));
  CHECK(t.capacity() == 8);
}

TEST_CASE("the address table's lookups stay right under churn", "[unit][http][rate]") {
  // Against a model: a set of the last `capacity` distinct addresses used.
  constexpr std::size_t kCap = 64;
  AddressTable t(kCap);
  std::vector<std::uint32_t> recent;  // most recent last
  std::uint64_t x = 12345;
  for (int step = 0; step < 20000; ++step) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const std::uint32_t a = static_cast<std::uint32_t>((x >> 33) % 200);
    t.find_or_insert(address(a), 0, kNoLimits);
    std::erase(recent, a);
    recent.push_back(a);
    if (recent.size() > kCap) recent.erase(recent.begin());
  }
  const std::set<std::uint32_t> kept(recent.begin(), recent.end());
  for (std::uint32_t a = 0; a < 200; ++a) CHECK(t.contains(address(a)) == (kept.count(a) == 1));
}

TEST_CASE("rotating through one address more than the table holds gains nothing",
          "[unit][http][rate]") {
  // max_addresses = 16 and 17 addresses taking turns, all at once (no refill): each address
  // gets its burst at most once, and the 17th shares the overflow bucket with any later one.
  constexpr std::size_t kCap = 16;
  const RateSpec spec{1, 5};
  RouteSpecs specs{};
  specs[0] = spec;
  AddressTable t(kCap);
  int allowed = 0;
  for (int round = 0; round < 100; ++round) {
    for (std::uint32_t a = 0; a <= kCap; ++a) {
      if (t.find_or_insert(address(a), 0, specs)[0].take(0, spec) == 0) ++allowed;
    }
  }
  CHECK(allowed <= static_cast<int>((kCap + 1) * 5));
  CHECK(allowed >= static_cast<int>(kCap * 5));
  CHECK(t.overflows() > 0);
  CHECK(t.size() == kCap);
  // So are a thousand addresses: the overflow bucket is one bucket.
  int more = 0;
  for (std::uint32_t a = 1000; a < 2000; ++a) {
    if (t.find_or_insert(address(a), 0, specs)[0].take(0, spec) == 0) ++more;
  }
  CHECK(more == 0);
  // Once the least recently used address has refilled (5 s at 1/s), a new address takes its
  // place with a bucket of its own.
  const std::int64_t later = 6 * kSecond;
  CHECK(t.find_or_insert(address(5000), later, specs)[0].take(later, spec) == 0);
  CHECK(t.contains(address(5000)));
  CHECK(t.evictions() == 1);
}

TEST_CASE("a token bucket is full when new or refilled", "[unit][http][rate]") {
  const RateSpec spec{2, 4};
  TokenBucket b;
  CHECK(b.full(0, spec));
  CHECK(b.take(0, spec) == 0);
  CHECK_FALSE(b.full(0, spec));
  CHECK_FALSE(b.full(kSecond / 4, spec));
  CHECK(b.full(kSecond / 2, spec));  // one token back at 2/s
  CHECK(b.full(0, RateSpec{}));      // no limit: nothing to lose
}

TEST_CASE("rate keys: IPv4 (and IPv4-mapped) whole, IPv6 per /64", "[unit][http][rate]") {
  CHECK(rate_key(address(0x0a000001)) == address(0x0a000001));
  CHECK(rate_key(address(0x0a000001)) != rate_key(address(0x0a000002)));
  PeerAddress v6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4};
  PeerAddress same64 = v6;
  same64[15] = 99;
  same64[8] = 7;
  PeerAddress other64 = v6;
  other64[7] = 2;
  CHECK(rate_key(v6) == rate_key(same64));
  CHECK(rate_key(v6) != rate_key(other64));
  const PeerAddress key = rate_key(v6);
  for (std::size_t i = 8; i < 16; ++i) CHECK(key[i] == 0);
  for (std::size_t i = 0; i < 8; ++i) CHECK(key[i] == v6[i]);
  // A whole /64 rotating its interface ids shares one bucket.
  AddressTable t(16);
  const RateSpec spec{1, 3};
  RouteSpecs specs{};
  specs[0] = spec;
  int allowed = 0;
  for (std::uint8_t i = 0; i < 50; ++i) {
    PeerAddress a = v6;
    a[15] = i;
    if (t.find_or_insert(rate_key(a), 0, specs)[0].take(0, spec) == 0) ++allowed;
  }
  CHECK(allowed == 3);
  CHECK(t.size() == 1);
}
