#include "postgres_store/postgres_backend.hpp"

#include <libpq-fe.h>

#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <array>
#include <limits>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include "pemx/keyed_hash.hpp"
#include "postgres_store/async_history.hpp"
#include "postgres_store/history_query.hpp"
#include "postgres_store/schema.hpp"
#include "postgres_store/text_array.hpp"
#include "store/analytics.hpp"
#include "store/cursor.hpp"

namespace pemx::postgres_store {

namespace {

// One statement for the whole batch: twelve array parameters, whatever the number of rows
// (batch_size may exceed the protocol's 65535 parameters of a multi-row VALUES).
constexpr const char* kInsertName = "pemx_insert";
constexpr const char* kInsert = R"sql(
INSERT INTO events (event_id, event_type, product_id, region, created_at, created_ms, data_json,
                    raw_json, source_topic, source_partition, source_offset, stored_at_ms)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                     $7::text[], $8::text[], $9::text[], $10::integer[], $11::bigint[],
                     $12::bigint[])
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
)sql";

// The history statements (kQueryOne, kQueryMany): history_query.hpp.
// A time range across products, oldest first (EventReader::scan): $1 from_ms (inclusive),
// $2 to_ms (exclusive), $3/$4 the keyset of the previous page's last row (rows strictly after
// it; the first page passes the smallest bigint and ''), $5 the product ids as a text array or
// NULL for every product, $6 limit. events_by_created (schema version 2) serves the order.
constexpr const char* kScanName = "pemx_range_scan";
constexpr const char* kScan =
    "SELECT event_id, product_id, created_ms, raw_json, source_topic, source_partition, "
    "source_offset FROM events"
    " WHERE created_ms >= $1::bigint AND created_ms < $2::bigint"
    " AND (created_ms, event_id) > ($3::bigint, $4::text)"
    " AND ($5::text[] IS NULL OR product_id = ANY($5::text[]))"
    " ORDER BY created_ms, event_id LIMIT $6::bigint";
constexpr const char* kProbe = "SELECT 1 FROM events LIMIT 1";
// The events of a history query, counted up to $5 (kMaxEventCount + 1: "more than the cap"),
// over the same range of events_by_product as the history.
constexpr const char* kCountName = "pemx_count";
constexpr const char* kCount = R"sql(
SELECT count(*) FROM (
  SELECT 1 FROM events WHERE product_id = ANY($1::text[])
   AND created_ms >= $2::bigint AND created_ms < $3::bigint
   AND ($4::text IS NULL OR event_type = $4::text) LIMIT $5::bigint) AS matching
)sql";
// The recent products: the newest $2 stored rows (events_by_stored), their distinct products,
// most recently stored first, at most $1; each with its newest createdAt (events_by_product).
// Rows stored in the same millisecond are ordered by event_id, an arbitrary but stable choice.
constexpr const char* kRecentName = "pemx_recent_products";
constexpr const char* kRecent = R"sql(
SELECT r.product_id,
       (SELECT e.created_at FROM events AS e WHERE e.product_id = r.product_id
         ORDER BY e.created_ms DESC, e.event_id DESC LIMIT 1)
FROM (SELECT product_id, max(stored_at_ms) AS last_stored
      FROM (SELECT product_id, stored_at_ms FROM events
            ORDER BY stored_at_ms DESC LIMIT $2::bigint) AS newest
      GROUP BY product_id) AS r
ORDER BY r.last_stored DESC, r.product_id LIMIT $1::bigint
)sql";
// Analytics (EventReader::analytics, src/store/analytics.hpp): one statement over the
// window's first $4 events ($1 from_ms inclusive, $2 to_ms exclusive), oldest first through
// events_by_created, answering the four parts store/analytics.hpp lists: $3 the bucket width,
// $5 the groups' limit, $6 top, $7/$8/$9 the bins' low edge, number and width. The CTEs are
// MATERIALIZED so that each event's data is parsed once (inlined, PostgreSQL repeated the
// cast and the change in every branch of the bin's CASE). Data holding a \u0000 escape (text
// holds it, jsonb and even json's operators refuse it) is left out of the bins rather than
// failing the statement; only JSON numbers are cast (numeric holds any of them). The stage's
// statement_timeout bounds it as well.
constexpr const char* kAnalyticsName = "pemx_analytics";
constexpr const char* kAnalytics = R"sql(
WITH w AS MATERIALIZED (
  SELECT created_ms, event_type, region, product_id, data_json FROM events
  WHERE created_ms >= $1::bigint AND created_ms < $2::bigint
  ORDER BY created_ms, event_id LIMIT $4::bigint),
