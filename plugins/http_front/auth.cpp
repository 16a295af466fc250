#include "http_front/auth.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <system_error>

namespace pemx::http_front {

namespace {

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// The non-empty, non-comment lines of a file, with their line numbers; nullopt if unreadable.
std::optional<std::vector<std::pair<int, std::string>>> read_lines(const std::string& path) {
  // Only a regular file: a directory reads as empty (every token revoked without a word) and
  // a FIFO blocks the reload for ever.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::vector<std::pair<int, std::string>> lines;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const auto t = trim(line);
    if (t.empty() || t.front() == '#') continue;
    lines.emplace_back(number, std::string(t));
  }
  return lines;
}

constexpr std::string_view kRolesExpected = "expected any of \"reader\", \"writer\", \"admin\"";

}  // namespace

NamedToken::NamedToken(std::string token_name, std::string token_secret, unsigned token_roles)
    : name(std::move(token_name)), secret(std::move(token_secret)), roles(token_roles),
      digest(sha256(secret)) {}

unsigned role_bit(std::string_view name) {
  if (name == "reader") return kRoleReader;
  if (name == "writer") return kRoleWriter;
  if (name == "admin") return kRoleAdmin;
  return 0;
}

LoadedCredentials load_credentials(const TokenSources& src) {
  LoadedCredentials out;
  auto& tokens = out.credentials.tokens;
  auto& errors = out.errors;
  // Each token with the key it came from, for the uniqueness checks' messages.
  std::vector<std::string> keys;
  auto add = [&](std::string key, std::string name, std::string secret, unsigned roles) {
    tokens.push_back({std::move(name), std::move(secret), roles});
    keys.push_back(std::move(key));
  };
  // A plain list and its file (`key`, `key`_file): tokens with one role, named by position.
  auto add_list = [&](const std::string& key, const std::vector<std::string>& list,
                      const std::optional<std::string>& file, unsigned role) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      add(key, key + "[" + std::to_string(i) + "]", list[i], role);
    }
    if (!file) return;
    const std::string file_key = key + "_file";
    if (auto lines = read_lines(*file)) {
      for (std::size_t i = 0; i < lines->size(); ++i) {
        add(file_key, file_key + "[" + std::to_string(i) + "]", (*lines)[i].second, role);
      }
    } else {
      errors.push_back({file_key, "cannot read \"" + *file + "\""});
    }
  };
  add_list("write_tokens", src.write_tokens, src.write_tokens_file, kRoleWriter);
  add_list("admin_tokens", src.admin_tokens, src.admin_tokens_file, kRoleAdmin);
  for (std::size_t i = 0; i < src.tokens.size(); ++i) {
    const auto& e = src.tokens[i];
    const std::string key = "tokens[" + std::to_string(i) + "]";
    if (e.roles == 0) {
      errors.push_back({key + ".roles", "list at least one role; " + std::string(kRolesExpected)});
    }
    std::string secret = e.token;
    if (!e.token_file.empty()) {
      auto lines = read_lines(e.token_file);
      if (!lines || lines->size() != 1) {
        errors.push_back({key + ".token_file",
                          lines ? "\"" + e.token_file + "\" must hold exactly one token (a line)"
                                : "cannot read \"" + e.token_file + "\""});
        continue;
      }
      secret = lines->front().second;
    }
    add(key + (e.token_file.empty() ? ".token" : ".token_file"), e.name, secret, e.roles);
  }
  if (src.tokens_file) {
    if (auto lines = read_lines(*src.tokens_file)) {
      for (const auto& [number, line] : *lines) {
        const std::string where = "\"" + *src.tokens_file + "\" line " + std::to_string(number);
        const auto c1 = line.find(':');
        const auto c2 = c1 == std::string::npos ? c1 : line.find(':', c1 + 1);
        if (c2 == std::string::npos) {
          errors.push_back({"tokens_file", where + ": expected name:role[,role]:token"});
          continue;
        }
        const std::string_view view(line);
        unsigned roles = 0;
        bool bad_role = false;
        std::string_view list = view.substr(c1 + 1, c2 - c1 - 1);
        while (!list.empty()) {
          const auto comma = list.find(',');
          const auto one = trim(list.substr(0, comma));
          const unsigned bit = role_bit(one);
          if (bit == 0) {
            errors.push_back({"tokens_file", where + ": unknown role \"" +
                                                 std::string(one.substr(0, 40)) + "\"; " +
                                                 std::string(kRolesExpected)});
            bad_role = true;
          }
          roles |= bit;
          list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        }
        if (bad_role) continue;
        if (roles == 0) {
          errors.push_back({"tokens_file", where + ": list at least one role; " +
                                               std::string(kRolesExpected)});
          continue;
        }
        add("tokens_file", std::string(trim(view.substr(0, c1))),
            std::string(trim(view.substr(c2 + 1))), roles);
      }
    } else {
      errors.push_back({"tokens_file", "cannot read \"" + *src.tokens_file + "\""});
    }
  }
  std::set<std::string_view> names;
  std::set<std::string_view> secrets;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const auto& t = tokens[i];
    const std::string who = "token \"" + t.name + "\"";
    if (t.name.empty()) errors.push_back({keys[i], "a token has no name; give each one a name"});
    if (!names.insert(t.name).second && !t.name.empty()) {
      errors.push_back({keys[i], "the name \"" + t.name + "\" is used twice; names are unique"});
    }
    if (t.secret.size() < kMinTokenLength) {
      errors.push_back({keys[i], who + " is shorter than " + std::to_string(kMinTokenLength) +
                                     " characters; use long random tokens"});
    } else if (!secrets.insert(t.secret).second) {
      errors.push_back({keys[i], who + " has the same secret as another token; give each its "
                                       "own"});
    }
  }
  out.credentials.require_read_token = src.require_read_token;
  for (const auto& t : tokens) {
    if ((t.roles & kRoleWriter) != 0) out.credentials.writes_guarded = true;
    if ((t.roles & kRoleAdmin) != 0) out.credentials.admins = true;
  }
  return out;
}

