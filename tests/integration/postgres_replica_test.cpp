// The postgres_store stage with its readers on a streaming replica (`read_connection`), on the
// real broker (PEMX_TEST_BROKERS), the test PostgreSQL (PEMX_TEST_POSTGRES) and its hot-standby
// replica (PEMX_TEST_POSTGRES_REPLICA, tests/postgres/postgres.sh start-replica; both started
// by scripts/test.sh). Skipped with a warning when either is unset.
//
// - the writer on the primary, the readers on the replica: each server holds only its sessions
//   (application_name per side); with the replica's replay paused the history misses what the
//   primary committed since (the reads go there), /readyz stays 200 (lag is not a fault);
// - the replica killed: /readyz 503 naming it, GET /event fails, the writer keeps storing and
//   committing; restarted: ready again, the history holds the events stored meanwhile;
// - read_connection on the primary by mistake, as a role that may only SELECT: it works (the
//   readers never write), with no lag.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "integration/pemx_runner.hpp"
#include "integration/postgres_util.hpp"
#include "integration/web_util.hpp"
#include "plugins/postgres_store/pg_fixture.hpp"
#include "support/http_client.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;
using pemx::postgres_store::test::with_search_path;

namespace {

using Events = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kProducts = "PGR0,PGR1,PGR2,PGR3,PGR4";

std::optional<std::string> test_replica() {
  const char* s = std::getenv("PEMX_TEST_POSTGRES_REPLICA");
  if (s == nullptr || *s == '\0') return std::nullopt;
  return std::string(s);
}

#define PEMX_NEED_REPLICA(var)                                                                 \
  auto var##_opt = test_replica();                                                             \
  if (!var##_opt) {                                                                            \
    WARN("PEMX_TEST_POSTGRES_REPLICA is not set: skipped (scripts/test.sh starts the "        \
         "replica; by hand: export PEMX_TEST_POSTGRES_REPLICA=$(tests/postgres/postgres.sh " \
         "start-replica 55434 55432))");                                                       \
    return;                                                                                    \
  }                                                                                            \
  const std::string var = *var##_opt

// Events first..first+count-1 of products PGR0..PGR4, keyed by product.
Events stream(int first, int count) {
  Events out;
  for (int i = first; i < first + count; ++i) {
    const std::string product = "PGR" + std::to_string(i % 5);
    out.emplace_back(product, event_json(i, product, created_at(i)));
  }
  return out;
}

// Sessions of `server` whose application_name is `name`.
int sessions(const std::string& server, const std::string& name) {
  return std::stoi(admin_value(
      server, "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + name + "'"));
}

// Polls `sql` on `server` until it answers `expected` (bounded); returns the last answer.
std::string wait_value(const std::string& server, const std::string& sql,
                       const std::string& expected, std::chrono::seconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  std::string value = admin_value(server, sql);
  while (value != expected && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);
    value = admin_value(server, sql);
  }
  return value;
}

// Starts the web role on `config` and expects start-up to fail; returns its log.
std::string failed_start(const std::string& config, const std::string& brokers) {
  PemxRunner pemx(config);
  auto& proc = pemx.start("web", {"--set", "kafka.brokers=" + brokers});
  const auto code = proc.wait(30s);
  REQUIRE(code.has_value());
  CHECK(*code != 0);
  return proc.log();
}

// The replica's replay paused; resumed by the destructor whatever the test does.
class PausedReplay {
 public:
  explicit PausedReplay(std::string replica) : replica_(std::move(replica)) {
    admin_exec(replica_, "SELECT pg_wal_replay_pause()");
  }
  ~PausedReplay() { resume(); }
  PausedReplay(const PausedReplay&) = delete;
  PausedReplay& operator=(const PausedReplay&) = delete;
  void resume() {
    if (!paused_) return;
    paused_ = false;
    try {
      admin_exec(replica_, "SELECT pg_wal_replay_resume()");
    } catch (...) {
    }
  }

 private:
  std::string replica_;
  bool paused_ = true;
};

}  // namespace

TEST_CASE("postgres_store: read_connection on a streaming replica: stored on the primary, the "
          "history read from the replica; the replica down: not ready, storing goes on; back: "
          "the history holds what was stored meanwhile",
          "[integration][postgres]") {
  PEMX_NEED_POSTGRES(base);
  PEMX_NEED_REPLICA(replica);
  const std::string brokers = test_brokers();
  TestSchema schema(base);
  PostgresFault replica_fault(replica);  // restarts the replica whatever happens
  const std::string p = unique_prefix();
  const std::string storage = p + "-product-event-storage-pemx";
  const std::string group = p + "-product-event-storage-consumer-pemx";
  create_topic(brokers, storage, 3);

  // Each side names its sessions, so that each server can be asked who is connected.
  const std::string writer_app = schema.name() + "_w";
  const std::string reader_app = schema.name() + "_r";
  const std::string writer = schema.connection() + "&application_name=" + writer_app;
  const std::string reader =
      with_search_path(replica, schema.name()) + "&application_name=" + reader_app;
  // The schema (made on the primary) replayed, so that the replica is streaming.
  REQUIRE(wait_value(replica, "SELECT count(*) FROM pg_namespace WHERE nspname = '" +
                                  schema.name() + "'",
                     "1", 30s) == "1");

  PemxRunner pemx(postgres_config(p, writer,
                                  "read_connection = \"" + reader + "\"\nreaders = 2\n" +
                                      "connect_timeout = \"2s\"\nretry_max = \"500ms\"\n"));
  auto& proc = pemx.start("web", {"--set", "kafka.brokers=" + brokers});
  const auto port = wait_port(proc);
  produce(brokers, storage, stream(0, 100));
  REQUIRE(wait_committed(brokers, group, storage, 100, 60s));
  CHECK(rows(schema.connection()) == 100);
  CHECK(wait_history(port, kProducts, 100, 30s).Size() == 100);  // once replayed
  CHECK(wait_ready_status(port, 200, 30s).status == 200);

  // The writer's one session is on the primary, the readers' on the replica: the pool's two
  // and as many for the asynchronous history (plugins/postgres_store/async_history.hpp).
  CHECK(sessions(base, writer_app) == 1);
  CHECK(sessions(replica, writer_app) == 0);
  CHECK(sessions(replica, reader_app) == 4);
  CHECK(sessions(base, reader_app) == 0);

  {
    // Replay paused: the primary stores and commits 50 more, the history (the replica's) does
    // not show them, and lag is not a readiness problem.
    PausedReplay paused(replica);
    produce(brokers, storage, stream(100, 50));
    REQUIRE(wait_committed(brokers, group, storage, 150, 60s));
    CHECK(rows(schema.connection()) == 150);
    auto lagging = http_get(port, std::string("/event?productIds=") + kProducts);
    REQUIRE(lagging.status == 200);
    CHECK(parse_json(lagging.body).Size() == 100);
    CHECK(http_get(port, "/readyz").status == 200);
    paused.resume();
    CHECK(wait_history(port, kProducts, 150, 30s).Size() == 150);
  }

  // The replica down: /readyz 503 naming it, history fails; the writer stores and commits.
  replica_fault.kill();
  auto down = wait_ready_status(port, 503, 30s);
  CHECK(down.status == 503);
  CHECK(down.body.find("127.0.0.1:" + postgres_port(replica) + "/") != std::string::npos);
  CHECK(http_get(port, std::string("/event?productIds=") + kProducts).status != 200);
  produce(brokers, storage, stream(150, 50));
  REQUIRE(wait_committed(brokers, group, storage, 200, 60s));
  CHECK(rows(schema.connection()) == 200);
  CHECK(wait_ready_status(port, 503, 5s).status == 503);
  // Another web instance cannot start meanwhile: its readers connect at start-up.
  const std::string other =
      failed_start(postgres_config(p, writer, "read_connection = \"" + reader + "\"\n" +
                                                  "connect_timeout = \"2s\"\n"),
                   brokers);
  CHECK(other.find("127.0.0.1:" + postgres_port(replica) + "/pemx_test: cannot connect") !=
        std::string::npos);

  // Back: ready again, and the events stored while it was down are in the history.
  replica_fault.restart();
  CHECK(wait_ready_status(port, 200, 30s).status == 200);
  CHECK(wait_history(port, kProducts, 200, 30s).Size() == 200);
  CHECK(sessions(base, reader_app) == 0);
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
  CHECK(proc.log().find(password_of(base)) == std::string::npos);
}

TEST_CASE("postgres_store: read_connection on the primary by mistake, as a role that may only "
          "read: the history is answered (the readers never write), without lag",
          "[integration][postgres]") {
  PEMX_NEED_POSTGRES(base);
  const std::string brokers = test_brokers();
  TestSchema schema(base);
  const std::string p = unique_prefix();
  const std::string storage = p + "-product-event-storage-pemx";
  const std::string group = p + "-product-event-storage-consumer-pemx";
  create_topic(brokers, storage, 1);

  // A role that may read every table and write none (PostgreSQL's pg_read_all_data): a
  // write by a reader would fail.
  TestRole role(base, schema.name() + "_ro", "Rd-" + schema.name());
  admin_exec(base, "GRANT pg_read_all_data TO " + role.name());
  const std::string reader_app = schema.name() + "_r";
  const std::string reader = role.uri("?options=-csearch_path%3D" + schema.name() +
                                      "&application_name=" + reader_app);

  PemxRunner pemx(postgres_config(p, schema.connection(),
                                  "read_connection = \"" + reader + "\"\nreaders = 2\n"));
  auto& proc = pemx.start("web", {"--set", "kafka.brokers=" + brokers});
  const auto port = wait_port(proc);
  produce(brokers, storage, stream(0, 40));
  REQUIRE(wait_committed(brokers, group, storage, 40, 60s));
  // Committed on the primary, hence already visible: no lag to wait for.
  auto history = http_get(port, std::string("/event?productIds=") + kProducts);
  REQUIRE(history.status == 200);
  CHECK(parse_json(history.body).Size() == 40);
  CHECK(wait_ready_status(port, 200, 30s).status == 200);
  CHECK(sessions(base, reader_app) == 4);  // the pool's 2 and the asynchronous history's 2
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
  CHECK(proc.log().find(role.password()) == std::string::npos);
}

TEST_CASE("postgres_store: a replica behind the migrations at start-up: the web role waits "
          "until it replayed them (within connect_timeout), else fails to start naming it",
          "[integration][postgres]") {
  PEMX_NEED_POSTGRES(base);
  PEMX_NEED_REPLICA(replica);
  const std::string brokers = test_brokers();
  TestSchema schema(base);
  const std::string p = unique_prefix();
  REQUIRE(wait_value(replica, "SELECT count(*) FROM pg_namespace WHERE nspname = '" +
                                  schema.name() + "'",
                     "1", 30s) == "1");
  const std::string reader = with_search_path(replica, schema.name());
  const std::string migrated = "SELECT count(*) FROM pg_tables WHERE schemaname = '" +
                               schema.name() + "' AND tablename = 'events'";
  {
    // A brand-new database: pemx migrates the primary, the replica's replay is paused.
    PausedReplay paused(replica);
    PemxRunner pemx(postgres_config(p, schema.connection(),
                                    "read_connection = \"" + reader + "\"\n" +
                                        "connect_timeout = \"30s\"\n"));
    auto& proc = pemx.start("web", {"--set", "kafka.brokers=" + brokers});
    REQUIRE(wait_value(schema.connection(), migrated, "1", 30s) == "1");
    CHECK(admin_value(reader, migrated) == "0");
    // It cannot get past the wait while the replay is paused: neither listening nor failed.
    CHECK(proc.running());
    CHECK(proc.log().find("\"msg\":\"listening\"") == std::string::npos);
    paused.resume();
    const auto port = wait_port(proc);
    CHECK(wait_ready_status(port, 200, 30s).status == 200);
    CHECK(http_get(port, std::string("/event?productIds=") + kProducts).status == 200);
    proc.signal(SIGTERM);
    CHECK(proc.wait(60s) == 0);
  }
  {
    // Paused for longer than connect_timeout, with a new migration to replay (a schema
    // reset): start-up fails, naming the replica and what to check.
    admin_exec(schema.connection(), "DROP TABLE events, pemx_schema_migrations");
    REQUIRE(wait_value(reader, migrated, "0", 30s) == "0");
    PausedReplay paused(replica);
    const std::string log = failed_start(
        postgres_config(p, schema.connection(),
                        "read_connection = \"" + reader + "\"\nconnect_timeout = \"1s\"\n"),
        brokers);
    CHECK(log.find("127.0.0.1:" + postgres_port(replica) + "/pemx_test (read_connection) is a "
                   "standby that has not replayed") != std::string::npos);
    CHECK(log.find(password_of(base)) == std::string::npos);
  }
}
