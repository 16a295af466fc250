// pemx_bench_sqlite_baseline: the baseline PEMX's storage path (kafka_ingest -> sqlite_store
// in the web role) is measured against. A plain program doing the same Kafka and SQLite work,
// with none of PEMX's stages, queues, validation or dead-lettering:
//
//   - consume the storage topic from the beginning in a consumer group, with the consumer
//     settings of plugins/kafka_ingest (manual commits, auto.offset.reset=earliest, 16 MiB
//     prefetch);
//   - parse each event with RapidJSON (full precision, as the store does) and insert the
//     row plugins/sqlite_store stores: the same table, index, columns and values
//     (created_ms from createdAt, data re-serialised, the raw value, the source position,
//     stored_at_ms), with the store's statement (INSERT … ON CONFLICT (event_id) DO NOTHING);
//   - the store's transactions: WAL, synchronous=FULL (the store's default), at most
//     --batch-size rows per transaction (500), committed --linger-ms (20) after the batch's
//     first row when it is not full;
//   - commit an input offset only after the transaction holding its row committed
//     (asynchronously every --commit-interval-ms, 1 s as in pemx.toml, synchronously at the end);
//   - exit once N rows are stored and the final commit is done.
//
// Single thread; rows are inserted as they are consumed inside the open transaction (no copy
// of the event; PEMX maps a whole batch first, then inserts it), so this is the fastest
// simple way to do the work.
#include <librdkafka/rdkafka.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sqlite3.h>

#include <cstring>
#include <filesystem>
#include <optional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "event/time.hpp"

namespace {

constexpr const char* kProgram = "pemx_bench_sqlite_baseline";
constexpr const char* kUsage = R"(pemx_bench_sqlite_baseline — plain librdkafka + SQLite, the PEMX store baseline

Usage: pemx_bench_sqlite_baseline --path FILE [options]
  --brokers LIST            bootstrap servers (default 127.0.0.1:9092)
  --topic NAME              input topic (default product-event-storage-pemx)
  --group ID                consumer group (default pemx-bench-sqlite-baseline); use a fresh
                            one to start from the beginning
  --count N                 rows to store before exiting (default 200000)
  --path FILE               the SQLite file to create (must not exist)
  --batch-size N            rows per transaction at most (default 500, as sqlite_store)
  --linger-ms MS            commit a non-full batch this long after its first row (default 20)
  --synchronous full|normal SQLite synchronous setting (default full, as sqlite_store)
  --commit-interval-ms MS   async offset commit period (default 1000)
  --cache-kib K             SQLite page cache of the connection (default 0: SQLite's
                            default, 2000 KiB, which sqlite_store keeps); for experiments
  --timeout SECONDS         give up after this long (default 300)
  --property K=V            extra librdkafka consumer property (repeatable)

Prints one JSON line: elapsed_s / events_per_s (program start to the final offset commit),
rows_elapsed_s / rows_events_per_s (program start to the last SQLite commit), batches, …
Exit 0 only if N rows were stored and their offsets committed.
)";

// plugins/sqlite_store/schema.cpp, version 1 (table and index).
constexpr const char* kSchema = R"sql(
CREATE TABLE events (
  event_id         TEXT    NOT NULL PRIMARY KEY,
  event_type       TEXT    NOT NULL,
  product_id       TEXT    NOT NULL,
  region           TEXT    NOT NULL,
  created_at       TEXT    NOT NULL,
  created_ms       INTEGER NOT NULL,
  data_json        TEXT    NOT NULL,
  raw_json         TEXT    NOT NULL,
  source_topic     TEXT    NOT NULL,
  source_partition INTEGER NOT NULL,
  source_offset    INTEGER NOT NULL,
  stored_at_ms     INTEGER NOT NULL
);
CREATE INDEX events_by_product ON events (product_id, created_ms DESC, event_id DESC);
)sql";

// plugins/sqlite_store/sqlite_backend.cpp
constexpr const char* kInsert = R"sql(
INSERT INTO events (event_id, event_type, product_id, region, created_at, created_ms, data_json,
                    raw_json, source_topic, source_partition, source_offset, stored_at_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
ON CONFLICT (event_id) DO NOTHING
)sql";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void sqlite_die(sqlite3* db, const std::string& what) {
  pemx::bench::die(kProgram, what + ": " + (db != nullptr ? sqlite3_errmsg(db) : "?"));
}

void exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) sqlite_die(db, sql);
}

sqlite3_stmt* prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
    sqlite_die(db, std::string("prepare ") + sql);
  }
  return stmt;
}

void step_done(sqlite3* db, sqlite3_stmt* stmt, const char* what) {
  if (sqlite3_step(stmt) != SQLITE_DONE) sqlite_die(db, what);
  sqlite3_reset(stmt);
}

int bind_text(sqlite3_stmt* stmt, int index, const char* text, std::size_t size) {
  return sqlite3_bind_text64(stmt, index, text, size, SQLITE_STATIC, SQLITE_UTF8);
}

