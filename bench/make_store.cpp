// pemx_bench_make_store: writes a PEMX store file (the SQLite file of the web role) holding N
// reference-shaped events, fast, for the history benchmark. It uses the store's own code, so
// the file is exactly what `pemx --role=web` would have written from the storage topic:
// SqliteEventStore::open (migrations, WAL, the schema and its index) and map_event_row (the
// row of each event), fed by pemx::sim::EventGenerator (fixed seed; a product id is used for
// 1 to 3 consecutive events, as in the reference's generator). Only the path from Kafka is
// skipped: the source position is made up (topic product-event-storage-pemx, 3 partitions).
//
// It also writes the distinct product ids, one per line, for the load generator.
//
// With --postgres CONNINFO it writes the same rows into PostgreSQL instead, through the
// postgres_store backend (PostgresEventStore::open: migrations, schema; write_batch), into the
// schema the string's search_path names: the same events for the history benchmark on both
// stores (bench/run_history.sh --store postgres). Then it runs VACUUM ANALYZE, as autovacuum
// would on a long-running store.
#include <sqlite3.h>

#include <fstream>
#include <functional>
#include <memory>
#include <iostream>
#include <string>
#include <unordered_set>
#include <vector>

#include "bench_util.hpp"
#include "sim/event_generator.hpp"
#include "sqlite_store/sqlite_backend.hpp"
#include "store/row_mapping.hpp"

#ifdef PEMX_BENCH_WITH_POSTGRES
#include <libpq-fe.h>

#include "postgres_store/postgres_backend.hpp"
#endif

