// pemx_bench_wait_stored: times PEMX's web role storing a backlog. Polls, until both are
// reached (or the watched process ends, or the timeout):
//   - the rows in the store's SQLite file (SELECT max(rowid) FROM events, on a read-only
//     connection: O(log n), unlike count(*), so the polling costs the machine nothing; for a
//     fresh file without duplicates it equals the row count, and the script checks count(*)
//     afterwards), until N: every event is stored and committed in SQLite;
//     or, with --pg, in PostgreSQL: count(*) would scan the table at every poll, so it reads
//     the last message of each partition of the topic once, and polls for their event ids
//     (primary key lookups). The store's single writer commits its batches in consumption
//     order, and each partition is consumed in order, so once the last event of every
//     partition is committed, all are (the script checks count(*) afterwards);
//   - the consumer group's committed offsets on the input topic (like pemx_bench_wait), until
//     they add up to N: PEMX commits an offset only after its row's transaction committed.
// It never joins the group: it only fetches its offsets.
#include <librdkafka/rdkafka.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sqlite3.h>

#include <cerrno>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include "bench_util.hpp"

#ifdef PEMX_BENCH_WITH_LIBPQ
#include <libpq-fe.h>
#endif

namespace {

constexpr const char* kProgram = "pemx_bench_wait_stored";
constexpr const char* kUsage = R"(pemx_bench_wait_stored — wait until N events are stored in SQLite and committed in Kafka

Usage: pemx_bench_wait_stored --group ID (--db FILE | --pg CONNINFO) [options]
  --brokers LIST      bootstrap servers (default 127.0.0.1:9092)
  --group ID          the consumer group to watch (required)
  --topic NAME        the consumed topic (default product-event-storage-pemx)
  --db FILE           the store's SQLite file (may not exist yet)
  --pg CONNINFO       or the store's PostgreSQL (libpq string; the table may not exist yet)
  --expect N          rows / committed offsets to wait for (default 200000; the topic's
                      partitions are assumed to start at 0, the file to start empty)
  --start-ms T        measure from this wall-clock time (ms since the epoch), e.g. the
                      moment the watched process was launched (default: now)
  --pid PID           stop waiting (exit 1) if this process ends first
  --interval-ms MS    how often to poll (default 50)
  --timeout SECONDS   give up after this long (default 300)

Prints {"tool":"pemx_bench_wait_stored","rows":…,"rows_elapsed_s":…,"rows_events_per_s":…,
"committed":…,"elapsed_s":…,"events_per_s":…}; elapsed_s is when the offsets reached N.
Exit 0 when both were reached, 1 otherwise.
)";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Rows in the events table (max rowid), or -1 while the file or the table is not there yet.
class RowProbe {
 public:
  explicit RowProbe(std::string path) : path_(std::move(path)) {}
  ~RowProbe() { close(); }
  std::int64_t rows() {
    if (stmt_ == nullptr && !open()) return -1;
    std::int64_t n = -1;
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) n = sqlite3_column_int64(stmt_, 0);
    sqlite3_reset(stmt_);
    if (rc != SQLITE_ROW) close();  // e.g. the schema changed under us: reopen next time
    return n;
  }

 private:
  bool open() {
    if (!std::filesystem::exists(path_)) return false;
    if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      close();
      return false;
    }
    sqlite3_busy_timeout(db_, 1000);
    if (sqlite3_prepare_v2(db_, "SELECT coalesce(max(rowid), 0) FROM events", -1, &stmt_,
                           nullptr) != SQLITE_OK) {
      close();  // no table yet (migration not run)
      return false;
    }
    return true;
  }
  void close() {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    if (db_ != nullptr) sqlite3_close_v2(db_);
    stmt_ = nullptr;
    db_ = nullptr;
  }
  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

#ifdef PEMX_BENCH_WITH_LIBPQ
void ignore_notice(void*, const char*) {}

