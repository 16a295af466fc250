// pemx_bench_pg_baseline: the baseline PEMX's PostgreSQL storage path (kafka_ingest ->
// postgres_store in the web role) is measured against. A plain program doing the same Kafka and
// PostgreSQL work, with none of PEMX's stages, queues, validation or dead-lettering:
//
//   - consume the storage topic from the beginning in a consumer group, with the consumer
//     settings of plugins/kafka_ingest (manual commits, auto.offset.reset=earliest, 16 MiB
//     prefetch);
//   - parse each event with RapidJSON (full precision, as the store does) and append the row
//     plugins/postgres_store stores (the same columns and values: created_ms from createdAt,
//     data re-serialised, the raw value, the source position, stored_at_ms) to twelve array
//     literals, one per column, as the backend builds them (only the first row of an event id
//     within a batch is sent);
//   - the backend's batches: at most --batch-size rows (500), closed --linger-ms (20) after the
//     batch's first row when not full; each batch is the backend's one statement, prepared once:
//     INSERT INTO events ... SELECT * FROM unnest($1..$12 arrays) ON CONFLICT (event_id) DO
//     NOTHING RETURNING event_id, in autocommit (one statement, one transaction, committed when
//     it returns; the server's synchronous_commit, on in tests/postgres/postgres.sh);
//   - after each batch committed, commit its offsets to Kafka (asynchronously; synchronously at
//     the end);
//   - exit once N rows are stored and the final commit is done.
//
// The table (the postgres_store schema, version 1) is created by this program in the schema
// its connection string's search_path names (the script creates a fresh one per run).
// Single thread; rows are appended as they are consumed (no copy of the event; PEMX maps a
// whole batch first, then builds the arrays), so this is the fastest simple way to do the work.
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "bench_util.hpp"
#include "event/time.hpp"

namespace {

constexpr const char* kProgram = "pemx_bench_pg_baseline";
constexpr const char* kUsage = R"(pemx_bench_pg_baseline — plain librdkafka + libpq, the PEMX PostgreSQL store baseline

Usage: pemx_bench_pg_baseline --connection CONNINFO [options]
  --connection CONNINFO     libpq connection string; its search_path must name an empty
                            schema (the table is created there)
  --brokers LIST            bootstrap servers (default 127.0.0.1:9092)
  --topic NAME              input topic (default product-event-storage-pemx)
  --group ID                consumer group (default pemx-bench-pg-baseline); use a fresh one
                            to start from the beginning
  --count N                 rows to store before exiting (default 200000)
  --batch-size N            rows per statement at most (default 500, as postgres_store)
  --linger-ms MS            send a non-full batch this long after its first row (default 20)
  --timeout SECONDS         give up after this long (default 300)
  --property K=V            extra librdkafka consumer property (repeatable)

Prints one JSON line: elapsed_s / events_per_s (program start to the final offset commit),
rows_elapsed_s / rows_events_per_s (program start to the last PostgreSQL commit), batches, …
Exit 0 only if N rows were stored and their offsets committed.
)";

// plugins/postgres_store/schema.cpp, version 1 (table and index).
constexpr const char* kSchema = R"sql(
CREATE TABLE events (
  event_id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  event_type       TEXT COLLATE "C" NOT NULL,
  product_id       TEXT COLLATE "C" NOT NULL,
  region           TEXT COLLATE "C" NOT NULL,
  created_at       TEXT NOT NULL,
  created_ms       BIGINT NOT NULL,
  data_json        TEXT NOT NULL,
  raw_json         TEXT NOT NULL,
  source_topic     TEXT NOT NULL,
  source_partition INTEGER NOT NULL,
  source_offset    BIGINT NOT NULL,
  stored_at_ms     BIGINT NOT NULL
);
CREATE INDEX events_by_product ON events (product_id, created_ms DESC, event_id DESC);
)sql";

