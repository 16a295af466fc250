// sqlite_store stage: the store's SQLite backend (sqlite_backend.hpp) under the shared writer
// (src/store/writer.hpp), which stores each consumed event, batching many rows per
// transaction, and hands each record back on its ack queue only after the transaction that
// holds it has committed (or, for an event that cannot be stored, after its dead-letter copy
// is acknowledged by the broker). This file is the factory: it reads the section, opens the
// database and wires the writer to it; README.md describes the stage.
//
// Threads: the writer's worker thread is the backend's only writer; HTTP threads use the
// reader, which has its own connections (sqlite_backend.hpp).
#include "sqlite_store/sqlite_store.hpp"

#include <unistd.h>

#include <sstream>
#include <stdexcept>
#include <vector>

#include "core/config.hpp"
#include "core/config_section.hpp"
#include "sqlite_store/sqlite_import.hpp"
#include "sqlite_store/sqlite_backend.hpp"
#include "store/writer.hpp"
#include "store/writer_config.hpp"

namespace pemx::sqlite_store {

namespace {

using namespace std::chrono_literals;

struct Settings {
  store::WriterSettings writer;  // the keys every store stage shares (writer_config.hpp)
  StoreOptions store;            // path: the stage's `path`, else store.path
};

const char* sync_name(SyncMode mode) { return mode == SyncMode::kFull ? "full" : "normal"; }

class Spec final : public StageSpec {
 public:
  explicit Spec(Settings s) : s_(std::move(s)) {}
  std::vector<QueuePort> ports() const override {
    return {{s_.writer.input, PortDirection::kIn}, {s_.writer.acks, PortDirection::kOut}};
  }
  std::vector<std::string> topics() const override { return {s_.writer.dead_letter_topic}; }
  bool offers_reader() const override { return true; }
  std::string describe() const override {
    std::ostringstream out;
    const store::WriterSettings& w = s_.writer;
    out << "SQLite store " << s_.store.path << " (" << w.input << " -> events table, stored -> "
        << w.acks << "): WAL, synchronous=" << sync_name(s_.store.synchronous)
        << ", batches of up to " << w.batch_size << " rows or " << w.batch_linger.count()
        << " ms, " << s_.store.reader_connections << " reader connections; validation "
        << event::validation_mode_name(w.validation) << "; unstorable events -> "
        << w.dead_letter_topic << "\n";
    return out.str();
  }
  // Opens (and migrates) the file, then hands it to the shared writer.
  std::unique_ptr<Stage> create(StageContext& ctx) const override {
    auto opened = SqliteEventStore::open(s_.store);
    if (!opened) throw std::runtime_error(opened.error().message);
    const SqliteEventStore& db = *opened.value();
    ctx.log.info("store opened",
                 {{"path", db.path()},
                  {"schema_version", db.schema_version()},
                  {"migrated_from", db.migrated_from()},
                  {"synchronous", sync_name(s_.store.synchronous)},
                  {"batch_size", static_cast<std::int64_t>(s_.writer.batch_size)},
                  {"batch_linger_ms", static_cast<std::int64_t>(s_.writer.batch_linger.count())}});
    return store::make_writer(s_.writer, ctx, std::move(opened.value()));
  }
  // `pemx replay`: the file opened and migrated as create() does (schema version 2 brings the
  // time range index); the writer is closed again, its reader stays.
  // A missing file is an error (opening would create an empty store and replay nothing).
  Result<std::shared_ptr<EventReader>> open_reader() const override {
    if (::access(s_.store.path.c_str(), F_OK) != 0) {
      return Error{"no_store_file", "SQLite store " + s_.store.path +
                                        " does not exist; point store.path (or the stage's "
                                        "path) at the store the web role writes"};
    }
    auto opened = SqliteEventStore::open(s_.store);
    if (!opened) return opened.error();
    return opened.value()->reader();
  }
  // `pemx import FILE`: into this stage's file, with its batch size, busy timeout, retry
  // policy and [events] limits (import.hpp).
  int run_command(const ToolCall& call) const override {
    if (call.tool != "import") return -1;
    ImportOptions options;
    options.store = s_.store;
    options.batch_size = s_.writer.batch_size;
    options.limits = s_.writer.limits;
    options.validation = s_.writer.validation;
    options.retry = s_.writer.retry;
    options.give_up_after = s_.writer.give_up_after;
    return run_import(call.operands, call.in, call.err, options);
  }

 private:
  Settings s_;
};

std::unique_ptr<StageSpec> parse(ConfigSection& section, const CommonConfig& common) {
  Settings s;
  s.writer.stage_type = "sqlite_store";
  store::parse_writer_settings(section, common, s.writer);
  s.store.path = section.string("path", common.store.path);
  if (s.store.path.empty()) {
    section.error("path", "must name a file (leave it out to use store.path)");
  } else if (s.store.path == ":memory:" || s.store.path.rfind("file:", 0) == 0) {
    section.error("path", "\"" + s.store.path +
                              "\": name a plain file: readers open it on their own connections");
  }
  std::string sync = section.string("synchronous", sync_name(s.store.synchronous));
  if (sync == "full") {
    s.store.synchronous = SyncMode::kFull;
  } else if (sync == "normal") {
    s.store.synchronous = SyncMode::kNormal;
  } else {
    section.error("synchronous", "\"" + sync + "\": expected \"full\" or \"normal\"");
  }
  s.store.busy_timeout = section.duration("busy_timeout", s.store.busy_timeout, 0ms, 10min);
  s.store.reader_connections = static_cast<std::size_t>(
      section.integer("readers", static_cast<std::int64_t>(s.store.reader_connections), 1, 64));
  return std::make_unique<Spec>(std::move(s));
}

}  // namespace

StageFactory factory() {
  return {"sqlite_store",
          "stores events in SQLite (batched, idempotent on eventId); acknowledges after commit",
          &parse,
          {{"store.path", "path", StoreConfig{}.path}}};
}

}  // namespace pemx::sqlite_store