j AS MATERIALIZED (
  SELECT event_type, data_json::jsonb AS d FROM w
  WHERE event_type IN ('ProductPriceUpdate', 'SpecificProductDiscountUpdate')
    AND strpos(data_json, '\u0000') = 0),
c AS MATERIALIZED (
  SELECT event_type, CASE
    WHEN event_type = 'ProductPriceUpdate'
     AND jsonb_typeof(d->'newPrice') = 'number' AND jsonb_typeof(d->'previousPrice') = 'number'
     AND (d->>'previousPrice')::numeric > 0
    THEN ((d->>'newPrice')::numeric - (d->>'previousPrice')::numeric) * 100
         / (d->>'previousPrice')::numeric
    WHEN event_type = 'SpecificProductDiscountUpdate'
     AND jsonb_typeof(d->'newDiscountPercentage') = 'number'
     AND jsonb_typeof(d->'previousDiscountPercentage') = 'number'
    THEN (d->>'newDiscountPercentage')::numeric - (d->>'previousDiscountPercentage')::numeric
  END AS change FROM j)
SELECT 0, b, event_type, region, n FROM (
  SELECT (created_ms - $1::bigint) / $3::bigint AS b, event_type, region, count(*) AS n FROM w
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 LIMIT $5::bigint) AS counts
UNION ALL
SELECT 1, 0, product_id, ''::text, n FROM (
  SELECT product_id, count(*) AS n FROM w GROUP BY product_id
  ORDER BY n DESC, product_id LIMIT $6::bigint) AS top
UNION ALL
SELECT 2, bin, event_type, ''::text, count(*) FROM (
  SELECT event_type, (CASE WHEN change < $7::numeric THEN -1
                           WHEN change >= $7::numeric + $8::int * $9::numeric THEN $8::int
                           ELSE floor((change - $7::numeric) / $9::numeric) END)::bigint AS bin
  FROM c WHERE change IS NOT NULL) AS bins
GROUP BY bin, event_type
UNION ALL
SELECT 3, 0, ''::text, ''::text, count(*) FROM w
)sql";
// The writer's WAL position after the migrations; NULL on a standby (no readers to wait for).
constexpr const char* kWalPosition =
    "SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END";
// On the readers' server: true once it holds WAL position $1 (a standby that replayed it), or
// when it is no standby (the primary itself, or another server: its tables are its own).
constexpr const char* kReplayed =
    "SELECT NOT pg_is_in_recovery() OR coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)";

std::optional<Error> prepare(PGconn* conn, const char* name, const char* sql,
                             const std::string& where, std::string_view conninfo) {
  ResultPtr result(PQprepare(conn, name, sql, 0, nullptr));
  if (result && PQresultStatus(result.get()) == PGRES_COMMAND_OK) return std::nullopt;
  return pg_error(conn, result.get(), std::string("prepare ") + name, where, conninfo);
}

std::string text_of(const PGresult* result, int row, int column) {
  return std::string(PQgetvalue(result, row, column),
                     static_cast<std::size_t>(PQgetlength(result, row, column)));
}

}  // namespace

// ---- writer --------------------------------------------------------------------------------

Result<std::unique_ptr<PostgresEventStore>> PostgresEventStore::open(const StoreOptions& options) {
  std::unique_ptr<PostgresEventStore> store(new PostgresEventStore());
  store->options_ = options;
  store->connect_.conninfo = options.connection;
  store->connect_.connect_timeout_s = options.connect_timeout_s;
  store->connect_.statement_timeout_ms = options.statement_timeout.count();
  store->where_ = describe_connection(options.connection);

  auto conn = connect(store->connect_);
  if (!conn) return conn.error();
  store->conn_ = std::move(conn.value());

  // Migrations run without the statement timeout: the lock may be held by another instance
  // migrating, and a migration may take a while on a large table.
  if (auto e = exec(store->conn_.get(), "SET statement_timeout = 0", "set statement_timeout",
                    store->where_, options.connection)) {
    return *e;
  }
  auto migrated = migrate(store->conn_.get(), store->where_, options.connection);
  if (!migrated) return migrated.error();
  store->migrated_from_ = migrated.value().from;
  store->schema_version_ = migrated.value().to;
  // Back to the session's statement timeout, and the insert prepared.
  const std::string timeout =
      "SET statement_timeout = " + std::to_string(options.statement_timeout.count());
  if (auto e = exec(store->conn_.get(), timeout.c_str(), "set statement_timeout", store->where_,
                    options.connection)) {
    return *e;
  }
  if (auto e = store->ensure_connected()) return *e;
  store->set_socket(PQsocket(store->conn_.get()));

  // A replica behind the readers must first replay what the migrations made (a new
  // database's tables, a new version's columns), or their statements cannot be prepared.
  std::string migrated_at;
  if (!options.read_connection.empty()) {
    ResultPtr position(PQexec(store->conn_.get(), kWalPosition));
    if (!position || PQresultStatus(position.get()) != PGRES_TUPLES_OK) {
      return pg_error(store->conn_.get(), position.get(), "read the WAL position",
                      store->where_, options.connection);
    }
    if (PQgetisnull(position.get(), 0, 0) == 0) migrated_at = text_of(position.get(), 0, 0);
  }
  store->health_ = std::make_shared<StoreHealth>();
  auto reader = PostgresEventReader::open(options, store->health_, migrated_at);
  if (!reader) return reader.error();
  store->reader_ = std::move(reader.value());
  return store;
}

