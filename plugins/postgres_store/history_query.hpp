#pragma once
// The history statements (EventReader::query's SQL) and what both ways of running them share:
// the pool's blocking PostgresEventReader::query and the asynchronous HistoryCall
// (async_history.hpp) bind the same parameters to the same prepared statements and walk the
// result's rows the same way, so their answers are the same bytes.
//
// Threads: pure functions of their arguments.
#include <array>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "pemx/event_store.hpp"
#include "store/cursor.hpp"

extern "C" {
typedef struct pg_result PGresult;
}

namespace pemx::postgres_store {

// The two history statements, prepared on every reader connection (PostgresEventReader's
// ready()): one product id, or several as one text[].
extern const char* const kQueryOneName;
extern const char* const kQueryOne;
extern const char* const kQueryManyName;
extern const char* const kQueryMany;

// The statement and the seven parameters of one history query (text format); values() points
// into this object, which must outlive their use.
struct HistoryStatement {
  HistoryStatement(const EventQuery& q, const store::HistoryBounds& b);
  const char* name;
  std::array<const char*, 7> values() const;

 private:
  std::string ids_, from_, to_, after_ms_, after_id_, limit_;
  std::optional<std::string> event_type_;
};

// A history result's rows in page order: at most `limit` rows given to `each` (by row index),
// and the next page's cursor when the result holds one more (the statement asks for limit + 1).
std::optional<std::string> page_rows(const PGresult* result, std::size_t limit,
                                     const std::function<void(int row)>& each);

}  // namespace pemx::postgres_store