int find_token(const std::vector<NamedToken>& tokens, std::string_view authorization) {
  // RFC 7235: the scheme is case-insensitive, then one or more spaces, then the token.
  constexpr std::string_view kBearer = "bearer";
  if (authorization.size() <= kBearer.size() || authorization[kBearer.size()] != ' ') return -1;
  for (std::size_t k = 0; k < kBearer.size(); ++k) {
    if (std::tolower(static_cast<unsigned char>(authorization[k])) != kBearer[k]) return -1;
  }
  std::string_view presented = authorization.substr(kBearer.size());
  presented.remove_prefix(std::min(presented.find_first_not_of(' '), presented.size()));
  const Digest digest = sha256(presented);
  int found = -1;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    // Every token's digest, every byte; the index is chosen without a branch on the outcome.
    const int match = digests_equal(tokens[i].digest, digest) ? 1 : 0;
    found = (found & (match - 1)) | (static_cast<int>(i) & -match);
  }
  return found;
}

AuthDecision authorize(const Credentials& c, Access access, std::string_view authorization) {
  if (access == Access::kOpen) return {};
  const int token = authorization.empty() ? -1 : find_token(c.tokens, authorization);
  const unsigned roles = token < 0 ? 0 : c.tokens[static_cast<std::size_t>(token)].roles;
  switch (access) {
    case Access::kRead:
      if (token < 0 && c.require_read_token) return {401, -1};
      return {0, token};  // every role implies reader
    case Access::kWrite:
      if (!c.writes_guarded) return {0, token};
      if (token < 0) return {401, -1};
      return {(roles & kRoleWriter) != 0 ? 0 : 403, token};
    case Access::kAdmin:
      if (!c.admins) return {403, token};  // never open
      if (token < 0) return {401, -1};
      return {(roles & kRoleAdmin) != 0 ? 0 : 403, token};
    case Access::kOpen:
      break;
  }
  return {};
}

}  // namespace pemx::http_front