PostgresEventStore::~PostgresEventStore() {
  if (health_) health_->set("the store's writer is closed (pemx is shutting down)");
}

void PostgresEventStore::set_socket(int fd) {
  std::lock_guard<std::mutex> lock(socket_mutex_);
  socket_ = fd;
  // Interrupted while connecting: this socket is shut down as well.
  if (fd >= 0 && interrupted_.load()) ::shutdown(fd, SHUT_RDWR);
}

void PostgresEventStore::interrupt() noexcept {
  std::lock_guard<std::mutex> lock(socket_mutex_);
  interrupted_.store(true);
  // The descriptor stays open (libpq owns it): a blocked read or write on it returns, and
  // libpq reports the connection lost. The server ends the session, rolling back whatever
  // the statement had not committed.
  if (socket_ >= 0) ::shutdown(socket_, SHUT_RDWR);
}

std::optional<Error> PostgresEventStore::ensure_connected() {
  if (interrupted_.load()) {
    return Error{std::string(kConnectionLost),
                 "PostgreSQL " + where_ + ": the writer is stopping (drain deadline passed)"};
  }
  // libpq may still call a connection OK after the server went away (a failed send is
  // reported with the next read): a lost connection is re-established either way.
  if (broken_ || !connection_ok(conn_.get())) {
    prepared_ = false;
    set_socket(-1);  // before PQresetStart closes the old descriptor
    if (auto e = reconnect(conn_.get(), connect_, &interrupted_,
                           [this](int fd) { set_socket(fd); })) {
      return e;
    }
    broken_ = false;
  }
  if (!prepared_) {
    if (auto e = prepare(conn_.get(), kInsertName, kInsert, where_, connect_.conninfo)) return e;
    prepared_ = true;
  }
  return std::nullopt;
}

Error PostgresEventStore::fail_write(Error error) {
  if (error.code == kConnectionLost) broken_ = true;
  if (broken_ || !connection_ok(conn_.get())) prepared_ = false;
  // A row's fault is not the store's: the writer isolates the row, the store stays ready.
  if (!row_fault(error)) health_->set("writes are failing: " + error.message);
  return error;
}

std::optional<std::string> PostgresEventStore::refuse_row(const EventRow& row) const {
  const std::pair<const char*, const std::string*> fields[] = {
      {"eventId", &row.event_id},       {"eventType", &row.event_type},
      {"productId", &row.product_id},   {"region", &row.region},
      {"createdAt", &row.created_at},   {"data", &row.data_json},
      {"the message value", &row.raw_json}, {"the source topic", &row.source_topic}};
  for (const auto& [name, text] : fields) {
    if (text->find('\0') != std::string::npos) {
      return std::string(name) +
             " holds a NUL character (\\u0000), which PostgreSQL text cannot store";
    }
  }
  return std::nullopt;
}

bool PostgresEventStore::row_fault(const Error& error) const {
  return postgres_store::row_fault(error);
}

void PostgresEventStore::probe() {
  if (auto e = ensure_connected()) {
    fail_write(*e);
    return;
  }
  ResultPtr result(PQexec(conn_.get(), "SELECT 1"));
  if (!result || PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    fail_write(pg_error(conn_.get(), result.get(), "probe the writer connection", where_,
                        connect_.conninfo));
    return;
  }
  health_->clear();
}

