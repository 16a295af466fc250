// The keyset cursor: encode/decode round-trips, and anything else is "bad_cursor".
#include "store/cursor.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <string>

namespace pemx::store {
namespace {

// base64url of `plain`, the way a client could forge a cursor.
std::string forge(const std::string& plain) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (unsigned char c : plain) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
  return out;
}

TEST_CASE("a cursor round-trips and is URL-safe", "[unit][store]") {
  for (const CursorKey& key :
       {CursorKey{1'722'004'877'123, "0b9d2c3e-6a4f-4c1a-9e2b-7f1d3c5a8b90"}, CursorKey{0, "a"},
        CursorKey{-62'135'596'800'000, "x:y:z"},
        CursorKey{std::numeric_limits<std::int64_t>::max(), "ünïcode ✓"},
        CursorKey{std::numeric_limits<std::int64_t>::min(), std::string(200, 'f')}}) {
    std::string text = encode_cursor(key);
    CAPTURE(text);
    CHECK(text.find_first_not_of(
              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos);
    auto back = decode_cursor(text);
    REQUIRE(back.ok());
    CHECK(back.value() == key);
  }
  CHECK(forge("1:5:abc") == encode_cursor({5, "abc"}));  // the test's encoder agrees
}

TEST_CASE("anything the server did not make is a bad_cursor", "[unit][store]") {
  const std::string good = encode_cursor({1'704'067'200'000, "id"});
  for (const std::string& text : {
           std::string(""),                        // empty
           std::string("not a cursor!"),           // outside the alphabet
           good + "=",                             // padding
           good.substr(0, good.size() - 1) + "+",  // standard base64, not base64url
           std::string("A"),                       // impossible length
           std::string(600, 'A'),                  // too long
           forge("2:5:abc"),                       // unknown version
           forge("1:5"),                           // no event id separator
           forge("1:5:"),                          // empty event id
           forge("1::abc"),                        // empty position
           forge("1:12x:abc"),                     // position not a number
           forge("1:99999999999999999999:abc"),    // position out of range
           forge("1:+5:abc"),                      // not the canonical form
       }) {
    CAPTURE(text);
    auto key = decode_cursor(text);
    REQUIRE_FALSE(key.ok());
    CHECK(key.error().code == kBadCursor);
    CHECK_FALSE(key.error().message.empty());
  }
}

TEST_CASE("history_bounds: what every backend binds for a history query", "[unit][store]") {
  EventQuery q;
  q.product_ids = {"P1"};
  q.limit = 5;
  auto first = history_bounds(q);
  REQUIRE(first.ok());
  REQUIRE(first.value().has_value());
  CHECK(first.value()->after.created_ms == std::numeric_limits<std::int64_t>::max());
  CHECK(first.value()->after.event_id.empty());
  CHECK(first.value()->from_ms == std::numeric_limits<std::int64_t>::min());
  CHECK(first.value()->to_ms == std::numeric_limits<std::int64_t>::max());
  CHECK(first.value()->limit == 5);

  q.cursor = encode_cursor({1722000000123, "e-9"});
  q.from_ms = 10;
  q.to_ms = 20;
  q.limit = std::numeric_limits<std::size_t>::max();
  auto next = history_bounds(q);
  REQUIRE(next.ok());
  REQUIRE(next.value().has_value());
  CHECK(next.value()->after == CursorKey{1722000000123, "e-9"});
  CHECK(next.value()->from_ms == 10);
  CHECK(next.value()->to_ms == 20);
  CHECK(next.value()->limit == std::numeric_limits<std::int64_t>::max() - 1);  // limit + 1 fits

  q.to_ms = 10;  // an empty range: an empty page, no query
  auto empty = history_bounds(q);
  REQUIRE(empty.ok());
  CHECK_FALSE(empty.value().has_value());
  q.to_ms.reset();
  q.product_ids.clear();
  CHECK_FALSE(history_bounds(q).value().has_value());

  q.product_ids = {"P1"};
  q.limit = 0;
  CHECK(history_bounds(q).error().code == "bad_query");
  q.limit = 1;
  q.cursor = "not-a-cursor";
  CHECK(history_bounds(q).error().code == kBadCursor);
}

}  // namespace
}  // namespace pemx::store
