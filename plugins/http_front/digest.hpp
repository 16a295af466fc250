#pragma once
// SHA-256 (OpenSSL's EVP) for the push's idempotency and the token check: collisions cannot be
// made on purpose, unlike std::hash. Thread-safe; a failing OpenSSL aborts (a bug-tier error).
#include <array>
#include <initializer_list>
#include <string_view>

namespace pemx::http_front {

using Digest = std::array<unsigned char, 32>;
Digest sha256(std::string_view bytes);
// SHA-256 of several parts, each preceded by its length (so ("ab","c") != ("a","bc")).
Digest sha256_parts(std::initializer_list<std::string_view> parts);
// Whether two digests are equal, in a time that does not depend on where they differ
// (OpenSSL's CRYPTO_memcmp).
bool digests_equal(const Digest& a, const Digest& b);

}  // namespace pemx::http_front
