// Named tokens with roles (auth.hpp): loading from every source with its checks, and the
// decision for each kind of route.
#include "http_front/auth.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

using namespace pemx::http_front;

namespace {

struct TempFile {
  explicit TempFile(const std::string& text) {
    static int n = 0;
    path = "pemx-auth-test-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
    std::ofstream(path) << text;
  }
  ~TempFile() { std::remove(path.c_str()); }
  std::string path;
};

bool mentions(const std::vector<CredentialError>& errors, const std::string& key,
              const std::string& text) {
  for (const auto& e : errors) {
    if (e.key == key && e.message.find(text) != std::string::npos) return true;
  }
  return false;
}

const std::string kA = "aaaaaaaaaaaaaaaa-reader";
const std::string kB = "bbbbbbbbbbbbbbbb-writer";
const std::string kC = "cccccccccccccccc-admin";

}  // namespace

TEST_CASE("tokens come from every source, named, with their roles", "[unit][http][auth]") {
  TempFile one("# the secret\n" + kC + "\n");
  TempFile many("# name:roles:token\n\nci:writer:" + kB + "-ci\n  dash : reader , admin :" +
                kA + "-dash\n");
  TempFile legacy(kB + "-legacy\n");
  TokenSources src;
  src.write_tokens = {kB};
  src.write_tokens_file = legacy.path;
  src.tokens = {{"team-a", kA, "", kRoleReader}, {"ops", "", one.path, kRoleAdmin}};
  src.tokens_file = many.path;
  auto loaded = load_credentials(src);
  REQUIRE(loaded.errors.empty());
  const auto& t = loaded.credentials.tokens;
  REQUIRE(t.size() == 6);
  CHECK(t[0].name == "write_tokens[0]");
  CHECK(t[0].roles == kRoleWriter);
  CHECK(t[1].name == "write_tokens_file[0]");
  CHECK(t[1].secret == kB + "-legacy");
  CHECK(t[2].name == "team-a");
  CHECK(t[3].name == "ops");
  CHECK(t[3].secret == kC);
  CHECK(t[4].name == "ci");
  CHECK(t[4].secret == kB + "-ci");
  CHECK(t[5].name == "dash");
  CHECK(t[5].roles == (kRoleReader | kRoleAdmin));
  CHECK(t[5].secret == kA + "-dash");
  CHECK(loaded.credentials.writes_guarded);
}

TEST_CASE("tokens are checked: names and secrets unique, long, known roles, files readable",
          "[unit][http][auth]") {
  TempFile bad("x:writer\ny:painter:" + kA + "-y\nz:reader:short\nteam:reader:" + kA + "\n");
  TempFile two_lines(kA + "\n" + kB + "\n");
  TokenSources src;
  src.tokens = {{"team", kA, "", kRoleReader}, {"", kB, "", kRoleWriter},
                {"f", "", two_lines.path, kRoleReader}, {"g", "", "/nonexistent/pemx", 1},
                {"h", kC, "", 0}};
  src.tokens_file = bad.path;
  auto loaded = load_credentials(src);
  const auto& e = loaded.errors;
  CHECK(mentions(e, "tokens_file", "line 1: expected name:role[,role]:token"));
  CHECK(mentions(e, "tokens_file", "line 2: unknown role \"painter\""));
  CHECK(mentions(e, "tokens_file", "token \"z\" is shorter than 16 characters"));
  CHECK(mentions(e, "tokens_file", "the name \"team\" is used twice"));
  CHECK(mentions(e, "tokens_file", "token \"team\" has the same secret as another token"));
  CHECK(mentions(e, "tokens[1].token", "a token has no name"));
  CHECK(mentions(e, "tokens[2].token_file", "must hold exactly one token"));
  CHECK(mentions(e, "tokens[3].token_file", "cannot read \"/nonexistent/pemx\""));
  CHECK(mentions(e, "tokens[4].roles", "list at least one role"));
  // A directory is no token file (it used to read as an empty one: every token revoked).
  TokenSources dir;
  dir.tokens_file = ".";
  CHECK(mentions(load_credentials(dir).errors, "tokens_file", "cannot read \".\""));
  for (const auto& err : e) {
    CHECK(err.message.find(kA) == std::string::npos);  // secrets never in messages
    CHECK(err.message.find("short\"") == std::string::npos);
  }
}