namespace {

constexpr const char* kProgram = "pemx_bench_make_store";
constexpr const char* kUsage = R"(pemx_bench_make_store — write a PEMX store file with N generated events

Usage: pemx_bench_make_store (--path FILE | --postgres CONNINFO) --ids-out FILE [options]
  --path FILE         the store file to create (must not exist)
  --postgres CONNINFO or the PostgreSQL store to write (libpq string; its search_path should
                      name an empty schema)
  --ids-out FILE      where to write the distinct product ids, one per line
  --count N           events to store (default 1000000)
  --seed S            generator seed (default 1)
  --batch-size N      rows per transaction (default 20000; the web role uses 500, which
                      gives the same file, only slower to write)
  --synchronous full|normal   (default normal: the file is rebuilt if the machine crashes)

Prints one JSON line: {"tool":"pemx_bench_make_store","stored":…,"products":…,"bytes":…,
"elapsed_s":…}. Exit 0 only if every event was stored.
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace pemx::bench;
  namespace store = pemx::sqlite_store;
  const auto start = Clock::now();
  Options opts(kProgram, kUsage,
               {"path", "postgres", "ids-out", "count", "seed", "batch-size", "synchronous"});
  opts.parse(argc, argv);
  const std::string path = opts.str("path", "");
  const std::string postgres = opts.str("postgres", "");
  const std::string ids_out = opts.str("ids-out", "");
  if (path.empty() == postgres.empty() || ids_out.empty()) {
    opts.fail("--ids-out and one of --path and --postgres are required");
  }
  if (!path.empty() && std::ifstream(path).good()) {
    opts.fail("--path " + path + " exists; give a new file");
  }
#ifndef PEMX_BENCH_WITH_POSTGRES
  if (!postgres.empty()) opts.fail("--postgres: built without the postgres_store stage");
#endif
  const std::int64_t count = opts.integer("count", 1'000'000, 1, 1'000'000'000);
  const auto seed = static_cast<std::uint64_t>(opts.integer("seed", 1, 0, INT64_MAX));
  const auto batch_size = static_cast<std::size_t>(opts.integer("batch-size", 20'000, 1, 1'000'000));
  const std::string sync = opts.str("synchronous", "normal");
  if (sync != "full" && sync != "normal") opts.fail("--synchronous: full or normal");

  std::unique_ptr<pemx::store::Backend> writer;
  if (postgres.empty()) {
    store::StoreOptions options;
    options.path = path;
    options.synchronous = sync == "full" ? store::SyncMode::kFull : store::SyncMode::kNormal;
    options.reader_connections = 1;
    auto opened = store::SqliteEventStore::open(options);
    if (!opened) die(kProgram, opened.error().message);
    writer = std::move(opened.value());
  } else {
#ifdef PEMX_BENCH_WITH_POSTGRES
    pemx::postgres_store::StoreOptions options;
    options.connection = postgres;
    options.reader_connections = 1;
    options.statement_timeout = std::chrono::milliseconds(0);
    auto opened = pemx::postgres_store::PostgresEventStore::open(options);
    if (!opened) die(kProgram, opened.error().message);
    writer = std::move(opened.value());
#endif
  }

  std::ofstream ids(ids_out, std::ios::trunc);
  if (!ids) die(kProgram, "cannot write " + ids_out);

  pemx::sim::GeneratorOptions gen_options;
  gen_options.seed = seed;
  pemx::sim::EventGenerator generator(gen_options);
  const std::string topic = "product-event-storage-pemx";
  std::int64_t offsets[3] = {0, 0, 0};

  std::vector<store::EventRow> rows;
  rows.reserve(batch_size);
  std::int64_t stored = 0, duplicates = 0, products = 0, bytes = 0, invalid = 0;
  std::string last_product;
  std::unordered_set<std::string> seen;  // a product id drawn twice (rare) is listed once
  auto flush = [&] {
    auto written = writer->write_batch(rows);
    if (!written) die(kProgram, written.error().message);
    stored += static_cast<std::int64_t>(written.value().stored);
    duplicates += static_cast<std::int64_t>(written.value().duplicates);
    rows.clear();
  };
  const std::int64_t stored_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
  for (std::int64_t i = 0; i < count; ++i) {
    pemx::sim::GeneratedEvent ev = generator.next();
    const int partition = static_cast<int>(std::hash<std::string>{}(ev.product_id) % 3);
    auto row =
        pemx::store::map_event_row(ev.json, {topic, partition, offsets[partition]++}, stored_at);
    if (!row) {
      ++invalid;
      continue;
    }
    bytes += static_cast<std::int64_t>(ev.json.size());
    if (ev.product_id != last_product && seen.insert(ev.product_id).second) {
      ids << ev.product_id << '\n';
      ++products;
    }
    last_product = ev.product_id;
    rows.push_back(std::move(row.value()));
    if (rows.size() >= batch_size) flush();
  }
  if (!rows.empty()) flush();
  writer.reset();  // closes the writer (its reader pool goes with the last owner)
  // Checkpoint and empty the WAL: the file a long-running web role has, whose writer
  // checkpoints every 1000 pages, not one whose readers must search a 100 MB WAL.
  if (postgres.empty()) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr) !=
            SQLITE_OK) {
      die(kProgram, std::string("checkpoint: ") + (db ? sqlite3_errmsg(db) : "open failed"));
    }
    sqlite3_close_v2(db);
  }
#ifdef PEMX_BENCH_WITH_POSTGRES
  // PostgreSQL: the visibility map and statistics a long-running store has (autovacuum would
  // get there), so that reads are index scans without heap visits for visibility.
  if (!postgres.empty()) {
    std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(postgres.c_str()), &PQfinish);
    if (PQstatus(conn.get()) != CONNECTION_OK) {
      die(kProgram, "vacuum: cannot connect to PostgreSQL");
    }
    std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(conn.get(), "VACUUM ANALYZE events"),
                                                    &PQclear);
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      die(kProgram, std::string("VACUUM ANALYZE events: ") + PQresultErrorMessage(r.get()));
    }
  }
#endif
  ids.close();
  if (!ids) die(kProgram, "writing " + ids_out + " failed");
  const double elapsed = seconds_since(start);

  JsonLine out;
  out.add("tool", kProgram)
      .add("path", postgres.empty() ? path : std::string("postgresql"))
      .add("seed", static_cast<std::int64_t>(seed))
      .add("count", count)
      .add("stored", stored)
      .add("duplicates", duplicates)
      .add("invalid", invalid)
      .add("products", products)
      .add("bytes", bytes)
      .add("elapsed_s", elapsed);
  std::cout << out.str() << std::endl;
  return stored == count ? 0 : 1;
}