// plugins/postgres_store/postgres_backend.cpp
constexpr const char* kInsert = R"sql(
INSERT INTO events (event_id, event_type, product_id, region, created_at, created_ms, data_json,
                    raw_json, source_topic, source_partition, source_offset, stored_at_ms)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                     $7::text[], $8::text[], $9::text[], $10::integer[], $11::bigint[],
                     $12::bigint[])
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
)sql";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// An array literal, built as the backend builds it: {"a","b\"c"} / {1,2}.
class ArrayLiteral {
 public:
  void clear() { out_.clear(); }
  void add(std::string_view text) {
    out_ += out_.empty() ? '{' : ',';
    out_ += '"';
    std::size_t from = 0;
    for (;;) {
      std::size_t at = text.find_first_of("\"\\", from);
      if (at == std::string_view::npos) break;
      out_.append(text.data() + from, at - from);
      out_ += '\\';
      out_ += text[at];
      from = at + 1;
    }
    out_.append(text.data() + from, text.size() - from);
    out_ += '"';
  }
  void add(std::int64_t number) {
    out_ += out_.empty() ? '{' : ',';
    out_ += std::to_string(number);
  }
  const char* finish() {
    if (out_.empty()) out_ += '{';
    out_ += '}';
    return out_.c_str();
  }

 private:
  std::string out_;
};

const rapidjson::Value* member(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string_view view(const rapidjson::Value* v) {
  return std::string_view(v->GetString(), v->GetStringLength());
}

void ignore_notice(void*, const char*) {}

}  // namespace

