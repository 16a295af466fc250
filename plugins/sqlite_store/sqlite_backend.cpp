#include "sqlite_store/sqlite_backend.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <utility>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "sqlite_store/schema.hpp"
#include "store/analytics.hpp"
#include "store/cursor.hpp"

namespace pemx::sqlite_store {

namespace {

constexpr const char* kInsert = R"sql(
INSERT INTO events (event_id, event_type, product_id, region, created_at, created_ms, data_json,
                    raw_json, source_topic, source_partition, source_offset, stored_at_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
ON CONFLICT (event_id) DO NOTHING
)sql";

// ?1 product ids, ?2 from_ms (inclusive), ?3 to_ms (exclusive), ?4 event_type or NULL,
// ?5/?6 the cursor's (created_ms, event_id) — rows strictly after it in the page order —,
// ?7 limit. Without a cursor ?5/?6 are (INT64_MAX, ''): every row has created_ms < ?3 <=
// INT64_MAX, so the condition holds for all of them. The bounds are plain comparisons (no
// "?2 IS NULL OR …") so that SQLite uses them as a range of the index.
#define PEMX_QUERY_COLUMNS                                                                   \
  "SELECT event_id, event_type, product_id, region, created_at, data_json, created_ms FROM " \
  "events "
#define PEMX_QUERY_FILTERS                    \
  " AND created_ms >= ?2 AND created_ms < ?3" \
  " AND (?4 IS NULL OR event_type = ?4)"      \
  " AND (created_ms, event_id) < (?5, ?6)"    \
  " ORDER BY created_ms DESC, event_id DESC LIMIT ?7"
// One product: the index yields the rows in page order, so SQLite stops after ?7 rows.
constexpr const char* kQueryOne = PEMX_QUERY_COLUMNS "WHERE product_id = ?1" PEMX_QUERY_FILTERS;
// Several products: ?1 is a JSON array of ids, one bound parameter whatever their number.
constexpr const char* kQueryMany =
    PEMX_QUERY_COLUMNS "WHERE product_id IN (SELECT value FROM json_each(?1))" PEMX_QUERY_FILTERS;
#undef PEMX_QUERY_COLUMNS
#undef PEMX_QUERY_FILTERS
// A time range across products, oldest first (EventReader::scan): ?1 from_ms (inclusive),
// ?2 to_ms (exclusive), ?3/?4 the keyset (created_ms, event_id) of the previous page's last
// row — rows strictly after it; (INT64_MIN, '') for the first page —, ?5 a JSON array of
// product ids or NULL for every product, ?6 limit. events_by_created (schema version 2) yields
// the rows in this order, so SQLite stops after ?6 of them.
constexpr const char* kScan = R"sql(
SELECT event_id, product_id, created_ms, raw_json, source_topic, source_partition, source_offset
FROM events
WHERE created_ms >= ?1 AND created_ms < ?2 AND (created_ms, event_id) > (?3, ?4)
  AND (?5 IS NULL OR product_id IN (SELECT value FROM json_each(?5)))
ORDER BY created_ms, event_id LIMIT ?6
)sql";
// Retention (SqliteEventStore::prune): the oldest ?2 rows whose createdAt is before ?1,
// found through events_by_created (schema version 2).
constexpr const char* kPrune = R"sql(
DELETE FROM events WHERE rowid IN (
  SELECT rowid FROM events WHERE created_ms < ?1 ORDER BY created_ms, event_id LIMIT ?2)
)sql";
constexpr const char* kProbe = "SELECT 1 FROM events LIMIT 1";
// The events of a history query, counted up to ?5 (kMaxEventCount + 1: "more than the cap"):
// the same range of the history index as the history itself, ?1 a JSON array of ids.
constexpr const char* kCount = R"sql(
SELECT count(*) FROM (
  SELECT 1 FROM events WHERE product_id IN (SELECT value FROM json_each(?1))
   AND created_ms >= ?2 AND created_ms < ?3 AND (?4 IS NULL OR event_type = ?4) LIMIT ?5)
)sql";
// The recent products: the newest ?2 stored rows by rowid (the table's own b-tree, read
// backwards: insertion order, no index needed), their distinct products, most recently stored
// first, at most ?1; each with its newest createdAt, one step into the history index.
constexpr const char* kRecent = R"sql(
SELECT r.product_id, max(r.rowid) AS last_row,
       (SELECT e.created_at FROM events AS e WHERE e.product_id = r.product_id
         ORDER BY e.created_ms DESC, e.event_id DESC LIMIT 1)
