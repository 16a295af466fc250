#include "pemx/keyed_hash.hpp"

#include <sodium.h>

#include <cstring>
#include <stdexcept>

namespace pemx {

static_assert(crypto_shorthash_KEYBYTES == 16 && crypto_shorthash_BYTES == 8);

namespace {
KeyedHash::Key process_key() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  KeyedHash::Key key;
  randombytes_buf(key.data(), key.size());
  return key;
}
}  // namespace

KeyedHash::KeyedHash() {
  static const Key key = process_key();
  key_ = key;
}

std::size_t KeyedHash::operator()(std::string_view s) const {
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, reinterpret_cast<const unsigned char*>(s.data()), s.size(),
                   key_.data());
  std::uint64_t h;
  std::memcpy(&h, out, sizeof h);
  return static_cast<std::size_t>(h);
}

}  // namespace pemx