Result<std::size_t> PostgresEventStore::prune(std::int64_t before_ms, std::size_t limit) {
  if (auto e = ensure_connected()) return fail_write(*e);
  static constexpr const char* kPrune =
      "DELETE FROM events WHERE event_id IN (SELECT event_id FROM events WHERE created_ms < $1 "
      "ORDER BY created_ms, event_id LIMIT $2)";
  const std::string before = std::to_string(before_ms);
  const std::string most = std::to_string(limit);
  const char* values[] = {before.c_str(), most.c_str()};
  ResultPtr result(PQexecParams(conn_.get(), kPrune, 2, nullptr, values, nullptr, nullptr, 0));
  if (!result || PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
    return fail_write(pg_error(conn_.get(), result.get(), "prune old events", where_,
                               connect_.conninfo));
  }
  return static_cast<std::size_t>(std::strtoull(PQcmdTuples(result.get()), nullptr, 10));
}

std::shared_ptr<EventReader> PostgresEventStore::reader() const { return reader_; }

bool PostgresEventStore::transient(const Error& error) const {
  return postgres_store::transient(error);
}

Result<WriteStats> PostgresEventStore::write_batch(std::span<const EventRow> rows) {
  WriteStats stats;
  if (rows.empty()) return stats;
  if (auto e = ensure_connected()) return fail_write(*e);

  // Only the first row of each event_id goes to the database; the later ones are duplicates
  // whatever it says (as in the SQLite store, where the first insert wins). The eventIds are
  // the producers' choice: hashed with a secret key (keyed_hash.hpp).
  std::unordered_map<std::string_view, std::size_t, KeyedHash> first;
  first.reserve(rows.size());
  std::array<TextArray, 12> columns;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const EventRow& row = rows[i];
    if (!first.emplace(row.event_id, i).second) continue;
    columns[0].add(row.event_id);
    columns[1].add(row.event_type);
    columns[2].add(row.product_id);
    columns[3].add(row.region);
    columns[4].add(row.created_at);
    columns[5].add(row.created_ms);
    columns[6].add(row.data_json);
    columns[7].add(row.raw_json);
    columns[8].add(row.source_topic);
    columns[9].add(static_cast<std::int64_t>(row.source_partition));
    columns[10].add(row.source_offset);
    columns[11].add(row.stored_at_ms);
  }
  std::array<const char*, 12> values{};
  for (std::size_t c = 0; c < columns.size(); ++c) values[c] = columns[c].finish();

  ResultPtr result(PQexecPrepared(conn_.get(), kInsertName, static_cast<int>(values.size()),
                                  values.data(), nullptr, nullptr, 0));
  if (!result || PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    return fail_write(pg_error(conn_.get(), result.get(), "insert a batch of " +
                                                              std::to_string(rows.size()) +
                                                              " events",
                               where_, connect_.conninfo));
  }
  const int returned = PQntuples(result.get());
  stats.inserted.reserve(static_cast<std::size_t>(returned));
  for (int r = 0; r < returned; ++r) {
    const std::string id = text_of(result.get(), r, 0);
    auto it = first.find(id);
    if (it != first.end()) stats.inserted.push_back(it->second);
  }
  std::sort(stats.inserted.begin(), stats.inserted.end());
  stats.stored = stats.inserted.size();
  stats.duplicates = rows.size() - stats.stored;
  health_->clear();
  return stats;
}

// ---- readers -------------------------------------------------------------------------------

PostgresEventReader::PostgresEventReader(StoreOptions options,
                                         std::shared_ptr<StoreHealth> health)
    : options_(std::move(options)), health_(std::move(health)) {
  connect_.conninfo =
      options_.read_connection.empty() ? options_.connection : options_.read_connection;
  connect_.connect_timeout_s = options_.connect_timeout_s;
  connect_.statement_timeout_ms = options_.statement_timeout.count();
  connect_.read_only = true;
  where_ = describe_connection(connect_.conninfo);
}

PostgresEventReader::~PostgresEventReader() = default;