FROM (SELECT rowid, product_id FROM events ORDER BY rowid DESC LIMIT ?2) AS r
GROUP BY r.product_id ORDER BY last_row DESC LIMIT ?1
)sql";
// Analytics (EventReader::analytics, src/store/analytics.hpp): one statement over the
// window's first ?4 events (?1 from_ms inclusive, ?2 to_ms exclusive), oldest first through
// events_by_created, answering the four parts store/analytics.hpp lists: ?3 the bucket width,
// ?5 the groups' limit, ?6 top, ?7/?8/?9 the bins' low edge, number and width. A JSON number
// is what json_type calls 'integer' or 'real'; anything else leaves the event out of the bins.
constexpr const char* kAnalytics = R"sql(
WITH w AS (
  SELECT created_ms, event_type, region, product_id, data_json FROM events
  WHERE created_ms >= ?1 AND created_ms < ?2 ORDER BY created_ms, event_id LIMIT ?4),
j AS (
  SELECT event_type, data_json FROM w
  WHERE event_type IN ('ProductPriceUpdate', 'SpecificProductDiscountUpdate')
    AND json_valid(data_json)),
c AS MATERIALIZED (
  SELECT event_type, CASE
    WHEN event_type = 'ProductPriceUpdate'
     AND json_type(data_json, '$.newPrice') IN ('integer', 'real')
     AND json_type(data_json, '$.previousPrice') IN ('integer', 'real')
     AND json_extract(data_json, '$.previousPrice') > 0
    THEN (json_extract(data_json, '$.newPrice') - json_extract(data_json, '$.previousPrice'))
         * 100.0 / json_extract(data_json, '$.previousPrice')
    WHEN event_type = 'SpecificProductDiscountUpdate'
     AND json_type(data_json, '$.newDiscountPercentage') IN ('integer', 'real')
     AND json_type(data_json, '$.previousDiscountPercentage') IN ('integer', 'real')
    THEN json_extract(data_json, '$.newDiscountPercentage') * 1.0
         - json_extract(data_json, '$.previousDiscountPercentage')
  END AS change FROM j)
SELECT * FROM (SELECT 0, (created_ms - ?1) / ?3 AS b, event_type, region, count(*) FROM w
               GROUP BY b, event_type, region ORDER BY b, event_type, region LIMIT ?5)
UNION ALL
SELECT * FROM (SELECT 1, 0, product_id, '', count(*) AS n FROM w
               GROUP BY product_id ORDER BY n DESC, product_id LIMIT ?6)
UNION ALL
SELECT 2, CASE WHEN change < ?7 THEN -1 WHEN change >= ?7 + ?8 * ?9 THEN ?8
               ELSE CAST((change - ?7) / ?9 AS INTEGER) END AS bin, event_type, '', count(*)
FROM c WHERE change IS NOT NULL GROUP BY bin, event_type
UNION ALL
SELECT 3, 0, '', '', count(*) FROM w
)sql";
// The longest an analytics statement may run on a reader connection before SQLite interrupts
// it (a progress handler): the row budget bounds it already; this is the backstop.
constexpr std::chrono::seconds kAnalyticsTimeout{10};
// One row by its eventId (the primary key), for lineage.
constexpr const char* kFindOne =
    "SELECT event_id, event_type, product_id, region, created_at, data_json, raw_json, "
    "source_topic, source_partition, source_offset, stored_at_ms FROM events WHERE event_id = ?1";

int bind_text(sqlite3_stmt* stmt, int index, std::string_view text) {
  // SQLITE_STATIC: the caller's strings outlive the step; StmtReset clears the bindings.
  return sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}

