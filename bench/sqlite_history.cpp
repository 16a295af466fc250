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
#include <sys/resource.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"

namespace {

constexpr const char* kProgram = "pemx_bench_sqlite_history";
constexpr const char* kUsage = R"(pemx_bench_sqlite_history — history questions asked of SQLite directly (a baseline)

Usage: pemx_bench_sqlite_history --path FILE --ids-file FILE [options]
  --path FILE         the store file (pemx_bench_make_store's), opened read-only
  --ids-file FILE     product ids, one per line
  --ids K             product ids per query (default 10)
  --limit N           rows per query at most (default 1001: pemx asks for its default
                      limit, 1000, plus one row to know whether a next page exists)
  --threads T         threads, one connection each (default 1)
  --duration SECONDS  how long to ask (default 10)
  --seed S            random seed (default 1)

Prints one JSON line {"tool":"pemx_bench_sqlite_history","queries":…,"cpu_ms_per_query":…}.
)";

// The statement a plain program would write for "events of these products, newest first".
constexpr const char* kQuery =
    "SELECT event_id, event_type, product_id, region, created_at, data_json, created_ms "
    "FROM events WHERE product_id IN (SELECT value FROM json_each(?1)) "
    "ORDER BY created_ms DESC, event_id DESC LIMIT ?2";

struct ThreadResult {
  std::int64_t queries = 0;
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
  std::vector<double> latency_us;
  std::string error;
};

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

std::string json_ids(const std::vector<std::string>& ids, std::mt19937_64& rng, int k) {
  std::uniform_int_distribution<std::size_t> pick(0, ids.size() - 1);
  std::string out = "[";
  for (int i = 0; i < k; ++i) {
    if (i > 0) out += ',';
    out += pemx::bench::JsonLine::quote(ids[pick(rng)]);
  }
  return out + "]";
}

// The id lists of one thread, made before the clock starts so that only SQLite is measured.
constexpr std::size_t kListsPerThread = 1 << 16;

void ask(const std::string& path, const std::vector<std::string>& lists, int limit,
         const std::atomic<bool>& stop, ThreadResult& result) {
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
  pemx::bench::Options opts(kProgram, kUsage,
                            {"path", "ids-file", "ids", "limit", "threads", "duration", "seed"});
  opts.parse(argc, argv);
  const std::string path = opts.str("path", "");
  const std::string ids_file = opts.str("ids-file", "");
  if (path.empty() || ids_file.empty()) opts.fail("--path and --ids-file are required");
  const int k = static_cast<int>(opts.integer("ids", 10, 1, 200));
  const int limit = static_cast<int>(opts.integer("limit", 1001, 1, 100001));
  const int threads = static_cast<int>(opts.integer("threads", 1, 1, 64));
  const auto duration = opts.integer("duration", 10, 1, 3600);
  const auto seed = static_cast<std::uint64_t>(opts.integer("seed", 1, 0, INT64_MAX));

  std::vector<std::string> ids;
  {
    std::ifstream in(ids_file);
    if (!in) pemx::bench::die(kProgram, "cannot read " + ids_file);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) ids.push_back(line);
    }
  }
  if (ids.empty()) pemx::bench::die(kProgram, ids_file + " holds no product ids");

  std::vector<std::vector<std::string>> lists(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t));
    auto& mine = lists[static_cast<std::size_t>(t)];
    mine.reserve(kListsPerThread);
    for (std::size_t i = 0; i < kListsPerThread; ++i) mine.push_back(json_ids(ids, rng, k));
  }

  std::atomic<bool> stop{false};
  std::vector<ThreadResult> results(static_cast<std::size_t>(threads));
  const double cpu0 = cpu_seconds();
  const auto start = pemx::bench::Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back(ask, std::cref(path), std::cref(lists[static_cast<std::size_t>(t)]), limit,
                      std::cref(stop), std::ref(results[static_cast<std::size_t>(t)]));
  }
  std::this_thread::sleep_for(std::chrono::seconds(duration));
  stop = true;
  for (auto& th : pool) th.join();
  const double elapsed = pemx::bench::seconds_since(start);
  const double cpu = cpu_seconds() - cpu0;

  ThreadResult all;
  for (auto& r : results) {
    if (!r.error.empty()) pemx::bench::die(kProgram, r.error);
    all.queries += r.queries;
    all.rows += r.rows;
    all.bytes += r.bytes;
    all.latency_us.insert(all.latency_us.end(), r.latency_us.begin(), r.latency_us.end());
  }
  if (all.queries == 0) pemx::bench::die(kProgram, "no query finished");
  const double q = static_cast<double>(all.queries);
  pemx::bench::JsonLine line;
  line.add("tool", kProgram)
      .add("threads", threads)
      .add("ids_per_query", k)
      .add("queries", all.queries)
      .add("rows", all.rows)
      .add("rows_per_query", static_cast<double>(all.rows) / q)
      .add("column_bytes", all.bytes)
      .add("elapsed_s", elapsed)
      .add("queries_per_s", q / elapsed)
      .add("cpu_s", cpu)
      .add("cpu_ms_per_query", 1000 * cpu / q)
      .add("p50_us", pemx::bench::percentile(all.latency_us, 50))
      .add("p99_us", pemx::bench::percentile(all.latency_us, 99));
  std::cout << line.str() << std::endl;
  return 0;
}
