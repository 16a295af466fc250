// KeyedHash (include/pemx/keyed_hash.hpp): SipHash under a key drawn per process, so that
// which strings collide cannot be known outside the process.
#include "pemx/keyed_hash.hpp"

#include <catch2/catch.hpp>

#include <stdio.h>  // popen

#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <unordered_map>

using pemx::KeyedHash;

namespace {
KeyedHash::Key key_of(std::uint8_t first) {
  KeyedHash::Key k{};
  k[0] = first;
  return k;
}

// What this test program prints for the process's hash of "eventId" (the hidden case below),
// run as a process of its own.
std::string hash_in_a_new_process() {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  FILE* p = ::popen(("'" + self + "' '[.keyed_hash_print]' 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  ::pclose(p);
  const auto at = out.find("keyed-hash ");
  INFO(out);
  REQUIRE(at != std::string::npos);
  return out.substr(at, out.find('\n', at) - at);
}
}  // namespace

TEST_CASE("keyed hash: one key gives one hash; another key gives others", "[unit][keyed_hash]") {
  const KeyedHash a(key_of(1)), a2(key_of(1)), b(key_of(2));
  std::set<std::size_t> seen;
  int same_across_keys = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = "0f8fad5b-d9cb-469f-a165-70867728" + std::to_string(1000 + i);
    CHECK(a(id) == a2(id));
    if (a(id) == b(id)) ++same_across_keys;
    seen.insert(a(id));
  }
  CHECK(same_across_keys == 0);
  CHECK(seen.size() == 1000);  // 64 bits: no collision among 1,000 strings
  CHECK(a("") != b(""));
}

TEST_CASE("keyed hash: the process's key is drawn at random, once", "[unit][keyed_hash]") {
  CHECK(KeyedHash()("eventId") == KeyedHash()("eventId"));
  CHECK(KeyedHash()("eventId") != KeyedHash(KeyedHash::Key{})("eventId"));
  // Two processes hash alike only with the same key.
  CHECK(hash_in_a_new_process() != hash_in_a_new_process());
}

TEST_CASE("keyed hash: a table finds std::string keys by string_view", "[unit][keyed_hash]") {
  std::unordered_map<std::string, int, KeyedHash, std::equal_to<>> table;
  table.emplace("a-b-c", 1);
  CHECK(table.find(std::string_view("a-b-c")) != table.end());
  CHECK(table.find(std::string_view("a-b-d")) == table.end());
}

TEST_CASE("keyed hash: print the process's hash (run by the case above)",
          "[.keyed_hash_print]") {
  std::cout << "keyed-hash " << KeyedHash()("eventId") << std::endl;
}