std::string column_text(sqlite3_stmt* stmt, int column) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
  int bytes = sqlite3_column_bytes(stmt, column);
  return text == nullptr ? std::string() : std::string(text, static_cast<std::size_t>(bytes));
}

// A column's text in SQLite's row buffer: valid until the next step or reset.
std::string_view column_view(sqlite3_stmt* stmt, int column) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
  int bytes = sqlite3_column_bytes(stmt, column);
  return text == nullptr ? std::string_view() : std::string_view(text, static_cast<std::size_t>(bytes));
}

// A history page's events copied out of the rows (query, try_query).
struct PageSink final : EventSink {
  EventPage page;
  void event(const StoredEventView& e) override {
    page.events.push_back({std::string(e.event_id), std::string(e.event_type),
                           std::string(e.product_id), std::string(e.region),
                           std::string(e.created_at), std::string(e.data_json)});
  }
};

// Steps a statement that returns no rows; SQLITE_DONE on success.
int run(sqlite3_stmt* stmt) {
  StmtReset reset(stmt);
  return sqlite3_step(stmt);
}

Result<std::string> query_text(sqlite3* db, const char* sql, const std::string& path) {
  auto stmt = prepare(db, sql, path);
  if (!stmt) return stmt.error();
  int rc = sqlite3_step(stmt.value().get());
  if (rc != SQLITE_ROW) return sqlite_error(db, rc, sql, path);
  return column_text(stmt.value().get(), 0);
}

std::string json_array(const std::vector<std::string>& items) {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> writer(out);
  writer.StartArray();
  for (const auto& item : items) {
    writer.String(item.data(), static_cast<rapidjson::SizeType>(item.size()));
  }
  writer.EndArray();
  return {out.GetString(), out.GetSize()};
}

}  // namespace

// ---- writer --------------------------------------------------------------------------------

Result<std::unique_ptr<SqliteEventStore>> SqliteEventStore::open(const StoreOptions& options) {
  std::unique_ptr<SqliteEventStore> store(new SqliteEventStore());
  store->options_ = options;
  const std::string& path = store->options_.path;

  auto db = open_db(path, OpenMode::kReadWrite, options.busy_timeout);
  if (!db) return db.error();
  store->db_ = std::move(db.value());
  sqlite3* raw = store->db_.get();

  // Migrations first: the file is checked (a PEMX store, not too new) before anything in it
  // changes, including its journal mode.
  auto migrated = migrate(raw, path);
  if (!migrated) return migrated.error();
  store->migrated_from_ = migrated.value().from;
  store->schema_version_ = migrated.value().to;

  auto mode = query_text(raw, "PRAGMA journal_mode = WAL", path);
  if (!mode) return mode.error();
  if (mode.value() != "wal") {
    return Error{std::string(kSqliteError),
                 "SQLite store " + path + ": WAL mode is not available (journal mode stays \"" +
                     mode.value() +
                     "\"); put the file on a local file system (not NFS, not in memory)"};
  }
  const char* sync = options.synchronous == SyncMode::kFull ? "PRAGMA synchronous = FULL"
                                                            : "PRAGMA synchronous = NORMAL";
  if (auto e = exec(raw, sync, "set synchronous", path)) return *e;
  // Truncate the WAL back to 64 MiB after checkpoints, so a burst does not keep a huge file.
  if (auto e = exec(raw, "PRAGMA journal_size_limit = 67108864", "set journal_size_limit", path)) {
    return *e;
  }
  // Fold whatever the WAL holds (the last run's tail) into the file before the readers start:
  // they map the file, but read WAL frames with a system call each. PASSIVE: it never waits
  // for another process's readers, it copies what they allow.
  if (auto e = exec(raw, "PRAGMA wal_checkpoint(PASSIVE)", "checkpoint", path)) return *e;

  for (auto [target, sql] :
       {std::pair{&store->begin_, "BEGIN IMMEDIATE"}, std::pair{&store->commit_, "COMMIT"},
        std::pair{&store->rollback_, "ROLLBACK"}, std::pair{&store->insert_, kInsert},
        std::pair{&store->prune_, kPrune}}) {
    auto stmt = prepare(raw, sql, path);
    if (!stmt) return stmt.error();
    *target = std::move(stmt.value());
  }

  store->health_ = std::make_shared<StoreHealth>();
  auto reader = SqliteEventReader::open(options, store->health_);
  if (!reader) return reader.error();
  store->reader_ = std::move(reader.value());
  return store;
}

