#pragma once
// The history's keyset cursor: the sort key (created_ms, event_id) of the last row of a page,
// as an opaque URL-safe string (base64url of "1:<created_ms>:<event_id>", the leading 1 being
// the format's version). The next page holds the rows strictly after that key in the order
// created_ms DESC, event_id DESC, so paging never skips or repeats a row, even while events
// are being stored.
#include <cstdint>
#include <string>
#include <string_view>

#include <optional>

#include "pemx/event_store.hpp"
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

// What every backend's history query binds, worked out once from an EventQuery: the rows
// strictly after `after` (the first page: after everything), created_ms in [from_ms, to_ms),
// at most `limit` of them (the backend asks one more, to know whether there is a next page).
struct HistoryBounds {
  CursorKey after;
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  std::int64_t limit = 0;  // q.limit, capped so that limit + 1 fits an int64
};
// Events a backend reserves room for before reading a page (at most q.limit): a request of
// 10 products answered about 20 (bench/run_history.sh), and the vector grew six times.
inline constexpr std::size_t kHistoryReserve = 32;

// Error{"bad_query"} for a zero limit (so a full page always has a last event),
// Error{kBadCursor} for a cursor decode_cursor refuses; nullopt when the answer is an empty
// page without asking the database (no product ids, an empty time range).
Result<std::optional<HistoryBounds>> history_bounds(const EventQuery& q);

// What every backend's count (EventReader::count) binds: the query's products, type and time
// range, its limit and cursor not used; nullopt when nothing can match (the count is 0).
Result<std::optional<HistoryBounds>> count_bounds(const EventQuery& q);

// What every backend's range scan (EventReader::scan) binds: the rows strictly after the
// returned key in (created_ms, event_id) ascending order (the first page: after
// (INT64_MIN, "")). Error{"bad_query"} for a zero limit; nullopt when the range is empty (the
// answer is no rows, without asking the database).
Result<std::optional<CursorKey>> scan_after(const RangeScan& scan);

}  // namespace pemx::store