Result<std::shared_ptr<PostgresEventReader>> PostgresEventReader::open(
    const StoreOptions& options, std::shared_ptr<StoreHealth> health,
    const std::string& replayed_up_to) {
  std::shared_ptr<PostgresEventReader> reader(new PostgresEventReader(options, std::move(health)));
  const std::size_t count = options.reader_connections == 0 ? 1 : options.reader_connections;
  for (std::size_t i = 0; i < count; ++i) {
    auto conn = std::make_unique<Connection>();
    auto opened = connect(reader->connect_);
    if (!opened) return opened.error();
    conn->conn = std::move(opened.value());
    if (i == 0 && !replayed_up_to.empty()) {
      if (auto e = reader->wait_replayed(conn->conn.get(), replayed_up_to)) return *e;
    }
    if (auto e = reader->ready(*conn)) return *e;
    reader->pool_.add(std::move(conn));
  }
  reader->async_ =
      std::make_shared<AsyncHistorySet>(reader->where_, reader->connect_.conninfo);
  // As many as the pool's, at most async_history_connections: `readers` is the operator's
  // budget of reader sessions per instance, and this doubles it.
  const std::size_t async = std::min(count, options.async_history_connections);
  for (std::size_t i = 0; i < async; ++i) {
    auto conn = std::make_unique<Connection>();
    auto opened = connect(reader->connect_);
    if (!opened) return opened.error();
    conn->conn = std::move(opened.value());
    if (auto e = reader->ready(*conn)) return *e;
    reader->async_->add(std::move(conn));
  }
  return reader;
}

// ---- asynchronous history (async_history.hpp) ---------------------------------------------

std::unique_ptr<HistoryCall> PostgresEventReader::try_start(const EventQuery& q) {
  // As run(): a query that needs no round trip is answered at once.
  auto bounds = store::history_bounds(q);
  if (!bounds) return done_history_call(bounds.error());
  if (!bounds.value()) return done_history_call(std::optional<std::string>());
  auto conn = async_->take();
  if (!conn) return nullptr;
  return start_history_call(async_, std::move(conn), HistoryStatement(q, *bounds.value()),
                            q.limit);
}

bool PostgresEventReader::claim_upkeep() { return async_->claim_upkeep(); }

void PostgresEventReader::upkeep() {
  std::vector<std::unique_ptr<Connection>> repaired, failed;
  // Until none is left: calls abandoned meanwhile (a server stopping ends them one by one) are
  // taken care of in the same round.
  for (auto care = async_->take_for_upkeep(); !care.empty(); care = async_->take_for_upkeep()) {
    for (auto& conn : care) {
      if (conn->abandoned) cancel_and_drain(*conn);
      PQsetnonblocking(conn->conn.get(), 0);  // the calls set it again
      // ready() reconnects a lost connection and prepares the statements again (blocking).
      if (ready(*conn)) {
        failed.push_back(std::move(conn));
      } else {
        repaired.push_back(std::move(conn));
      }
    }
    if (!failed.empty()) break;  // the server is down: the next round after kUpkeepRetry
  }
  async_->upkeep_done(std::move(repaired), std::move(failed));
}

AsyncHistoryStats PostgresEventReader::async_stats() const { return async_->stats(); }