SqliteEventStore::~SqliteEventStore() {
  if (health_) health_->set("the store's writer is closed (pemx is shutting down)");
}

Error SqliteEventStore::fail_write(Error error) {
  sqlite3* db = db_.get();
  if (sqlite3_get_autocommit(db) == 0) {
    int rc = run(rollback_.get());
    // If even the rollback fails, the next write_batch rolls back before it begins.
    if (rc != SQLITE_DONE) {
      error.message += "; rollback failed too: " + std::string(sqlite3_errmsg(db));
    }
  }
  health_->set("writes are failing: " + error.message);
  return error;
}

std::shared_ptr<EventReader> SqliteEventStore::reader() const { return reader_; }

bool SqliteEventStore::transient(const Error& error) const {
  return sqlite_store::transient(error);
}

Result<std::size_t> SqliteEventStore::prune(std::int64_t before_ms, std::size_t limit) {
  sqlite3* db = db_.get();
  if (sqlite3_get_autocommit(db) == 0) {  // left open by a failed rollback
    int rc = run(rollback_.get());
    if (rc != SQLITE_DONE) return sqlite_error(db, rc, "roll back", options_.path);
  }
  sqlite3_stmt* stmt = prune_.get();
  StmtReset reset(stmt);
  int rc = sqlite3_bind_int64(stmt, 1, before_ms);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 2, static_cast<std::int64_t>(limit));
  if (rc != SQLITE_OK) return sqlite_error(db, rc, "bind prune", options_.path);
  rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE) return sqlite_error(db, rc, "prune old events", options_.path);
  return static_cast<std::size_t>(sqlite3_changes(db));
}

Result<WriteStats> SqliteEventStore::write_batch(std::span<const EventRow> rows) {
  WriteStats stats;
  if (rows.empty()) return stats;
  sqlite3* db = db_.get();
  const std::string& path = options_.path;
  if (sqlite3_get_autocommit(db) == 0) {  // left open by a failed rollback
    int rc = run(rollback_.get());
    if (rc != SQLITE_DONE) return fail_write(sqlite_error(db, rc, "roll back", path));
  }
  int rc = run(begin_.get());
  if (rc != SQLITE_DONE) return fail_write(sqlite_error(db, rc, "begin transaction", path));

  sqlite3_stmt* insert = insert_.get();
  stats.inserted.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const EventRow& row = rows[i];
    StmtReset reset(insert);
    rc = SQLITE_OK;
    auto bind = [&](int r) {
      if (rc == SQLITE_OK) rc = r;
    };
    bind(bind_text(insert, 1, row.event_id));
    bind(bind_text(insert, 2, row.event_type));
    bind(bind_text(insert, 3, row.product_id));
    bind(bind_text(insert, 4, row.region));
    bind(bind_text(insert, 5, row.created_at));
    bind(sqlite3_bind_int64(insert, 6, row.created_ms));
    bind(bind_text(insert, 7, row.data_json));
    bind(bind_text(insert, 8, row.raw_json));
    bind(bind_text(insert, 9, row.source_topic));
    bind(sqlite3_bind_int64(insert, 10, row.source_partition));
    bind(sqlite3_bind_int64(insert, 11, row.source_offset));
    bind(sqlite3_bind_int64(insert, 12, row.stored_at_ms));
    if (rc != SQLITE_OK) {
      return fail_write(sqlite_error(db, rc, "bind event " + row.event_id, path));
    }
    rc = sqlite3_step(insert);
    if (rc != SQLITE_DONE) {
      return fail_write(sqlite_error(db, rc, "insert event " + row.event_id, path));
    }
    // DO NOTHING on a conflict: no row changed means the event_id was already stored.
    if (sqlite3_changes(db) > 0) {
      ++stats.stored;
      stats.inserted.push_back(i);
    } else {
      ++stats.duplicates;
    }
  }

  rc = run(commit_.get());
  if (rc != SQLITE_DONE) return fail_write(sqlite_error(db, rc, "commit", path));
  health_->clear();
  return stats;
}

