#include "store/cursor.hpp"

#include <array>
#include <charconv>
#include <limits>

namespace pemx::store {

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::string_view kVersion = "1:";

std::string base64url(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    std::uint32_t n = (std::uint32_t(std::uint8_t(in[i])) << 16) |
                      (std::uint32_t(std::uint8_t(in[i + 1])) << 8) | std::uint8_t(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  std::size_t rest = in.size() - i;
  if (rest > 0) {
    std::uint32_t n = std::uint32_t(std::uint8_t(in[i])) << 16;
    if (rest == 2) n |= std::uint32_t(std::uint8_t(in[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    if (rest == 2) out += kAlphabet[(n >> 6) & 63];
  }
  return out;  // unpadded
}

// Strict: the alphabet only, no padding, no impossible length, no stray low bits.
bool unbase64url(std::string_view in, std::string& out) {
  static const std::array<int, 256> kValue = [] {
    std::array<int, 256> v{};
    v.fill(-1);
    for (std::size_t i = 0; i < kAlphabet.size(); ++i) v[std::uint8_t(kAlphabet[i])] = int(i);
    return v;
  }();
  if (in.size() % 4 == 1) return false;
  out.clear();
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = kValue[std::uint8_t(c)];
    if (v < 0) return false;
    acc = (acc << 6) | std::uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  return (acc & ((1u << bits) - 1)) == 0;  // encode_cursor leaves the spare bits zero
}

Error bad(std::string why) { return Error{std::string(kBadCursor), std::move(why)}; }

}  // namespace

std::string encode_cursor(const CursorKey& key) {
  std::string plain(kVersion);
  plain += std::to_string(key.created_ms);
  plain += ':';
  plain += key.event_id;
  return base64url(plain);
}

Result<CursorKey> decode_cursor(std::string_view text) {
  if (text.empty()) return bad("the cursor is empty");
  if (text.size() > kMaxCursorLength) return bad("the cursor is too long");
  std::string plain;
  if (!unbase64url(text, plain)) return bad("the cursor is not one this server made");
  if (plain.compare(0, kVersion.size(), kVersion) != 0) {
    return bad("the cursor is not one this server made (unknown format)");
  }
  std::string_view rest = std::string_view(plain).substr(kVersion.size());
  auto colon = rest.find(':');
  if (colon == std::string_view::npos) return bad("the cursor is incomplete");
  CursorKey key;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + colon, key.created_ms);
  if (ec != std::errc() || end != rest.data() + colon || colon == 0) {
    return bad("the cursor's position is not a number");
  }
  key.event_id = std::string(rest.substr(colon + 1));
  if (key.event_id.empty()) return bad("the cursor has no event id");
  return key;
}

Result<std::optional<HistoryBounds>> history_bounds(const EventQuery& q) {
  using Bounds = Result<std::optional<HistoryBounds>>;
  if (q.limit == 0) return Bounds(Error{"bad_query", "limit must be at least 1"});
  HistoryBounds b;
  b.after = CursorKey{std::numeric_limits<std::int64_t>::max(), ""};
  if (q.cursor) {
    auto decoded = decode_cursor(*q.cursor);
    if (!decoded) return Bounds(decoded.error());
    b.after = std::move(decoded.value());
  }
  b.from_ms = q.from_ms.value_or(std::numeric_limits<std::int64_t>::min());
  b.to_ms = q.to_ms.value_or(std::numeric_limits<std::int64_t>::max());
  if (q.product_ids.empty() || b.from_ms >= b.to_ms) return Bounds(std::optional<HistoryBounds>());
  const std::int64_t max_limit = std::numeric_limits<std::int64_t>::max() - 1;
  b.limit = q.limit > static_cast<std::uint64_t>(max_limit) ? max_limit
                                                            : static_cast<std::int64_t>(q.limit);
  return Bounds(std::optional<HistoryBounds>(std::move(b)));
}

Result<std::optional<HistoryBounds>> count_bounds(const EventQuery& q) {
  EventQuery unpaged = q;
  unpaged.cursor.reset();
  unpaged.limit = 1;
  return history_bounds(unpaged);
}

Result<std::optional<CursorKey>> scan_after(const RangeScan& scan) {
  using After = Result<std::optional<CursorKey>>;
  if (scan.limit == 0) return After(Error{"bad_query", "a range scan needs a limit of 1 or more"});
  if (scan.from_ms >= scan.to_ms) return After(std::optional<CursorKey>());
  if (!scan.after_ms) {
    return After(std::optional<CursorKey>(CursorKey{std::numeric_limits<std::int64_t>::min(), ""}));
  }
  return After(std::optional<CursorKey>(CursorKey{*scan.after_ms, scan.after_id}));
}

}  // namespace pemx::store