std::optional<Error> PostgresEventReader::wait_replayed(PGconn* conn, const std::string& lsn) {
  // Start-up only (the stage's constructor), never on a request: polling is fine here.
  const auto timeout = std::chrono::seconds(options_.connect_timeout_s);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const char* values[1] = {lsn.c_str()};
  for (;;) {
    ResultPtr result(PQexecParams(conn, kReplayed, 1, nullptr, values, nullptr, nullptr, 0));
    if (!result || PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
      return pg_error(conn, result.get(), "check the replica's replay", where_,
                      connect_.conninfo);
    }
    if (PQgetvalue(result.get(), 0, 0)[0] == 't') return std::nullopt;
    if (std::chrono::steady_clock::now() >= deadline) {
      return Error{"replica_behind",
                   "PostgreSQL " + where_ + " (read_connection) is a standby that has not " +
                       "replayed the schema's migrations (the primary's WAL up to " + lsn +
                       ") within connect_timeout (" + std::to_string(timeout.count()) +
                       " s): check its replication (pg_stat_replication on the primary; a " +
                       "paused replay: pg_wal_replay_resume()), or raise connect_timeout"};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::optional<Error> PostgresEventReader::ready(Connection& c) {
  if (c.broken || !connection_ok(c.conn.get())) {
    c.prepared = false;
    if (auto e = reconnect(c.conn.get(), connect_)) return e;
    c.broken = false;
  }
  if (!c.prepared) {
    for (auto [name, sql] : {std::pair{kQueryOneName, kQueryOne},
                             std::pair{kQueryManyName, kQueryMany},
                             std::pair{kScanName, kScan},
                             std::pair{kRecentName, kRecent},
                             std::pair{kCountName, kCount},
                             std::pair{kAnalyticsName, kAnalytics}}) {
      if (auto e = prepare(c.conn.get(), name, sql, where_, connect_.conninfo)) return e;
    }
    c.prepared = true;
  }
  return std::nullopt;
}

// One read on a reader connection: `execute` once more after a reconnect when the server
// dropped the connection since its last use (a restart, a failover, an idle timeout: reads
// are idempotent); otherwise its error, naming `what`, the connection marked broken when lost.
Result<ResultPtr> PostgresEventReader::run_read(Connection& c,
                                                const std::function<ResultPtr()>& execute,
                                                const char* what) {
  ResultPtr result = execute();
  if ((!result || PQresultStatus(result.get()) != PGRES_TUPLES_OK) &&
      lost_connection(c.conn.get(), result.get())) {
    c.broken = true;
    if (auto e = ready(c)) return *e;
    result = execute();
  }
  if (!result || PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    Error e = pg_error(c.conn.get(), result.get(), what, where_, connect_.conninfo);
    if (e.code == kConnectionLost) c.broken = true;
    return e;
  }
  return result;
}

Result<std::optional<StoredRow>> PostgresEventReader::find_event(const std::string& event_id) {
  using Found = Result<std::optional<StoredRow>>;
  Lease lease = pool_.acquire(options_.reader_wait);
  if (!lease) {
    return Found(busy());
  }
  Connection& c = *lease.get();
  if (auto e = ready(c)) return Found(*e);
  // Rare (an operator's lineage question): not prepared, one round trip by the primary key.
  static constexpr const char* kFind =
      "SELECT event_id, event_type, product_id, region, created_at, data_json, raw_json, "
      "source_topic, source_partition, source_offset, stored_at_ms FROM events "
      "WHERE event_id = $1";
  const char* values[1] = {event_id.c_str()};
  auto execute = [&] {
    return ResultPtr(PQexecParams(c.conn.get(), kFind, 1, nullptr, values, nullptr, nullptr, 0));
  };
  auto read = run_read(c, execute, "find event");
  if (!read) return Found(std::move(read.error()));
  ResultPtr result = std::move(read.value());
  if (PQntuples(result.get()) == 0) return Found(std::optional<StoredRow>());
  PGresult* r = result.get();
  StoredRow row;
  row.event.event_id = text_of(r, 0, 0);
  row.event.event_type = text_of(r, 0, 1);
  row.event.product_id = text_of(r, 0, 2);
  row.event.region = text_of(r, 0, 3);
  row.event.created_at = text_of(r, 0, 4);
  row.event.data_json = text_of(r, 0, 5);
  row.raw_json = text_of(r, 0, 6);
  row.source_topic = text_of(r, 0, 7);
  row.source_partition =
      static_cast<std::int32_t>(std::strtol(text_of(r, 0, 8).c_str(), nullptr, 10));
  row.source_offset = std::strtoll(text_of(r, 0, 9).c_str(), nullptr, 10);
  row.stored_at_ms = std::strtoll(text_of(r, 0, 10).c_str(), nullptr, 10);
  return Found(std::optional<StoredRow>(std::move(row)));
}

// Every reader connection stayed busy for the whole wait (Error{"store_busy"}).
Error PostgresEventReader::busy() const {
  return Error{"store_busy", "PostgreSQL store " + where_ + ": every one of the " + std::to_string(pool_.size()) +
                                 " reader connections stayed busy; raise the store stage's "
                                 "readers, or lower the request rate"};
}

Result<EventPage> PostgresEventReader::query(const EventQuery& q) {
  return *run(q, options_.reader_wait);
}

std::optional<Result<EventPage>> PostgresEventReader::run(const EventQuery& q,
                                                          std::chrono::milliseconds wait) {
  using Page = Result<EventPage>;
  auto bounds = store::history_bounds(q);
  if (!bounds) return Page(bounds.error());
  if (!bounds.value()) return Page(EventPage{});
  EventPage page;

  Lease lease = pool_.acquire(wait);
  if (!lease) {
    if (wait.count() == 0) return std::nullopt;
    return Page(busy());
  }
  Connection& c = *lease.get();
  if (auto e = ready(c)) return Page(*e);

  const HistoryStatement statement(q, *bounds.value());
  const auto values = statement.values();
  auto execute = [&] {
    return ResultPtr(PQexecPrepared(c.conn.get(), statement.name,
                                    static_cast<int>(values.size()), values.data(), nullptr,
                                    nullptr, 0));
  };
  auto read = run_read(c, execute, "query history");
  if (!read) return Page(std::move(read.error()));
  const PGresult* result = read.value().get();
  page.events.reserve(std::min(q.limit, static_cast<std::size_t>(PQntuples(result))));
  page.next_cursor = page_rows(result, q.limit, [&](int r) {
    StoredEvent& e = page.events.emplace_back();
    e.event_id = text_of(result, r, 0);
    e.event_type = text_of(result, r, 1);
    e.product_id = text_of(result, r, 2);
    e.region = text_of(result, r, 3);
    e.created_at = text_of(result, r, 4);
    e.data_json = text_of(result, r, 5);
  });
  return Page(std::move(page));
}

Result<std::vector<ArchivedEvent>> PostgresEventReader::scan(const RangeScan& r) {
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
  Connection& c = *lease.get();
  if (auto e = ready(c)) return Rows(*e);
  std::string ids;
  if (!r.product_ids.empty()) {
    TextArray array;
    for (const auto& id : r.product_ids) array.add(id);
    ids = array.finish();
  }
  const std::string from_text = std::to_string(r.from_ms);
  const std::string to_text = std::to_string(r.to_ms);
  const std::string after_ms = std::to_string(after.created_ms);
  const std::string limit_text = std::to_string(r.limit);
  std::array<const char*, 6> values{from_text.c_str(), to_text.c_str(), after_ms.c_str(),
                                    after.event_id.c_str(),
                                    r.product_ids.empty() ? nullptr : ids.c_str(),
                                    limit_text.c_str()};
  auto execute = [&] {
    return ResultPtr(PQexecPrepared(c.conn.get(), kScanName, static_cast<int>(values.size()),
                                    values.data(), nullptr, nullptr, 0));
  };
  auto read = run_read(c, execute, "range scan");
  if (!read) return Rows(std::move(read.error()));
  ResultPtr result = std::move(read.value());
  const int n = PQntuples(result.get());
  rows.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    ArchivedEvent& e = rows.emplace_back();
    e.event_id = text_of(result.get(), i, 0);
    e.product_id = text_of(result.get(), i, 1);
    e.created_ms = std::strtoll(PQgetvalue(result.get(), i, 2), nullptr, 10);
    e.raw_json = text_of(result.get(), i, 3);
    e.source_topic = text_of(result.get(), i, 4);
    e.source_partition =
        static_cast<std::int32_t>(std::strtol(PQgetvalue(result.get(), i, 5), nullptr, 10));
    e.source_offset = std::strtoll(PQgetvalue(result.get(), i, 6), nullptr, 10);
  }
  return Rows(std::move(rows));
}

Result<std::vector<RecentProduct>> PostgresEventReader::recent_products(std::size_t limit) {
  if (limit == 0 || limit > kMaxRecentProducts) {
    return Error{"bad_query", "limit must be between 1 and " + std::to_string(kMaxRecentProducts)};
  }
  Lease lease = pool_.acquire(options_.reader_wait);
  if (!lease) {
    return busy();
  }
  Connection& c = *lease.get();
  if (auto e = ready(c)) return *e;
  const std::string limit_text = std::to_string(limit);
  const std::string scan_text = std::to_string(kRecentScanRows);
  std::array<const char*, 2> values{limit_text.c_str(), scan_text.c_str()};
  auto execute = [&] {
    return ResultPtr(PQexecPrepared(c.conn.get(), kRecentName, static_cast<int>(values.size()),
                                    values.data(), nullptr, nullptr, 0));
  };
  auto read = run_read(c, execute, "query recent products");
  if (!read) return std::move(read.error());
  ResultPtr result = std::move(read.value());
  std::vector<RecentProduct> out;
  const int rows = PQntuples(result.get());
  for (int r = 0; r < rows; ++r) {
    out.push_back({text_of(result.get(), r, 0), text_of(result.get(), r, 1)});
  }
  return out;
}

Result<EventCount> PostgresEventReader::count(const EventQuery& q) {
  auto bounds = store::count_bounds(q);
  if (!bounds) return bounds.error();
  if (!bounds.value()) return EventCount{};
  Lease lease = pool_.acquire(options_.reader_wait);
  if (!lease) {
    return busy();
  }
  Connection& c = *lease.get();
  if (auto e = ready(c)) return *e;
  TextArray array;
  for (const auto& id : q.product_ids) array.add(id);
  const std::string ids = array.finish();
  const std::string from_text = std::to_string(bounds.value()->from_ms);
  const std::string to_text = std::to_string(bounds.value()->to_ms);
  const std::string cap_text = std::to_string(kMaxEventCount + 1);
  std::array<const char*, 5> values{ids.c_str(), from_text.c_str(), to_text.c_str(),
                                    q.event_type ? q.event_type->c_str() : nullptr,
                                    cap_text.c_str()};
  auto execute = [&] {
    return ResultPtr(PQexecPrepared(c.conn.get(), kCountName, static_cast<int>(values.size()),
                                    values.data(), nullptr, nullptr, 0));
  };
  auto read = run_read(c, execute, "count events");
  if (!read) return std::move(read.error());
  ResultPtr result = std::move(read.value());
  if (PQntuples(result.get()) != 1) {
    return pg_error(c.conn.get(), result.get(), "count events", where_, connect_.conninfo);
  }
  const std::int64_t n = std::strtoll(PQgetvalue(result.get(), 0, 0), nullptr, 10);
  return EventCount{std::min(n, kMaxEventCount), n > kMaxEventCount};
}

Result<Analytics> PostgresEventReader::analytics(const AnalyticsQuery& q) {
  if (auto e = store::check_analytics(q)) return *e;
  if (!analytics_gate_.try_enter()) return store::analytics_busy("PostgreSQL store " + where_);
  store::AnalyticsGate::Pass pass(&analytics_gate_);
  Lease lease = pool_.acquire(options_.reader_wait);
  if (!lease) return busy();
  Connection& c = *lease.get();
  if (auto e = ready(c)) return *e;
  const std::string from = std::to_string(q.from_ms);
  const std::string to = std::to_string(q.to_ms);
  const std::string bucket = std::to_string(q.bucket_ms);
  const std::string budget = std::to_string(q.row_budget);
  const std::string groups = std::to_string(kAnalyticsMaxGroups + 1);
  const std::string top = std::to_string(q.top);
  const std::string low = std::to_string(kAnalyticsBinLow);
  const std::string bins = std::to_string(kAnalyticsBins);
  const std::string width = std::to_string(kAnalyticsBinWidth);
  std::array<const char*, 9> values{from.c_str(),   to.c_str(),  bucket.c_str(),
                                    budget.c_str(), groups.c_str(), top.c_str(),
                                    low.c_str(),    bins.c_str(), width.c_str()};
  auto execute = [&] {
    return ResultPtr(PQexecPrepared(c.conn.get(), kAnalyticsName,
                                    static_cast<int>(values.size()), values.data(), nullptr,
                                    nullptr, 0));
  };
  auto read = run_read(c, execute, "query analytics");
  if (!read) {
    if (read.error().code == "57014") {  // query_canceled: the statement_timeout
      return Error{"timeout", read.error().message + "; ask for a shorter window"};
    }
    return std::move(read.error());
  }
  const PGresult* result = read.value().get();
  Analytics out;
  const int rows = PQntuples(result);
  for (int r = 0; r < rows; ++r) {
    store::add_analytics_row(out, std::atoi(PQgetvalue(result, r, 0)),
                             std::strtoll(PQgetvalue(result, r, 1), nullptr, 10),
                             text_of(result, r, 2), text_of(result, r, 3),
                             std::strtoll(PQgetvalue(result, r, 4), nullptr, 10));
  }
  store::finish_analytics(out, q);
  return out;
}

std::optional<std::string> PostgresEventReader::problem() {
  if (auto p = health_->get()) return p;
  Lease lease = pool_.acquire(options_.reader_wait);
  if (!lease) return "PostgreSQL store " + where_ + ": no reader connection is free";
  Connection& c = *lease.get();
  if (auto e = ready(c)) return e->message;
  ResultPtr result(PQexec(c.conn.get(), kProbe));
  if ((!result || PQresultStatus(result.get()) != PGRES_TUPLES_OK) &&
      lost_connection(c.conn.get(), result.get())) {  // dropped since its last use: reconnect
    c.broken = true;
    if (auto e = ready(c)) return e->message;
    result.reset(PQexec(c.conn.get(), kProbe));
  }
  if (!result || PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    Error e = pg_error(c.conn.get(), result.get(), "read", where_, connect_.conninfo);
    if (e.code == kConnectionLost) c.broken = true;
    return e.message;
  }
  return std::nullopt;
}

}  // namespace pemx::postgres_store