// ---- readers -------------------------------------------------------------------------------

struct SqliteEventReader::Connection {
  DbPtr db;  // declared first: destroyed after its statements
  StmtPtr one;
  StmtPtr many;
  StmtPtr scan;
  StmtPtr probe;
  StmtPtr recent;
  StmtPtr count;
  StmtPtr find;
  StmtPtr analytics;
};

SqliteEventReader::SqliteEventReader(StoreOptions options, std::shared_ptr<StoreHealth> health)
    : options_(std::move(options)), health_(std::move(health)) {}

SqliteEventReader::~SqliteEventReader() = default;

Result<std::shared_ptr<SqliteEventReader>> SqliteEventReader::open(
    const StoreOptions& options, std::shared_ptr<StoreHealth> health) {
  std::shared_ptr<SqliteEventReader> reader(new SqliteEventReader(options, std::move(health)));
  const std::string& path = reader->options_.path;
  const std::size_t count = options.reader_connections == 0 ? 1 : options.reader_connections;
  for (std::size_t i = 0; i < count; ++i) {
    auto conn = std::make_unique<Connection>();
    auto db = open_db(path, OpenMode::kReadOnly, options.busy_timeout);
    if (!db) return db.error();
    conn->db = std::move(db.value());
    // Readers map the file instead of copying pages through read(2): the history's hot path
    // (bench/run_history.sh) spent a quarter of its time in those copies. SQLite clamps the
    // size to its compile-time maximum (2 GiB in Debian's build); pages past it are read.
    const std::string mmap = "PRAGMA mmap_size = " + std::to_string(options.reader_mmap_bytes);
    if (auto e = exec(conn->db.get(), mmap.c_str(), "set mmap_size", path)) return *e;
    for (auto [target, sql] : {std::pair{&conn->one, kQueryOne}, std::pair{&conn->many, kQueryMany},
                               std::pair{&conn->scan, kScan}, std::pair{&conn->probe, kProbe},
                               std::pair{&conn->recent, kRecent},
                               std::pair{&conn->count, kCount},
                               std::pair{&conn->find, kFindOne},
                               std::pair{&conn->analytics, kAnalytics}}) {
      auto stmt = prepare(conn->db.get(), sql, path);
      if (!stmt) return stmt.error();
      *target = std::move(stmt.value());
    }
    reader->pool_.add(std::move(conn));
  }
  return reader;
}

Result<EventPage> SqliteEventReader::query(const EventQuery& q) {
  return *run_page(q, options_.reader_wait);
}

// Every reader connection stayed busy for the whole wait (Error{"store_busy"}).
Error SqliteEventReader::busy() const {
  return Error{"store_busy", "SQLite store " + options_.path + ": every one of the " + std::to_string(pool_.size()) +
                                 " reader connections stayed busy; raise the store stage's "
                                 "readers, or lower the request rate"};
}

std::optional<Result<EventPage>> SqliteEventReader::try_query(const EventQuery& q) {
  return run_page(q, std::chrono::milliseconds(0));
}

std::optional<Result<std::optional<std::string>>> SqliteEventReader::try_query_into(
    const EventQuery& q, EventSink& sink) {
  return run(q, std::chrono::milliseconds(0), sink);
}

std::optional<Result<EventPage>> SqliteEventReader::run_page(const EventQuery& q,
                                                             std::chrono::milliseconds wait) {
  PageSink sink;
  sink.page.events.reserve(std::min(q.limit, store::kHistoryReserve));
  auto next = run(q, wait, sink);
  if (!next) return std::nullopt;
  if (!*next) return Result<EventPage>(next->error());
  sink.page.next_cursor = std::move(next->value());
  return Result<EventPage>(std::move(sink.page));
}

