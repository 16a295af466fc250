#pragma once
// The history's keyset cursor: the sort key (created_ms, event_id) of the last row of a page,
// as an opaque URL-safe string (base64url of "1:<created_ms>:<event_id>", the leading 1 being
// the format's version). The next page holds the rows strictly after that key in the order
// created_ms DESC, event_id DESC, so paging never skips or repeats a row, even while events
// are being stored.
#include <cstdint>
#include <string>
#include <string_view>

#include "pemx/result.hpp"

namespace pemx::store {

inline constexpr std::string_view kBadCursor = "bad_cursor";  // Error::code
inline constexpr std::size_t kMaxCursorLength = 512;

struct CursorKey {
  std::int64_t created_ms = 0;
  std::string event_id;
  bool operator==(const CursorKey&) const = default;
};

std::string encode_cursor(const CursorKey& key);
// Error{kBadCursor, why} for anything encode_cursor did not make.
Result<CursorKey> decode_cursor(std::string_view text);

}  // namespace pemx::store