const rapidjson::Value* member(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pemx::bench;
  const auto start = Clock::now();
  Options opts(kProgram, kUsage,
               {"brokers", "topic", "group", "count", "path", "batch-size", "linger-ms",
                "synchronous", "commit-interval-ms", "cache-kib", "timeout", "property"},
               {"property"});
  opts.parse(argc, argv);
  const std::string brokers = opts.str("brokers", "127.0.0.1:9092");
  const std::string topic = opts.str("topic", "product-event-storage-pemx");
  const std::string group = opts.str("group", "pemx-bench-sqlite-baseline");
  const std::int64_t count = opts.integer("count", 200'000, 1, 1'000'000'000);
  const std::string path = opts.str("path", "");
  if (path.empty()) opts.fail("--path is required");
  if (std::filesystem::exists(path)) opts.fail("--path " + path + " exists; give a new file");
  const std::int64_t batch_size = opts.integer("batch-size", 500, 1, 100'000);
  const auto linger = std::chrono::milliseconds(opts.integer("linger-ms", 20, 0, 10'000));
  const std::string sync = opts.str("synchronous", "full");
  if (sync != "full" && sync != "normal") opts.fail("--synchronous: full or normal");
  const auto commit_interval =
      std::chrono::milliseconds(opts.integer("commit-interval-ms", 1000, 10, 600'000));
  const std::int64_t cache_kib = opts.integer("cache-kib", 0, 0, 64 << 20);
  const auto deadline = start + std::chrono::seconds(opts.integer("timeout", 300, 1, 86'400));

  // --- SQLite: the store's file settings ---------------------------------------------------
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    sqlite_die(db, "open " + path);
  }
  exec(db, kSchema);
  exec(db, "PRAGMA journal_mode = WAL");
  exec(db, sync == "full" ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  exec(db, "PRAGMA journal_size_limit = 67108864");
  if (cache_kib > 0) {
    exec(db, ("PRAGMA cache_size = -" + std::to_string(cache_kib)).c_str());
  }
  sqlite3_stmt* begin = prepare(db, "BEGIN IMMEDIATE");
  sqlite3_stmt* commit = prepare(db, "COMMIT");
  sqlite3_stmt* insert = prepare(db, kInsert);

  // --- consumer: the settings of plugins/kafka_ingest --------------------------------------
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", brokers},
      {"client.id", "pemx-bench-sqlite-baseline"},
      {"group.id", group},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "false"},
      {"queued.max.messages.kbytes", "16384"}};
  for (const auto& kv : opts.all("property")) props.push_back(split_property(opts, kv));
  Handle consumer = make_client(kProgram, RD_KAFKA_CONSUMER, make_conf(kProgram, props));
  rd_kafka_poll_set_consumer(consumer.get());
  {
    PartitionList topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(consumer.get(), topics.get());
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) die(kProgram, std::string("subscribe: ") + rd_kafka_err2str(e));
  }

  // Offsets: next offset to commit per partition once the open batch commits (pending), and
  // those whose batch has committed (durable), and what was last sent to the broker.
  std::map<std::int32_t, std::int64_t> pending, durable, sent;
  auto commit_offsets = [&](bool sync_commit) {
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(durable.size())));
    for (const auto& [partition, next] : durable) {
      auto it = sent.find(partition);
      if (it != sent.end() && it->second >= next) continue;
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = next;
      sent[partition] = next;
    }
    if (list->cnt == 0) return;
    rd_kafka_resp_err_t e = rd_kafka_commit(consumer.get(), list.get(), sync_commit ? 0 : 1);
    if (sync_commit && e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      die(kProgram, std::string("final commit: ") + rd_kafka_err2str(e));
    }
  };

  rapidjson::Document doc;
  rapidjson::StringBuffer data_buf;
  // in_batch: rows of the open transaction (new or duplicate); in_batch_new: new ones.
  std::int64_t in_batch = 0, in_batch_new = 0, stored = 0, duplicates = 0, consumed = 0,
               batches = 0;
  std::int64_t skipped = 0, consume_errors = 0;
  Clock::time_point batch_due{};
  double first_message_s = -1, rows_elapsed = -1;
  bool timed_out = false;
  auto next_commit = Clock::now() + commit_interval;

  auto commit_batch = [&] {
    step_done(db, commit, "COMMIT");
    ++batches;
    stored += in_batch_new;
    duplicates += in_batch - in_batch_new;
    in_batch = in_batch_new = 0;
    for (const auto& [partition, next] : pending) durable[partition] = next;
    pending.clear();
  };

  while (stored + duplicates + skipped < count) {
    if (Clock::now() >= deadline) {
      timed_out = true;
      break;
    }
    int wait_ms = 100;
    if (in_batch > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(batch_due - Clock::now());
      wait_ms = static_cast<int>(std::max<std::int64_t>(0, left.count()));
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), wait_ms);
    if (m != nullptr) {
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (consume_errors++ < 10) {
          std::cerr << kProgram << ": consume error: " << rd_kafka_message_errstr(m) << "\n";
        }
      } else {
        if (first_message_s < 0) first_message_s = seconds_since(start);
        ++consumed;
        doc.Parse<rapidjson::kParseFullPrecisionFlag>(static_cast<const char*>(m->payload), m->len);
        const rapidjson::Value *id = nullptr, *type = nullptr, *product = nullptr,
                               *region = nullptr, *created = nullptr, *data = nullptr;
        std::optional<std::int64_t> created_ms;
        if (!doc.HasParseError() && doc.IsObject()) {
          id = member(doc, "eventId");
          type = member(doc, "eventType");
          product = member(doc, "productId");
          region = member(doc, "region");
          created = member(doc, "createdAt");
          data = member(doc, "data");
          if (created != nullptr && created->IsString()) {
            created_ms = pemx::event::iso8601_to_epoch_ms(
                std::string_view(created->GetString(), created->GetStringLength()));
          }
        }
        auto str = [](const rapidjson::Value* v) { return v != nullptr && v->IsString(); };
        if (!str(id) || !str(type) || !str(product) || !str(region) || !created_ms) {
          ++skipped;  // PEMX dead-letters these; the generator makes none
        } else {
          if (in_batch == 0) {
            step_done(db, begin, "BEGIN IMMEDIATE");
            batch_due = Clock::now() + linger;
          }
          data_buf.Clear();
          if (data != nullptr) {
            rapidjson::Writer<rapidjson::StringBuffer> w(data_buf);
            data->Accept(w);
          } else {
            data_buf.Put('{');
            data_buf.Put('}');
          }
          const char* source = rd_kafka_topic_name(m->rkt);
          int rc = SQLITE_OK;
          auto bind = [&](int r) {
            if (rc == SQLITE_OK) rc = r;
          };
          bind(bind_text(insert, 1, id->GetString(), id->GetStringLength()));
          bind(bind_text(insert, 2, type->GetString(), type->GetStringLength()));
          bind(bind_text(insert, 3, product->GetString(), product->GetStringLength()));
          bind(bind_text(insert, 4, region->GetString(), region->GetStringLength()));
          bind(bind_text(insert, 5, created->GetString(), created->GetStringLength()));
          bind(sqlite3_bind_int64(insert, 6, *created_ms));
          bind(bind_text(insert, 7, data_buf.GetString(), data_buf.GetSize()));
          bind(bind_text(insert, 8, static_cast<const char*>(m->payload), m->len));
          bind(bind_text(insert, 9, source, std::strlen(source)));
          bind(sqlite3_bind_int64(insert, 10, m->partition));
          bind(sqlite3_bind_int64(insert, 11, m->offset));
          bind(sqlite3_bind_int64(insert, 12, now_ms()));
          if (rc != SQLITE_OK) sqlite_die(db, "bind");
          step_done(db, insert, "INSERT");
          ++in_batch;
          if (sqlite3_changes(db) > 0) ++in_batch_new;  // else: eventId already stored
        }
        pending[m->partition] = m->offset + 1;
      }
      rd_kafka_message_destroy(m);
    }
    if (in_batch > 0 && (in_batch >= batch_size || Clock::now() >= batch_due ||
                         stored + duplicates + skipped + in_batch >= count)) {
      commit_batch();
      if (stored + duplicates + skipped >= count) rows_elapsed = seconds_since(start);
    } else if (in_batch == 0 && !pending.empty()) {
      // Only skipped messages since the last commit: nothing to wait for.
      for (const auto& [partition, next] : pending) durable[partition] = next;
      pending.clear();
    }
    if (Clock::now() >= next_commit) {
      commit_offsets(false);
      next_commit = Clock::now() + commit_interval;
    }
  }
  const bool ok = !timed_out && stored + duplicates + skipped >= count;
  if (ok) commit_offsets(true);
  const double elapsed = seconds_since(start);

  JsonLine out;
  out.add("tool", kProgram)
      .add("group", group)
      .add("path", path)
      .add("count", count)
      .add("consumed", consumed)
      .add("stored", stored)
      .add("duplicates", duplicates)
      .add("skipped", skipped)
      .add("consume_errors", consume_errors)
      .add("batches", batches)
      .add("synchronous", sync)
      .add("batch_size", batch_size)
      .add("first_message_s", first_message_s)
      .add("rows_elapsed_s", rows_elapsed)
      .add("rows_events_per_s", rows_elapsed > 0 ? static_cast<double>(count) / rows_elapsed : 0.0)
      .add("elapsed_s", elapsed)
      .add("events_per_s", ok && elapsed > 0 ? static_cast<double>(count) / elapsed : 0.0)
      .add("timed_out", timed_out);
  std::cout << out.str() << std::endl;

  rd_kafka_consumer_close(consumer.get());
  sqlite3_finalize(begin);
  sqlite3_finalize(commit);
  sqlite3_finalize(insert);
  sqlite3_close_v2(db);
  return ok ? 0 : 1;
}