TEST_CASE("authorize: 401 without a known token, 403 without the role", "[unit][http][auth]") {
  Credentials c;
  c.tokens = {{"r", kA, kRoleReader}, {"w", kB, kRoleWriter}, {"adm", kC, kRoleAdmin}};
  c.writes_guarded = true;
  c.admins = true;
  const std::string r = "Bearer " + kA;
  const std::string w = "Bearer " + kB;
  const std::string a = "Bearer " + kC;
  SECTION("writes need a writer token once one exists") {
    CHECK(authorize(c, Access::kWrite, w).status == 0);
    CHECK(authorize(c, Access::kWrite, w).token == 1);
    CHECK(authorize(c, Access::kWrite, "").status == 401);
    CHECK(authorize(c, Access::kWrite, "Bearer " + kB + "x").status == 401);
    CHECK(authorize(c, Access::kWrite, kB).status == 401);  // no "Bearer "
    // The scheme is case-insensitive and may be followed by several spaces (RFC 7235).
    CHECK(authorize(c, Access::kWrite, "bearer " + kB).status == 0);
    CHECK(authorize(c, Access::kWrite, "BEARER   " + kB).status == 0);
    CHECK(authorize(c, Access::kWrite, "Bearer" + kB).status == 401);
    CHECK(authorize(c, Access::kWrite, "Bearer ").status == 401);
    CHECK(authorize(c, Access::kWrite, "Bearerx " + kB).status == 401);
    CHECK(authorize(c, Access::kWrite, r).status == 403);
    CHECK(authorize(c, Access::kWrite, a).status == 403);  // admin does not imply writer
    c.writes_guarded = false;
    CHECK(authorize(c, Access::kWrite, "").status == 0);
    CHECK(authorize(c, Access::kWrite, r).token == 0);  // still named, for the log
  }
  SECTION("reads are open unless require_read_token; then every role may read") {
    CHECK(authorize(c, Access::kRead, "").status == 0);
    CHECK(authorize(c, Access::kRead, "Bearer nonsense-nonsense-1").status == 0);
    c.require_read_token = true;
    CHECK(authorize(c, Access::kRead, "").status == 401);
    CHECK(authorize(c, Access::kRead, "Bearer nonsense-nonsense-1").status == 401);
    CHECK(authorize(c, Access::kRead, r).status == 0);
    CHECK(authorize(c, Access::kRead, w).status == 0);
    CHECK(authorize(c, Access::kRead, a).status == 0);
    CHECK(authorize(c, Access::kRead, a).token == 2);
  }
  SECTION("admin routes need the admin role, always") {
    CHECK(authorize(c, Access::kAdmin, a).status == 0);
    CHECK(authorize(c, Access::kAdmin, w).status == 403);
    CHECK(authorize(c, Access::kAdmin, "").status == 401);
    c.admins = false;  // no admin token at all: never open, whoever asks
    CHECK(authorize(c, Access::kAdmin, "").status == 403);
    CHECK(authorize(c, Access::kAdmin, w).status == 403);
  }
  SECTION("open routes ask nothing") {
    CHECK(authorize(c, Access::kOpen, "").status == 0);
  }
}

TEST_CASE("revoking one token: its line leaves tokens_file, a reload loads the others",
          "[unit][http][auth]") {
  TempFile file("ci:writer:" + kB + "\ndash:reader:" + kA + "\n");
  TokenSources src;
  src.tokens_file = file.path;
  auto before = load_credentials(src);
  REQUIRE(before.errors.empty());
  CHECK(find_token(before.credentials.tokens, "Bearer " + kB) == 0);
  std::ofstream(file.path) << "# ci revoked\ndash:reader:" + kA + "\n";
  auto after = load_credentials(src);
  REQUIRE(after.errors.empty());
  CHECK(find_token(after.credentials.tokens, "Bearer " + kB) == -1);
  CHECK(find_token(after.credentials.tokens, "Bearer " + kA) == 0);
  // No writer left in the file (the stage keeps writes guarded when they were at start-up).
  CHECK_FALSE(after.credentials.writes_guarded);
}

TEST_CASE("find_token compares SHA-256 digests: exact secrets only, of any length",
          "[unit][http][auth]") {
  // Secrets of different lengths, one a prefix of another: the digest comparison must still
  // tell them apart, and match each exactly.
  const std::string shorter = "prefix-secret-0123";
  const std::string longer = shorter + "-and-more-456789";
  std::vector<NamedToken> tokens = {{"short", shorter, kRoleReader},
                                    {"long", longer, kRoleWriter}};
  CHECK(tokens[0].digest == sha256(shorter));
  CHECK(tokens[1].digest == sha256(longer));
  CHECK(find_token(tokens, "Bearer " + shorter) == 0);
  CHECK(find_token(tokens, "Bearer " + longer) == 1);
  CHECK(find_token(tokens, "Bearer   " + longer) == 1);  // spaces after the scheme
  CHECK(find_token(tokens, "Bearer " + longer.substr(0, longer.size() - 1)) == -1);
  CHECK(find_token(tokens, "Bearer " + shorter + "x") == -1);
  std::string flipped = longer;
  flipped.back() ^= 1;
  CHECK(find_token(tokens, "Bearer " + flipped) == -1);
  CHECK(find_token(tokens, "Bearer " + std::string(4096, 'a')) == -1);
  // The last of several tokens, and the first, are found (the branch-free selection).
  tokens.emplace_back("third", "third-secret-0123456789", kRoleAdmin);
  CHECK(find_token(tokens, "Bearer third-secret-0123456789") == 2);
  CHECK(find_token(tokens, "Bearer " + shorter) == 0);

  Digest a = sha256("one");
  Digest b = a;
  CHECK(digests_equal(a, b));
  for (std::size_t i : {std::size_t{0}, std::size_t{17}, a.size() - 1}) {
    Digest c = a;
    c[i] ^= 0x80;
    CHECK_FALSE(digests_equal(a, c));
  }
}
