#include "http_front/digest.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace pemx::http_front {

namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

// A failure here is a broken OpenSSL (out of memory, no SHA-256): a bug-tier error.
[[noreturn]] void digest_failed() {
  std::fputs("pemx: OpenSSL's SHA-256 failed (EVP_Digest*); the library is unusable\n", stderr);
  std::abort();
}

// SHA-256 fetched once: EVP_sha256() makes every digest fetch it again from OpenSSL 3's
// provider store (a lock, a lookup, a reference count up and down): about half the time of
// hashing an event (430 against 220 ns for 230 bytes; the push hashes every event). Never freed: the
// process uses it until exit, after which OpenSSL's own clean-up runs.
const EVP_MD* sha256_md() {
  static const EVP_MD* const md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
    if (fetched == nullptr) digest_failed();
    return fetched;
  }();
  return md;
}

void update(EVP_MD_CTX* ctx, std::string_view bytes) {
  if (EVP_DigestUpdate(ctx, bytes.data(), bytes.size()) != 1) digest_failed();
}

}  // namespace

Digest sha256(std::string_view bytes) {
  Digest d{};
  unsigned int n = 0;
  // EVP_Digest: one call, no context to keep (thread-safe).
  if (EVP_Digest(bytes.data(), bytes.size(), d.data(), &n, sha256_md(), nullptr) != 1 ||
      n != d.size()) {
    digest_failed();
  }
  return d;
}

Digest sha256_parts(std::initializer_list<std::string_view> parts) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), sha256_md(), nullptr) != 1) digest_failed();
  for (std::string_view part : parts) {
    const std::uint64_t size = part.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(size >> (8 * i));
    update(ctx.get(), std::string_view(reinterpret_cast<const char*>(len), sizeof len));
    update(ctx.get(), part);
  }
  Digest d{};
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx.get(), d.data(), &n) != 1 || n != d.size()) digest_failed();
  return d;
}

bool digests_equal(const Digest& a, const Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace pemx::http_front
