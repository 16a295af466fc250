// pemx_bench_sqlite_history: the second baseline of the history benchmark. A plain SQLite
// program that asks the store file the history benchmark's questions directly, in process:
// no HTTP, no JSON answer, no thread hand-off. It opens the file read-only with the readers'
// settings (WAL, the whole file memory-mapped), prepares one statement — the six event fields
// of the named products, newest first, limited — and runs it for --duration seconds on
// --threads threads, each with its own connection, each query naming --ids random product ids
// of the --ids-file list (the list pemx_bench_make_store wrote; 65,536 lists per thread, made
// before the clock starts and asked in turn). Every column of every row is read, as an answer
// would need it.
//
// What it tells: how much CPU SQLite itself spends per question on this machine and this
// file, against which pemx's CPU per request (GET /event over HTTP) can be read. It prints one
// JSON line: queries, rows, queries_per_s, cpu_ms_per_query (getrusage of the process),
// p50_us/p99_us (per query wall time, one thread's view).
#include <sqlite3.h>

#include <atomic>
#include <string>
#include <vector>

#include "history_baseline.hpp"

namespace {

constexpr const char* kProgram = "pemx_bench_sqlite_history";
constexpr const char* kUsage = R"(pemx_bench_sqlite_history — history questions asked of SQLite directly (a baseline)

Usage: pemx_bench_sqlite_history --path FILE --ids-file FILE [options]
  --path FILE         the store file (pemx_bench_make_store's), opened read-only
)" PEMX_HISTORY_BASELINE_USAGE R"(
Prints one JSON line {"tool":"pemx_bench_sqlite_history","queries":…,"cpu_ms_per_query":…}.
)";

// The statement a plain program would write for "events of these products, newest first".
constexpr const char* kQuery =
    "SELECT event_id, event_type, product_id, region, created_at, data_json, created_ms "
    "FROM events WHERE product_id IN (SELECT value FROM json_each(?1)) "
    "ORDER BY created_ms DESC, event_id DESC LIMIT ?2";

using pemx::bench::history::Tally;

void ask(const std::string& path, const std::vector<std::string>& lists, int limit,
         const std::atomic<bool>& stop, Tally& result) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    result.error = "open " + path + ": " + sqlite3_errmsg(db);
    sqlite3_close(db);
    return;
  }
  // What pemx's readers set: the whole file mapped (SQLite clamps to its maximum).
  sqlite3_exec(db, "PRAGMA mmap_size = 1099511627776", nullptr, nullptr, nullptr);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, kQuery, -1, &stmt, nullptr) != SQLITE_OK) {
    result.error = std::string("prepare: ") + sqlite3_errmsg(db);
    sqlite3_close(db);
    return;
  }
  for (std::size_t next = 0; !stop.load(std::memory_order_relaxed); next = (next + 1) % lists.size()) {
    const std::string& list = lists[next];
    const auto start = pemx::bench::Clock::now();
    sqlite3_bind_text(stmt, 1, list.data(), static_cast<int>(list.size()), SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, limit);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      ++result.rows;
      for (int c = 0; c < 6; ++c) {
        sqlite3_column_text(stmt, c);
        result.bytes += sqlite3_column_bytes(stmt, c);
      }
      result.bytes += sqlite3_column_int64(stmt, 6) != 0;
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
      result.error = std::string("query: ") + sqlite3_errmsg(db);
      break;
    }
    result.latency_us.push_back(pemx::bench::seconds_since(start) * 1e6);
    ++result.queries;
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

}  // namespace

int main(int argc, char** argv) {
  namespace h = pemx::bench::history;
  pemx::bench::Options opts(kProgram, kUsage, h::option_names({"path"}));
  opts.parse(argc, argv);
  const std::string path = opts.str("path", "");
  if (path.empty()) opts.fail("--path is required");
  const h::Params p = h::params(opts);
  const auto lists = h::id_lists(h::read_ids(kProgram, p.ids_file), p.threads, p.k, p.seed, '[',
                                 ']', [](std::string& list, const std::string& id) {
                                   list += pemx::bench::JsonLine::quote(id);
                                 });
  return h::run(kProgram, lists, p.k, p.duration,
                [&](const std::vector<std::string>& mine, const std::atomic<bool>& stop,
                    Tally& tally) { ask(path, mine, p.limit, stop, tally); });
}