int main(int argc, char** argv) {
  using namespace pemx::bench;
  const auto start = Clock::now();
  Options opts(kProgram, kUsage,
               {"connection", "brokers", "topic", "group", "count", "batch-size", "linger-ms",
                "timeout", "property"},
               {"property"});
  opts.parse(argc, argv);
  const std::string conninfo = opts.str("connection", "");
  if (conninfo.empty()) opts.fail("--connection is required");
  const std::string brokers = opts.str("brokers", "127.0.0.1:9092");
  const std::string topic = opts.str("topic", "product-event-storage-pemx");
  const std::string group = opts.str("group", "pemx-bench-pg-baseline");
  const std::int64_t count = opts.integer("count", 200'000, 1, 1'000'000'000);
  const std::int64_t batch_size = opts.integer("batch-size", 500, 1, 1'000'000);
  const auto linger = std::chrono::milliseconds(opts.integer("linger-ms", 20, 0, 10'000));
  const auto deadline = start + std::chrono::seconds(opts.integer("timeout", 300, 1, 86'400));

  // --- PostgreSQL: the store's table, the insert prepared ----------------------------------
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(conninfo.c_str()), &PQfinish);
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    die(kProgram, std::string("connect: ") + (conn ? PQerrorMessage(conn.get()) : "out of memory"));
  }
  PQsetNoticeProcessor(conn.get(), &ignore_notice, nullptr);
  using Result = std::unique_ptr<PGresult, decltype(&PQclear)>;
  {
    Result r(PQexec(conn.get(), kSchema), &PQclear);
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      die(kProgram, std::string("create the table: ") + PQerrorMessage(conn.get()));
    }
    Result p(PQprepare(conn.get(), "insert", kInsert, 0, nullptr), &PQclear);
    if (PQresultStatus(p.get()) != PGRES_COMMAND_OK) {
      die(kProgram, std::string("prepare: ") + PQerrorMessage(conn.get()));
    }
  }

  // --- consumer: the settings of plugins/kafka_ingest --------------------------------------
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", brokers},
      {"client.id", "pemx-bench-pg-baseline"},
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

  // Next offset to commit per partition once the open batch commits (pending), and what was
  // last sent to the broker.
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
  std::array<ArrayLiteral, 12> columns;
  std::unordered_set<std::string> ids_in_batch;  // repeats within a batch are not sent
  ids_in_batch.reserve(static_cast<std::size_t>(batch_size) * 2);
  // in_batch: rows of the open batch (sent or repeated).
  std::int64_t in_batch = 0, stored = 0, duplicates = 0, consumed = 0, batches = 0;
  std::int64_t skipped = 0, consume_errors = 0;
  Clock::time_point batch_due{};
  double first_message_s = -1, rows_elapsed = -1;
  bool timed_out = false;

  auto send_batch = [&] {
    std::array<const char*, 12> values{};
    for (std::size_t c = 0; c < columns.size(); ++c) values[c] = columns[c].finish();
    Result r(PQexecPrepared(conn.get(), "insert", 12, values.data(), nullptr, nullptr, 0),
             &PQclear);
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
      die(kProgram, std::string("insert a batch: ") + PQerrorMessage(conn.get()));
    }
    const std::int64_t inserted = PQntuples(r.get());
    ++batches;
    stored += inserted;
    duplicates += in_batch - inserted;
    in_batch = 0;
    for (auto& c : columns) c.clear();
    ids_in_batch.clear();
    for (const auto& [partition, next] : pending) durable[partition] = next;
    pending.clear();
    commit_offsets(false);  // after each PostgreSQL commit
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
            created_ms = pemx::event::iso8601_to_epoch_ms(view(created));
          }
        }
        auto str = [](const rapidjson::Value* v) { return v != nullptr && v->IsString(); };
        if (!str(id) || !str(type) || !str(product) || !str(region) || !created_ms) {
          ++skipped;  // PEMX dead-letters these; the generator makes none
        } else {
          if (in_batch == 0) batch_due = Clock::now() + linger;
          ++in_batch;
          if (ids_in_batch.emplace(view(id)).second) {
            data_buf.Clear();
            if (data != nullptr) {
              rapidjson::Writer<rapidjson::StringBuffer> w(data_buf);
              data->Accept(w);
            } else {
              data_buf.Put('{');
              data_buf.Put('}');
            }
            columns[0].add(view(id));
            columns[1].add(view(type));
            columns[2].add(view(product));
            columns[3].add(view(region));
            columns[4].add(view(created));
            columns[5].add(*created_ms);
            columns[6].add(std::string_view(data_buf.GetString(), data_buf.GetSize()));
            columns[7].add(std::string_view(static_cast<const char*>(m->payload), m->len));
            columns[8].add(std::string_view(rd_kafka_topic_name(m->rkt)));
            columns[9].add(static_cast<std::int64_t>(m->partition));
            columns[10].add(static_cast<std::int64_t>(m->offset));
            columns[11].add(now_ms());
          }
        }
        pending[m->partition] = m->offset + 1;
      }
      rd_kafka_message_destroy(m);
    }
    if (in_batch > 0 && (in_batch >= batch_size || Clock::now() >= batch_due ||
                         stored + duplicates + skipped + in_batch >= count)) {
      send_batch();
      if (stored + duplicates + skipped >= count) rows_elapsed = seconds_since(start);
    } else if (in_batch == 0 && !pending.empty()) {
      // Only skipped messages since the last batch: nothing to wait for.
      for (const auto& [partition, next] : pending) durable[partition] = next;
      pending.clear();
    }
  }
  const bool ok = !timed_out && stored + duplicates + skipped >= count;
  if (ok) commit_offsets(true);
  const double elapsed = seconds_since(start);

  JsonLine out;
  out.add("tool", kProgram)
      .add("group", group)
      .add("count", count)
      .add("consumed", consumed)
      .add("stored", stored)
      .add("duplicates", duplicates)
      .add("skipped", skipped)
      .add("consume_errors", consume_errors)
      .add("batches", batches)
      .add("batch_size", batch_size)
      .add("first_message_s", first_message_s)
      .add("rows_elapsed_s", rows_elapsed)
      .add("rows_events_per_s", rows_elapsed > 0 ? static_cast<double>(count) / rows_elapsed : 0.0)
      .add("elapsed_s", elapsed)
      .add("events_per_s", ok && elapsed > 0 ? static_cast<double>(count) / elapsed : 0.0)
      .add("timed_out", timed_out);
  std::cout << out.str() << std::endl;

  rd_kafka_consumer_close(consumer.get());
  return ok ? 0 : 1;
}
