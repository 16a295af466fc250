#include "postgres_store/history_query.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>

#include "postgres_store/text_array.hpp"

namespace pemx::postgres_store {

// $1 product ids (one, or an array), $2 from_ms (inclusive), $3 to_ms (exclusive), $4
// event_type or NULL, $5/$6 the cursor's key (rows strictly after it in page order), $7 limit.
// The same conditions and order as the SQLite store's queries; event_id compares byte-wise
// (its column is COLLATE "C").
#define PEMX_QUERY_COLUMNS \
  "SELECT event_id, event_type, product_id, region, created_at, data_json, created_ms FROM events "
#define PEMX_QUERY_FILTERS                                              \
  " AND created_ms >= $2::bigint AND created_ms < $3::bigint"           \
  " AND ($4::text IS NULL OR event_type = $4::text)"                    \
  " AND (created_ms, event_id) < ($5::bigint, $6::text)"                \
  " ORDER BY created_ms DESC, event_id DESC LIMIT $7::bigint"
const char* const kQueryOneName = "pemx_history_one";
const char* const kQueryOne = PEMX_QUERY_COLUMNS "WHERE product_id = $1::text" PEMX_QUERY_FILTERS;
const char* const kQueryManyName = "pemx_history_many";
const char* const kQueryMany =
    PEMX_QUERY_COLUMNS "WHERE product_id = ANY($1::text[])" PEMX_QUERY_FILTERS;
#undef PEMX_QUERY_COLUMNS
#undef PEMX_QUERY_FILTERS

namespace {
constexpr int kEventIdColumn = 0;
constexpr int kCreatedMsColumn = 6;
}  // namespace

HistoryStatement::HistoryStatement(const EventQuery& q, const store::HistoryBounds& b)
    : name(q.product_ids.size() == 1 ? kQueryOneName : kQueryManyName),
      from_(std::to_string(b.from_ms)),
      to_(std::to_string(b.to_ms)),
      after_ms_(std::to_string(b.after.created_ms)),
      after_id_(b.after.event_id),
      limit_(std::to_string(b.limit + 1)),  // one more: is there a next page?
      event_type_(q.event_type) {
  if (q.product_ids.size() == 1) {
    ids_ = q.product_ids[0];
  } else {
    TextArray array;
    for (const auto& id : q.product_ids) array.add(id);
    ids_ = array.finish();
  }
}

std::array<const char*, 7> HistoryStatement::values() const {
  return {ids_.c_str(),      from_.c_str(),     to_.c_str(),
          event_type_ ? event_type_->c_str() : nullptr,
          after_ms_.c_str(), after_id_.c_str(), limit_.c_str()};
}

std::optional<std::string> page_rows(const PGresult* result, std::size_t limit,
                                     const std::function<void(int row)>& each) {
  const int rows = PQntuples(result);
  const auto taken = static_cast<int>(std::min<std::size_t>(limit, static_cast<std::size_t>(rows)));
  for (int r = 0; r < taken; ++r) each(r);
  if (rows <= taken || taken == 0) return std::nullopt;
  // The next page's cursor is the last event taken.
  const int last = taken - 1;
  return store::encode_cursor(
      {std::strtoll(PQgetvalue(result, last, kCreatedMsColumn), nullptr, 10),
       std::string(PQgetvalue(result, last, kEventIdColumn),
                   static_cast<std::size_t>(PQgetlength(result, last, kEventIdColumn)))});
}

}  // namespace pemx::postgres_store