// Whether the given event ids are all in the events table of a PostgreSQL store: returns how
// many are, or -1 while the connection or the table is not there yet.
class PgProbe {
 public:
  PgProbe(std::string conninfo, std::vector<std::string> ids) : conninfo_(std::move(conninfo)) {
    array_ = "{";
    for (const auto& id : ids) {
      if (array_.size() > 1) array_ += ',';
      array_ += '"';
      for (char c : id) {
        if (c == '"' || c == '\\') array_ += '\\';
        array_ += c;
      }
      array_ += '"';
    }
    array_ += '}';
  }
  ~PgProbe() { close(); }
  std::int64_t present() {
    if (conn_ == nullptr && !open()) return -1;
    const char* values[1] = {array_.c_str()};
    PGresult* r = PQexecParams(conn_, "SELECT count(*) FROM events WHERE event_id = ANY($1::text[])",
                               1, nullptr, values, nullptr, nullptr, 0);
    std::int64_t n = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
      n = std::strtoll(PQgetvalue(r, 0, 0), nullptr, 10);
    }
    PQclear(r);
    if (n < 0 && PQstatus(conn_) != CONNECTION_OK) close();
    return n;
  }

 private:
  bool open() {
    conn_ = PQconnectdb(conninfo_.c_str());
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
      close();
      return false;
    }
    PQsetNoticeProcessor(conn_, &ignore_notice, nullptr);
    return true;
  }
  void close() {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
  }
  std::string conninfo_;
  std::string array_;
  PGconn* conn_ = nullptr;
};