std::optional<Result<std::optional<std::string>>> SqliteEventReader::run(
    const EventQuery& q, std::chrono::milliseconds wait, EventSink& sink) {
  using Next = Result<std::optional<std::string>>;
  auto bounds = store::history_bounds(q);
  if (!bounds) return Next(bounds.error());
  if (!bounds.value()) return Next(std::nullopt);
  const store::HistoryBounds& b = *bounds.value();
  const store::CursorKey& after = b.after;
  const std::int64_t from = b.from_ms;
  const std::int64_t to = b.to_ms;
  const std::int64_t limit = b.limit;

  Lease lease = pool_.acquire(wait);
  if (!lease) {
    if (wait.count() == 0) return std::nullopt;
    return Next(busy());
  }
  Connection& conn = *lease.get();
  sqlite3* db = conn.db.get();
  const bool one = q.product_ids.size() == 1;
  // Declared before the reset guard: bound without a copy, it must outlive the binding.
  const std::string ids = one ? std::string() : json_array(q.product_ids);
  sqlite3_stmt* stmt = one ? conn.one.get() : conn.many.get();
  StmtReset reset(stmt);  // before the lease ends, so the next holder gets a clean statement
  int rc = SQLITE_OK;
  auto bind = [&](int r) {
    if (rc == SQLITE_OK) rc = r;
  };
  bind(bind_text(stmt, 1, one ? std::string_view(q.product_ids[0]) : std::string_view(ids)));
  bind(sqlite3_bind_int64(stmt, 2, from));
  bind(sqlite3_bind_int64(stmt, 3, to));
  bind(q.event_type ? bind_text(stmt, 4, *q.event_type) : sqlite3_bind_null(stmt, 4));
  bind(sqlite3_bind_int64(stmt, 5, after.created_ms));
  bind(bind_text(stmt, 6, after.event_id));
  bind(sqlite3_bind_int64(stmt, 7, limit + 1));
  if (rc != SQLITE_OK) return Next(sqlite_error(db, rc, "bind query", options_.path));

  // Each row goes to the sink as SQLite holds it; only the last row a page may take keeps
  // its key (the next page's cursor), copied once, when a next row shows there is more.
  std::size_t taken = 0;
  store::CursorKey last;
  std::optional<std::string> next;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    if (taken == q.limit) {
      next = store::encode_cursor(last);
      break;
    }
    const StoredEventView e{column_view(stmt, 0), column_view(stmt, 1), column_view(stmt, 2),
                            column_view(stmt, 3), column_view(stmt, 4), column_view(stmt, 5)};
    if (++taken == q.limit) last = {sqlite3_column_int64(stmt, 6), std::string(e.event_id)};
    sink.event(e);
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    return Next(sqlite_error(db, rc, "query history", options_.path));
  }
  return Next(std::move(next));
}

Result<std::vector<ArchivedEvent>> SqliteEventReader::scan(const RangeScan& r) {
  using Rows = Result<std::vector<ArchivedEvent>>;
  auto bounds = store::scan_after(r);
  if (!bounds) return Rows(bounds.error());
  std::vector<ArchivedEvent> rows;
  if (!bounds.value()) return rows;
  const store::CursorKey& after = *bounds.value();
  Lease lease = pool_.acquire(options_.reader_wait);
  if (!lease) {
    return Rows(busy());
  }
  Connection& conn = *lease.get();
  sqlite3* db = conn.db.get();
  sqlite3_stmt* stmt = conn.scan.get();
  const std::string ids = r.product_ids.empty() ? std::string() : json_array(r.product_ids);
  StmtReset reset(stmt);
  int rc = SQLITE_OK;
  auto bind = [&](int b) {
    if (rc == SQLITE_OK) rc = b;
  };
  bind(sqlite3_bind_int64(stmt, 1, r.from_ms));
  bind(sqlite3_bind_int64(stmt, 2, r.to_ms));
  bind(sqlite3_bind_int64(stmt, 3, after.created_ms));
  bind(bind_text(stmt, 4, after.event_id));
  bind(r.product_ids.empty() ? sqlite3_bind_null(stmt, 5) : bind_text(stmt, 5, ids));
  bind(sqlite3_bind_int64(stmt, 6, static_cast<std::int64_t>(r.limit)));
  if (rc != SQLITE_OK) return Rows(sqlite_error(db, rc, "bind range scan", options_.path));
  rows.reserve(std::min<std::size_t>(r.limit, 1024));
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    ArchivedEvent& e = rows.emplace_back();
    e.event_id = column_text(stmt, 0);
    e.product_id = column_text(stmt, 1);
    e.created_ms = sqlite3_column_int64(stmt, 2);
    e.raw_json = column_text(stmt, 3);
    e.source_topic = column_text(stmt, 4);
    e.source_partition = static_cast<std::int32_t>(sqlite3_column_int64(stmt, 5));
    e.source_offset = sqlite3_column_int64(stmt, 6);
  }
  if (rc != SQLITE_DONE) return Rows(sqlite_error(db, rc, "range scan", options_.path));
  return rows;
}

