#pragma once
// What the history benchmark's store-alone baselines share (pemx_bench_sqlite_history,
// pemx_bench_pg_history): the product id lists they ask for, made before the clock starts, and
// the timed run — T threads asking until the duration has passed, each counting its queries,
// rows, column bytes and per-query wall times — with its one JSON line of results. Each program
// brings only how one thread asks its store.
#include <sys/resource.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"

// The usage lines of the options both programs take (option_names, params).
#define PEMX_HISTORY_BASELINE_USAGE \
  "  --ids-file FILE     product ids, one per line\n" \
  "  --ids K             product ids per query (default 10)\n" \
  "  --limit N           rows per query at most (default 1001: pemx asks for its default\n" \
  "                      limit, 1000, plus one row to know whether a next page exists)\n" \
  "  --threads T         threads, one connection each (default 1)\n" \
  "  --duration SECONDS  how long to ask (default 10)\n" \
  "  --seed S            random seed (default 1)\n"

namespace pemx::bench::history {

// The options both programs take, beside their own (the store's address...).
inline std::set<std::string> option_names(std::set<std::string> own) {
  own.insert({"ids-file", "ids", "limit", "threads", "duration", "seed"});
  return own;
}
struct Params {
  std::string ids_file;    // --ids-file, required
  int k = 10;              // --ids: product ids per query
  int limit = 1001;        // --limit: rows per query at most
  int threads = 1;         // --threads: one connection each
  std::int64_t duration = 10;  // --duration, seconds
  std::uint64_t seed = 1;  // --seed
};
inline Params params(const Options& opts) {
  Params p;
  p.ids_file = opts.str("ids-file", "");
  if (p.ids_file.empty()) opts.fail("--ids-file is required");
  p.k = static_cast<int>(opts.integer("ids", 10, 1, 200));
  p.limit = static_cast<int>(opts.integer("limit", 1001, 1, 100001));
  p.threads = static_cast<int>(opts.integer("threads", 1, 1, 64));
  p.duration = opts.integer("duration", 10, 1, 3600);
  p.seed = static_cast<std::uint64_t>(opts.integer("seed", 1, 0, INT64_MAX));
  return p;
}

// One asking thread's counts.
struct Tally {
  std::int64_t queries = 0;
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
  std::vector<double> latency_us;
  std::string error;  // set: the thread stopped on it, and the run fails
};

inline double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

// The product ids of --ids-file (one per line; pemx_bench_make_store's --ids-out).
inline std::vector<std::string> read_ids(const char* program, const std::string& file) {
  std::vector<std::string> ids;
  std::ifstream in(file);
  if (!in) die(program, "cannot read " + file);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) ids.push_back(line);
  }
  if (ids.empty()) die(program, file + " holds no product ids");
  return ids;
}

// Per thread, kListsPerThread lists of k random ids (seeded by seed + thread), each written by
// `write(list_so_far, id)` between `open` and `close` (a JSON array, a PostgreSQL array...).
inline constexpr std::size_t kListsPerThread = 1 << 16;
inline std::vector<std::vector<std::string>> id_lists(
    const std::vector<std::string>& ids, int threads, int k, std::uint64_t seed, char open,
    char close, const std::function<void(std::string&, const std::string&)>& write) {
  std::vector<std::vector<std::string>> lists(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t));
    std::uniform_int_distribution<std::size_t> pick(0, ids.size() - 1);
    auto& mine = lists[static_cast<std::size_t>(t)];
    mine.reserve(kListsPerThread);
    for (std::size_t i = 0; i < kListsPerThread; ++i) {
      std::string list(1, open);
      for (int j = 0; j < k; ++j) {
        if (j > 0) list += ',';
        write(list, ids[pick(rng)]);
      }
      mine.push_back(list + close);
    }
  }
  return lists;
}

// How one thread asks: its lists in turn until `stop`, counting into its Tally.
using Asker = std::function<void(const std::vector<std::string>& lists,
                                 const std::atomic<bool>& stop, Tally& tally)>;

// Runs one Asker per thread for `duration` seconds and prints the JSON line; the exit code.
inline int run(const char* program, const std::vector<std::vector<std::string>>& lists, int k,
               std::int64_t duration, const Asker& ask) {
  const int threads = static_cast<int>(lists.size());
  std::atomic<bool> stop{false};
  std::vector<Tally> tallies(lists.size());
  const double cpu0 = cpu_seconds();
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < lists.size(); ++t) {
    pool.emplace_back([&, t] { ask(lists[t], stop, tallies[t]); });
  }
  std::this_thread::sleep_for(std::chrono::seconds(duration));
  stop = true;
  for (auto& th : pool) th.join();
  const double elapsed = seconds_since(start);
  const double cpu = cpu_seconds() - cpu0;

  Tally all;
  for (auto& t : tallies) {
    if (!t.error.empty()) die(program, t.error);
    all.queries += t.queries;
    all.rows += t.rows;
    all.bytes += t.bytes;
    all.latency_us.insert(all.latency_us.end(), t.latency_us.begin(), t.latency_us.end());
  }
  if (all.queries == 0) die(program, "no query finished");
  const double q = static_cast<double>(all.queries);
  JsonLine line;
  line.add("tool", program)
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
      .add("p50_us", percentile(all.latency_us, 50))
      .add("p99_us", percentile(all.latency_us, 99));
  std::cout << line.str() << std::endl;
  return 0;
}

}  // namespace pemx::bench::history
