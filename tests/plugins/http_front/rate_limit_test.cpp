// The rate limiter's parts (rate_limit.hpp) with an injected clock: the token bucket, the
// Retry-After rounding, and the fixed-size address table with its least-recently-used eviction.
#include "http_front/rate_limit.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace pemx::http_front;

namespace {
constexpr std::int64_t kSecond = 1'000'000'000;

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
  CHECK(t.find_or_insert(address(1))[0].take(0, spec) == 0);
  CHECK(t.find_or_insert(address(1))[0].take(0, spec) > 0);   // same bucket
  CHECK(t.find_or_insert(address(1))[1].take(0, spec) == 0);  // the other route's own
  CHECK(t.find_or_insert(address(2))[0].take(0, spec) == 0);  // another address
  CHECK(t.size() == 2);
}

TEST_CASE("the address table never grows: the least recently used address goes",
          "[unit][http][rate]") {
  AddressTable t(8);
  for (std::uint32_t i = 0; i < 8; ++i) t.find_or_insert(address(i));
  t.find_or_insert(address(0));  // now the most recent; 1 is the least recent
  t.find_or_insert(address(100));
  CHECK(t.size() == 8);
  CHECK(t.contains(address(0)));
  CHECK_FALSE(t.contains(address(1)));
  CHECK(t.contains(address(100)));
  CHECK(t.evictions() == 1);
  // A flood of addresses: the size stays at the capacity and every lookup still finds the
  // most recent ones (the backward-shift deletion keeps the probe runs intact).
  for (std::uint32_t i = 1000; i < 101000; ++i) {
    t.find_or_insert(address(i));
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
    t.find_or_insert(address(a));
    std::erase(recent, a);
    recent.push_back(a);
    if (recent.size() > kCap) recent.erase(recent.begin());
  }
  const std::set<std::uint32_t> kept(recent.begin(), recent.end());
  for (std::uint32_t a = 0; a < 200; ++a) CHECK(t.contains(address(a)) == (kept.count(a) == 1));
}