Result<std::vector<RecentProduct>> SqliteEventReader::recent_products(std::size_t limit) {
  if (limit == 0 || limit > kMaxRecentProducts) {
    return Error{"bad_query", "limit must be between 1 and " + std::to_string(kMaxRecentProducts)};
  }
  Lease lease = pool_.acquire(options_.reader_wait);
  if (!lease) {
    return busy();
  }
  sqlite3* db = lease.get()->db.get();
  sqlite3_stmt* stmt = lease.get()->recent.get();
  StmtReset reset(stmt);
  int rc = sqlite3_bind_int64(stmt, 1, static_cast<sqlite3_int64>(limit));
  if (rc == SQLITE_OK) {
    rc = sqlite3_bind_int64(stmt, 2, static_cast<sqlite3_int64>(kRecentScanRows));
  }
  if (rc != SQLITE_OK) return sqlite_error(db, rc, "bind recent products", options_.path);
  std::vector<RecentProduct> out;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    out.push_back({column_text(stmt, 0), column_text(stmt, 2)});
  }
  if (rc != SQLITE_DONE) return sqlite_error(db, rc, "query recent products", options_.path);
  return out;
}

Result<EventCount> SqliteEventReader::count(const EventQuery& q) {
  auto bounds = store::count_bounds(q);
  if (!bounds) return bounds.error();
  if (!bounds.value()) return EventCount{};
  Lease lease = pool_.acquire(options_.reader_wait);
  if (!lease) {
    return busy();
  }
  sqlite3* db = lease.get()->db.get();
  sqlite3_stmt* stmt = lease.get()->count.get();
  const std::string ids = json_array(q.product_ids);  // outlives the binding
  StmtReset reset(stmt);
  int rc = bind_text(stmt, 1, ids);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 2, bounds.value()->from_ms);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 3, bounds.value()->to_ms);
  if (rc == SQLITE_OK) {
    rc = q.event_type ? bind_text(stmt, 4, *q.event_type) : sqlite3_bind_null(stmt, 4);
  }
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 5, kMaxEventCount + 1);
  if (rc != SQLITE_OK) return sqlite_error(db, rc, "bind count", options_.path);
  rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW) return sqlite_error(db, rc, "count events", options_.path);
  const std::int64_t n = sqlite3_column_int64(stmt, 0);
  return EventCount{std::min(n, kMaxEventCount), n > kMaxEventCount};
}

