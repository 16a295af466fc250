// pemx_bench_pg_history: "PostgreSQL alone", the second baseline of the history benchmark on
// the PostgreSQL store (bench/run_history.sh --store postgres). A plain libpq program that asks
// the events table pemx_bench_make_store --postgres wrote the history benchmark's questions
// directly: no HTTP, no JSON answer, no thread hand-off, no pool. It prepares one statement —
// the six event fields of the named products, newest first, limited; the products as one text
// array, as the postgres_store backend passes them — and runs it for --duration seconds on
// --threads threads, each with its own connection, each query naming --ids random product ids
// of the --ids-file list (65,536 lists per thread, made before the clock starts, asked in
// turn). Every field of every row is read, as an answer would need it.
//
// What it tells: how much CPU a plain client spends per question (this process: libpq's
// protocol and result handling); the script adds the PostgreSQL server's CPU over the same
// seconds (bench/common.sh, postgres_cpu_seconds), and the sum is what PostgreSQL itself costs
// per question on this machine, against which pemx's CPU per request (its own + the server's)
// is read. It prints one JSON line: queries, rows, queries_per_s, cpu_ms_per_query (getrusage
// of this process), p50_us/p99_us (per query wall time).
#include <libpq-fe.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "history_baseline.hpp"

namespace {

constexpr const char* kProgram = "pemx_bench_pg_history";
constexpr const char* kUsage = R"(pemx_bench_pg_history — history questions asked of PostgreSQL directly (a baseline)

Usage: pemx_bench_pg_history --conn CONNINFO --ids-file FILE [options]
  --conn CONNINFO     libpq connection string whose search_path holds the events table
)" PEMX_HISTORY_BASELINE_USAGE R"(  --statement S       plain (default): the statement below; pemx: the postgres_store
                      backend's own history statement, with the parameters of a first page
                      without filters (to tell the server's cost of its statement apart)

Prints one JSON line {"tool":"pemx_bench_pg_history","queries":…,"cpu_ms_per_query":…}.
)";

// The statement a plain program would write for "events of these products, newest first".
constexpr const char* kQuery =
    "SELECT event_id, event_type, product_id, region, created_at, data_json, created_ms "
    "FROM events WHERE product_id = ANY($1::text[]) "
    "ORDER BY created_ms DESC, event_id DESC LIMIT $2::bigint";
// The postgres_store backend's statement for several products (plugins/postgres_store,
// kQueryMany), asked with a first page's parameters: every time, every type, no cursor.
constexpr const char* kPemxQuery =
    "SELECT event_id, event_type, product_id, region, created_at, data_json, created_ms "
    "FROM events WHERE product_id = ANY($1::text[])"
    " AND created_ms >= $2::bigint AND created_ms < $3::bigint"
    " AND ($4::text IS NULL OR event_type = $4::text)"
    " AND (created_ms, event_id) < ($5::bigint, $6::text)"
    " ORDER BY created_ms DESC, event_id DESC LIMIT $7::bigint";

using pemx::bench::history::Tally;

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnDeleter>;
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

void ask(const std::string& conninfo, bool pemx_statement, const std::vector<std::string>& lists,
         int limit, const std::atomic<bool>& stop, Tally& result) {
  ConnPtr conn(PQconnectdb(conninfo.c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    result.error = std::string("connect: ") + PQerrorMessage(conn.get());
    return;
  }
  ResultPtr prepared(
      PQprepare(conn.get(), "history", pemx_statement ? kPemxQuery : kQuery, 0, nullptr));
  if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
    result.error = std::string("prepare: ") + PQerrorMessage(conn.get());
    return;
  }
  const std::string limit_text = std::to_string(limit);
  const std::string min_ms = std::to_string(INT64_MIN), max_ms = std::to_string(INT64_MAX);
  for (std::size_t next = 0; !stop.load(std::memory_order_relaxed); next = (next + 1) % lists.size()) {
    const auto start = pemx::bench::Clock::now();
    const char* plain[2] = {lists[next].c_str(), limit_text.c_str()};
    const char* pemx[7] = {lists[next].c_str(), min_ms.c_str(), max_ms.c_str(), nullptr,
                           max_ms.c_str(), "", limit_text.c_str()};
    ResultPtr rows(PQexecPrepared(conn.get(), "history", pemx_statement ? 7 : 2,
                                  pemx_statement ? pemx : plain, nullptr, nullptr, 0));
    if (PQresultStatus(rows.get()) != PGRES_TUPLES_OK) {
      result.error = std::string("query: ") + PQerrorMessage(conn.get());
      return;
    }
    const int n = PQntuples(rows.get());
    for (int r = 0; r < n; ++r) {
      for (int c = 0; c < 7; ++c) {
        result.bytes += PQgetlength(rows.get(), r, c) + (PQgetvalue(rows.get(), r, c)[0] != 0);
      }
    }
    result.rows += n;
    result.latency_us.push_back(pemx::bench::seconds_since(start) * 1e6);
    ++result.queries;
  }
}

}  // namespace

int main(int argc, char** argv) {
  namespace h = pemx::bench::history;
  pemx::bench::Options opts(kProgram, kUsage, h::option_names({"conn", "statement"}));
  opts.parse(argc, argv);
  const std::string conninfo = opts.str("conn", "");
  if (conninfo.empty()) opts.fail("--conn is required");
  const std::string statement = opts.str("statement", "plain");
  if (statement != "plain" && statement != "pemx") opts.fail("--statement: plain or pemx");
  const h::Params p = h::params(opts);
  // A PostgreSQL text array literal, {"a","b"}: each id quoted, its quotes and backslashes
  // escaped (pemx_bench_make_store's ids have none; escaped all the same).
  const auto lists = h::id_lists(h::read_ids(kProgram, p.ids_file), p.threads, p.k, p.seed, '{',
                                 '}', [](std::string& list, const std::string& id) {
                                   list += '"';
                                   for (char c : id) {
                                     if (c == '"' || c == '\\') list += '\\';
                                     list += c;
                                   }
                                   list += '"';
                                 });
  return h::run(kProgram, lists, p.k, p.duration,
                [&](const std::vector<std::string>& mine, const std::atomic<bool>& stop,
                    Tally& tally) {
                  ask(conninfo, statement == "pemx", mine, p.limit, stop, tally);
                });
}
