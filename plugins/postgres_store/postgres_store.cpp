// postgres_store stage: the store's PostgreSQL backend (postgres_backend.hpp) under the shared
// writer (src/store/writer.hpp), which batches consumed events and hands each record back on
// its ack queue only after the statement that holds it has committed (or, for an event that
// cannot be stored, after its dead-letter copy is acknowledged). This file is the factory: it
// reads the section, connects (and migrates) and wires the writer to the backend; README.md
// describes the stage.
//
// Threads: the writer's worker thread is the backend's only writer; HTTP threads use the
// reader, which has its own connections.
#include "postgres_store/postgres_store.hpp"

#include <sstream>
#include <stdexcept>
#include <vector>

#include "core/config.hpp"
#include "core/config_section.hpp"
#include "postgres_store/postgres_backend.hpp"
#include "store/import.hpp"
#include "store/writer.hpp"
#include "store/writer_config.hpp"

namespace pemx::postgres_store {

namespace {

using namespace std::chrono_literals;

struct Settings {
  store::WriterSettings writer;  // the keys every store stage shares (writer_config.hpp)
  StoreOptions store;
};

class Spec final : public StageSpec {
 public:
  explicit Spec(Settings s) : s_(std::move(s)) {}
  std::vector<QueuePort> ports() const override {
    return {{s_.writer.input, PortDirection::kIn}, {s_.writer.acks, PortDirection::kOut}};
  }
  std::vector<std::string> topics() const override { return {s_.writer.dead_letter_topic}; }
  bool offers_reader() const override { return true; }
  // Names the databases without their passwords (describe_connection).
  std::string describe() const override {
    std::ostringstream out;
    const store::WriterSettings& w = s_.writer;
    out << "PostgreSQL store " << describe_connection(s_.store.connection) << " (" << w.input
        << " -> events table, stored -> " << w.acks << "): batches of up to " << w.batch_size
        << " rows or " << w.batch_linger.count() << " ms, " << s_.store.reader_connections
        << " reader connections";
    if (!s_.store.read_connection.empty()) {
      out << " to " << describe_connection(s_.store.read_connection);
    }
    out << "; validation " << event::validation_mode_name(w.validation)
        << "; unstorable events -> " << w.dead_letter_topic << "\n";
    return out.str();
  }
  std::unique_ptr<Stage> create(StageContext& ctx) const override {
    auto opened = PostgresEventStore::open(s_.store);
    if (!opened) throw std::runtime_error(opened.error().message);
    const PostgresEventStore& db = *opened.value();
    ctx.log.info("store opened",
                 {{"database", db.location()},
                  {"schema_version", db.schema_version()},
                  {"migrated_from", db.migrated_from()},
                  {"batch_size", static_cast<std::int64_t>(s_.writer.batch_size)},
                  {"batch_linger_ms", static_cast<std::int64_t>(s_.writer.batch_linger.count())}});
    return store::make_writer(s_.writer, ctx, std::move(opened.value()));
  }
  // `pemx replay`: connected and migrated as create() does (schema version 2 brings the time
  // range index); the writer connection is closed again, the reader stays.
  Result<std::shared_ptr<EventReader>> open_reader() const override {
    StoreOptions options = s_.store;
    options.reader_connections = 1;  // the replay reads one page at a time
    auto opened = PostgresEventStore::open(options);
    if (!opened) return opened.error();
    return opened.value()->reader();
  }
  // `pemx import FILE`: into this stage's database, with its batch size, retry policy and
  // [events] limits (src/store/import.hpp).
  int run_command(const ToolCall& call) const override {
    if (call.tool != "import") return -1;
    store::ImportOptions options;
    options.batch_size = s_.writer.batch_size;
    options.limits = s_.writer.limits;
    options.validation = s_.writer.validation;
    options.retry = s_.writer.retry;
    options.give_up_after = s_.writer.give_up_after;
    StoreOptions store_options = s_.store;
    store_options.reader_connections = 1;  // the writer is what the import uses
    auto open = [store_options]() -> Result<std::unique_ptr<store::Backend>> {
      auto opened = PostgresEventStore::open(store_options);
      if (!opened) return opened.error();
      return std::unique_ptr<store::Backend>(std::move(opened.value()));
    };
    return store::run_import(call.operands, call.in, call.err, options, open);
  }

 private:
  Settings s_;
};

// A connection string key: required or optional, parsed by libpq (no network), never echoed.
std::string connection_key(ConfigSection& section, std::string_view key, bool required) {
  if (!section.has(key)) {
    if (required) {
      section.error(key, "missing: a libpq connection string, e.g. "
                         "\"postgresql://pemx@db.example:5432/pemx\" (the password may come "
                         "from ~/.pgpass, PGPASSFILE or a service file instead)");
    }
    return {};
  }
  std::string value = section.string(key, "");
  if (value.empty()) {
    section.error(key, "must not be empty (leave the key out instead)");
  } else if (auto why = check_connection_string(value)) {
    section.error(key, "not a valid libpq connection string: " + *why);
  }
  return value;
}

std::unique_ptr<StageSpec> parse(ConfigSection& section, const CommonConfig& common) {
  Settings s;
  s.writer.stage_type = "postgres_store";
  store::parse_writer_settings(section, common, s.writer);
  s.store.connection = connection_key(section, "connection", true);
  s.store.read_connection = connection_key(section, "read_connection", false);
  s.store.reader_connections = static_cast<std::size_t>(
      section.integer("readers", static_cast<std::int64_t>(s.store.reader_connections), 1, 64));
  s.store.statement_timeout =
      section.duration("statement_timeout", s.store.statement_timeout, 0ms, 1h);
  s.store.connect_timeout_s = static_cast<int>(
      std::chrono::duration_cast<std::chrono::seconds>(
          section.duration("connect_timeout", std::chrono::seconds(s.store.connect_timeout_s),
                           1s, 10min))
          .count());
  s.store.reader_wait = section.duration("reader_wait", s.store.reader_wait, 0ms, 1min);
  return std::make_unique<Spec>(std::move(s));
}

}  // namespace

StageFactory factory() {
  return {"postgres_store",
          "stores events in PostgreSQL (batched, idempotent on eventId); acknowledges after commit",
          &parse,
          {}};
}

}  // namespace pemx::postgres_store
