#pragma once
// A hash for tables keyed by what clients choose (eventIds, Idempotency-Keys): SipHash-2-4
// (libsodium's crypto_shorthash) under a key drawn at random once per process. std::hash of a
// string is MurmurHash with a fixed seed, whose collisions can be computed in advance: a client
// sending many colliding keys makes every lookup walk one long bucket. Without the key, which
// never leaves the process, colliding keys cannot be chosen.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pemx {

class KeyedHash {
 public:
  using is_transparent = void;  // looks up std::string keys by string_view, without a copy
  using Key = std::array<std::uint8_t, 16>;

  KeyedHash();  // the process's key
  explicit KeyedHash(const Key& key) : key_(key) {}

  std::size_t operator()(std::string_view s) const;

 private:
  Key key_;
};

}  // namespace pemx