Result<Analytics> SqliteEventReader::analytics(const AnalyticsQuery& q) {
  if (auto e = store::check_analytics(q)) return *e;
  if (!analytics_gate_.try_enter()) return store::analytics_busy("SQLite store " + options_.path);
  store::AnalyticsGate::Pass pass(&analytics_gate_);
  Lease lease = pool_.acquire(options_.reader_wait);
  if (!lease) return busy();
  sqlite3* db = lease.get()->db.get();
  sqlite3_stmt* stmt = lease.get()->analytics.get();
  StmtReset reset(stmt);
  int rc = sqlite3_bind_int64(stmt, 1, q.from_ms);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 2, q.to_ms);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 3, q.bucket_ms);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 4, static_cast<sqlite3_int64>(q.row_budget));
  if (rc == SQLITE_OK) {
    rc = sqlite3_bind_int64(stmt, 5, static_cast<sqlite3_int64>(kAnalyticsMaxGroups + 1));
  }
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 6, static_cast<sqlite3_int64>(q.top));
  if (rc == SQLITE_OK) rc = sqlite3_bind_double(stmt, 7, kAnalyticsBinLow);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 8, kAnalyticsBins);
  if (rc == SQLITE_OK) rc = sqlite3_bind_double(stmt, 9, kAnalyticsBinWidth);
  if (rc != SQLITE_OK) return sqlite_error(db, rc, "bind analytics", options_.path);
  // The backstop deadline: SQLite calls the handler every few thousand virtual-machine steps,
  // and a non-zero answer interrupts the statement (SQLITE_INTERRUPT). Removed on every path.
  struct Deadline {
    std::chrono::steady_clock::time_point at;
    static int check(void* self) {
      return std::chrono::steady_clock::now() > static_cast<Deadline*>(self)->at ? 1 : 0;
    }
  } deadline{std::chrono::steady_clock::now() + kAnalyticsTimeout};
  sqlite3_progress_handler(db, 10000, &Deadline::check, &deadline);
  struct Unset {
    sqlite3* db;
    ~Unset() { sqlite3_progress_handler(db, 0, nullptr, nullptr); }
  } unset{db};
  Analytics out;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    store::add_analytics_row(out, sqlite3_column_int(stmt, 0), sqlite3_column_int64(stmt, 1),
                             column_text(stmt, 2), column_text(stmt, 3),
                             sqlite3_column_int64(stmt, 4));
  }
  if (rc == SQLITE_INTERRUPT) {
    return Error{"timeout", "SQLite store " + options_.path + ": analytics ran longer than " +
                                std::to_string(kAnalyticsTimeout.count()) +
                                " s and was stopped; ask for a shorter window"};
  }
  if (rc != SQLITE_DONE) return sqlite_error(db, rc, "query analytics", options_.path);
  store::finish_analytics(out, q);
  return out;
}

Result<std::optional<StoredRow>> SqliteEventReader::find_event(const std::string& event_id) {
  using Found = Result<std::optional<StoredRow>>;
  Lease lease = pool_.acquire(options_.reader_wait);
  if (!lease) {
    return Found(busy());
  }
  sqlite3* db = lease.get()->db.get();
  sqlite3_stmt* stmt = lease.get()->find.get();
  StmtReset reset(stmt);
  int rc = bind_text(stmt, 1, event_id);
  if (rc != SQLITE_OK) return Found(sqlite_error(db, rc, "bind eventId", options_.path));
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) return Found(std::optional<StoredRow>());
  if (rc != SQLITE_ROW) return Found(sqlite_error(db, rc, "find event", options_.path));
  StoredRow row;
  row.event.event_id = column_text(stmt, 0);
  row.event.event_type = column_text(stmt, 1);
  row.event.product_id = column_text(stmt, 2);
  row.event.region = column_text(stmt, 3);
  row.event.created_at = column_text(stmt, 4);
  row.event.data_json = column_text(stmt, 5);
  row.raw_json = column_text(stmt, 6);
  row.source_topic = column_text(stmt, 7);
  row.source_partition = static_cast<std::int32_t>(sqlite3_column_int64(stmt, 8));
  row.source_offset = sqlite3_column_int64(stmt, 9);
  row.stored_at_ms = sqlite3_column_int64(stmt, 10);
  return Found(std::optional<StoredRow>(std::move(row)));
}

std::optional<std::string> SqliteEventReader::problem() {
  if (auto p = health_->get()) return p;
  if (::access(options_.path.c_str(), W_OK) != 0) {
    return "SQLite store " + options_.path + " is not writable: " + std::strerror(errno) +
           "; make the file and its directory writable by the user pemx runs as";
  }
  Lease lease = pool_.acquire(options_.reader_wait);
  if (!lease) return "SQLite store " + options_.path + ": no reader connection is free";
  sqlite3_stmt* probe = lease.get()->probe.get();
  StmtReset reset(probe);
  int rc = sqlite3_step(probe);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    return sqlite_error(lease.get()->db.get(), rc, "read", options_.path).message;
  }
  return std::nullopt;
}

}  // namespace pemx::sqlite_store