// The eventId of the last message of each partition of the topic (partitions starting at 0),
// read with a consumer of its own that never joins a group. Empty on failure.
std::vector<std::string> last_event_ids(const std::string& brokers, const std::string& topic,
                                        int partitions, pemx::bench::Clock::time_point deadline) {
  using namespace pemx::bench;
  Handle consumer = make_client(kProgram, RD_KAFKA_CONSUMER,
                                make_conf(kProgram, {{"bootstrap.servers", brokers},
                                                     {"client.id", "pemx-bench-wait-stored-last"},
                                                     {"group.id", "pemx-bench-wait-stored-last"},
                                                     {"enable.auto.commit", "false"},
                                                     {"enable.partition.eof", "false"}}));
  PartitionList assignment(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    std::int64_t low = 0, high = 0;
    if (rd_kafka_query_watermark_offsets(consumer.get(), topic.c_str(), p, &low, &high, 5000) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      return {};
    }
    if (high > low) rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset = high - 1;
  }
  if (rd_kafka_assign(consumer.get(), assignment.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  std::map<std::int32_t, std::string> ids;
  rapidjson::Document doc;
  while (static_cast<int>(ids.size()) < assignment->cnt && Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      doc.Parse(static_cast<const char*>(m->payload), m->len);
      if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("eventId") &&
          doc["eventId"].IsString()) {
        ids[m->partition] = doc["eventId"].GetString();
      }
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_assign(consumer.get(), nullptr);
  std::vector<std::string> out;
  if (static_cast<int>(ids.size()) < assignment->cnt) return out;
  for (auto& [p, id] : ids) out.push_back(std::move(id));
  return out;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  using namespace pemx::bench;
  const std::int64_t launched_ms = now_ms();
  Options opts(kProgram, kUsage,
               {"brokers", "group", "topic", "db", "pg", "expect", "start-ms", "pid", "interval-ms",
                "timeout"});
  opts.parse(argc, argv);
  const std::string brokers = opts.str("brokers", "127.0.0.1:9092");
  const std::string group = opts.str("group", "");
  if (group.empty()) opts.fail("--group is required");
  const std::string db = opts.str("db", "");
  const std::string pg = opts.str("pg", "");
  if (db.empty() == pg.empty()) opts.fail("give one of --db and --pg");
#ifndef PEMX_BENCH_WITH_LIBPQ
  if (!pg.empty()) opts.fail("--pg: built without libpq");
#endif
  const std::string topic = opts.str("topic", "product-event-storage-pemx");
  const std::int64_t expect = opts.integer("expect", 200'000, 1, INT64_MAX);
  const std::int64_t start_ms = opts.integer("start-ms", launched_ms, 0, INT64_MAX);
  const auto pid = static_cast<pid_t>(opts.integer("pid", 0, 0, INT32_MAX));
  const auto interval = std::chrono::milliseconds(opts.integer("interval-ms", 50, 10, 60'000));
  const auto deadline =
      Clock::now() + std::chrono::seconds(opts.integer("timeout", 300, 1, 86'400));

  Handle consumer = make_client(kProgram, RD_KAFKA_CONSUMER,
                                make_conf(kProgram, {{"bootstrap.servers", brokers},
                                                     {"client.id", "pemx-bench-wait-stored"},
                                                     {"group.id", group},
                                                     {"enable.auto.commit", "false"}}));
  auto alive = [&] { return pid == 0 || kill(pid, 0) == 0 || errno == EPERM; };
  int partitions = 0;
  while (partitions <= 0 && Clock::now() < deadline && alive()) {
    partitions = partition_count(consumer.get(), topic, 5000);
    if (partitions <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }

  RowProbe probe(db);
#ifdef PEMX_BENCH_WITH_LIBPQ
  std::optional<PgProbe> pg_probe;
  std::size_t last_ids = 0;
  if (!pg.empty() && partitions > 0) {
    auto ids = last_event_ids(brokers, topic, partitions, deadline);
    if (ids.empty()) die(kProgram, "cannot read the last message of each partition of " + topic);
    last_ids = ids.size();
    pg_probe.emplace(pg, std::move(ids));
  }
#endif
  std::int64_t rows = 0, committed = 0;
  double rows_elapsed = -1, committed_elapsed = -1;
  std::string state = "timeout";
  auto since_start = [&] { return static_cast<double>(now_ms() - start_ms) / 1000.0; };
  auto next_report = Clock::now() + std::chrono::seconds(10);
  auto next_offsets = Clock::now();
  while (partitions > 0 && Clock::now() < deadline) {
    if (!alive()) {
      state = "process ended";
      break;
    }
    if (rows_elapsed < 0 && pg.empty()) {
      std::int64_t n = probe.rows();
      if (n >= 0) rows = n;
      if (rows >= expect) rows_elapsed = since_start();
    }
#ifdef PEMX_BENCH_WITH_LIBPQ
    if (rows_elapsed < 0 && pg_probe) {
      // rows: unknown until the end (the last event of every partition), then expect.
      if (pg_probe->present() == static_cast<std::int64_t>(last_ids)) {
        rows = expect;
        rows_elapsed = since_start();
      }
    }
#endif
    // Offsets: a broker round trip, so every other poll at most (>= 100 ms apart).
    if (committed_elapsed < 0 && Clock::now() >= next_offsets) {
      next_offsets = Clock::now() + std::max(interval, std::chrono::milliseconds(100));
      PartitionList list(rd_kafka_topic_partition_list_new(partitions));
      for (int p = 0; p < partitions; ++p) {
        rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
      }
      if (rd_kafka_committed(consumer.get(), list.get(), 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::int64_t sum = 0;
        for (int i = 0; i < list->cnt; ++i) {
          if (list->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && list->elems[i].offset > 0) {
            sum += list->elems[i].offset;
          }
        }
        committed = sum;
        if (committed >= expect) committed_elapsed = since_start();
      }
    }
    if (rows_elapsed >= 0 && committed_elapsed >= 0) {
      state = "reached";
      break;
    }
    if (Clock::now() >= next_report) {
      std::cerr << kProgram << ": rows " << rows << "/" << expect << ", group " << group
                << " committed " << committed << "/" << expect << "\n";
      next_report = Clock::now() + std::chrono::seconds(10);
    }
    std::this_thread::sleep_for(interval);
  }
  const bool reached = state == "reached";

  JsonLine out;
  out.add("tool", kProgram)
      .add("group", group)
      .add("topic", topic)
      .add("db", pg.empty() ? db : std::string("postgresql"))
      .add("partitions", partitions)
      .add("expect", expect)
      .add("state", state)
      .add("rows", rows)
      .add("rows_elapsed_s", rows_elapsed)
      .add("rows_events_per_s", rows_elapsed > 0 ? static_cast<double>(expect) / rows_elapsed : 0.0)
      .add("committed", committed)
      .add("elapsed_s", committed_elapsed)
      .add("events_per_s",
           committed_elapsed > 0 ? static_cast<double>(expect) / committed_elapsed : 0.0);
  std::cout << out.str() << std::endl;
  return reached ? 0 : 1;
}
