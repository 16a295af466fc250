#pragma once
// Named tokens with roles: who may read, write (POST /event) and administer. Pure: the token
// sources are read by load_credentials() (at start-up from the factory, and again on reload),
// and authorize() decides one request from its Authorization header, with no IO.
//
// Roles: "reader" (GET /event, /api/*), "writer" (POST /event), "admin" (the admin routes).
// Every token may read: writer and admin imply reader; admin does not imply writer.
// Sources, all merged into one list (names and secrets unique across them):
//   write_tokens = ["…"]          writer tokens named "write_tokens[0]", "write_tokens[1]", …
//   write_tokens_file = "path"    one token a line, named "write_tokens_file[0]", …
//   [[tokens]] name, token | token_file, roles
//   tokens_file = "path"          one "name:role[,role]:token" a line, # comments
//   admin_tokens = ["…"], admin_tokens_file = "path"   the same, with the admin role
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http_front/digest.hpp"

namespace pemx::http_front {

enum Role : unsigned { kRoleReader = 1u << 0, kRoleWriter = 1u << 1, kRoleAdmin = 1u << 2 };

struct NamedToken {
  NamedToken(std::string token_name, std::string token_secret, unsigned token_roles);
  std::string name;    // logged and used as the rate-limit key; never the secret
  std::string secret;  // never logged
  unsigned roles = 0;  // Role bits
  Digest digest{};     // SHA-256 of the secret, what find_token compares
};

// Where the tokens come from, as configured; load_credentials reads the files.
struct TokenSources {
  struct Entry {  // one [[tokens]] table
    std::string name;
    std::string token;       // inline secret, or
    std::string token_file;  // a file holding the one secret (read at start and on reload)
    unsigned roles = 0;
  };
  std::vector<std::string> write_tokens;
  std::optional<std::string> write_tokens_file;
  std::vector<std::string> admin_tokens;  // admin tokens named "admin_tokens[0]", …
  std::optional<std::string> admin_tokens_file;
  std::vector<Entry> tokens;
  std::optional<std::string> tokens_file;
  bool require_read_token = false;
};

struct Credentials {
  std::vector<NamedToken> tokens;
  bool require_read_token = false;  // reads need a token (any role)
  bool writes_guarded = false;      // some token has the writer role: writes need one
  bool admins = false;              // some token has the admin role (else admin routes: 403)
};

// A problem with one key (relative to the stage's section, e.g. "tokens[1].token_file").
struct CredentialError {
  std::string key;
  std::string message;
};

// Reads the files and validates everything: names non-empty and unique, secrets at least
// kMinTokenLength characters and unique, at least one role each. The secrets never appear in
// the errors.
constexpr std::size_t kMinTokenLength = 16;
struct LoadedCredentials {
  Credentials credentials;
  std::vector<CredentialError> errors;  // empty: valid
};
LoadedCredentials load_credentials(const TokenSources& sources);

// "reader" -> kRoleReader …; 0 for an unknown name.
unsigned role_bit(std::string_view name);

// What a route needs.
enum class Access : std::uint8_t {
  kOpen,   // anyone (probes, metrics, the page's files)
  kRead,   // open unless require_read_token; then any known token
  kWrite,  // open unless some token has the writer role; then a writer token
  kAdmin,  // an admin token, always (403 for everyone while no token has the role)
};

struct AuthDecision {
  int status = 0;   // 0: allowed; 401: no or unknown token; 403: known, without the role
  int token = -1;   // the presented known token's index in Credentials::tokens, or -1
};

// The index of the token an "Authorization: Bearer …" header presents, or -1. The presented
// token is hashed (SHA-256: its time depends only on its own length, which the client knows)
// and its digest compared with every configured token's, all 32 bytes of each with
// CRYPTO_memcmp, whatever matched: timing reveals neither a prefix, nor a secret's length,
// nor which token matched.
int find_token(const std::vector<NamedToken>& tokens, std::string_view authorization);

AuthDecision authorize(const Credentials& c, Access access, std::string_view authorization);

}  // namespace pemx::http_front
