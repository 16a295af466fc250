#pragma once
// Helpers shared by the integration tests of the postgres_store stage (postgres_*_test.cpp):
// the test PostgreSQL (PEMX_TEST_POSTGRES; skipped when unset), the web role's config on it,
// rows in its events table, /readyz waits, and the server's fault controls
// (tests/postgres/postgres.sh kill, restart, pause, resume).
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "integration/pemx_runner.hpp"
#include "plugins/postgres_store/pg_fixture.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"

namespace pemx::test {

using namespace std::chrono_literals;
using pemx::postgres_store::test::admin_exec;
using pemx::postgres_store::test::admin_value;
using pemx::postgres_store::test::TestSchema;

// pemx.toml (prefixed) with the web role's store on PostgreSQL instead of SQLite.
inline std::string postgres_config(const std::string& prefix, const std::string& connection,
                                   const std::string& extra = "") {
  std::string text = prefixed_config(prefix);
  const std::string type = "type = \"sqlite_store\"\n";
  const auto at = text.find(type);
  REQUIRE(at != std::string::npos);
  const auto path_end = text.find('\n', at + type.size());
  REQUIRE(text.compare(at + type.size(), 5, "path ") == 0);
  text.replace(at, path_end - at,
               "type = \"postgres_store\"\nconnection = \"" + connection + "\"\n" + extra);
  return text;
}

inline std::int64_t rows(const std::string& connection) {
  return std::stoll(admin_value(connection, "SELECT count(*) FROM events"));
}

inline HttpResponse wait_ready_status(std::uint16_t port, int status,
                                      std::chrono::seconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  HttpResponse r = http_get(port, "/readyz");
  while (r.status != status && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);
    r = http_get(port, "/readyz");
  }
  return r;
}

// The password of a postgresql://user:password@host/... string.
inline std::string password_of(const std::string& uri) {
  const auto colon = uri.find(':', uri.find("://") + 3);
  const auto at = uri.find('@');
  REQUIRE(colon < at);
  return uri.substr(colon + 1, at - colon - 1);
}

// The test server's port (from its connection string ...@127.0.0.1:PORT/db).
inline std::string postgres_port(const std::string& uri) {
  const auto at = uri.find('@');
  const auto colon = uri.find(':', at);
  const auto slash = uri.find('/', colon);
  REQUIRE(colon != std::string::npos);
  return uri.substr(colon + 1, slash - colon - 1);
}

// tests/postgres/postgres.sh COMMAND PORT on the test server (kill, restart, pause, resume).
inline void postgres_control(const std::string& uri, const std::string& command) {
  auto r = run("/bin/bash", {std::string(PEMX_SOURCE_DIR) + "/tests/postgres/postgres.sh",
                             command, postgres_port(uri)});
  INFO("postgres.sh " << command << ": " << r.err);
  REQUIRE(r.code == 0);
}

// A login role of its own for one test, created on construction and dropped by the
// destructor whatever the test does. Grant it roles (memberships go with it), not
// privileges on objects that outlive it (the test role may not DROP OWNED).
class TestRole {
 public:
  TestRole(std::string base, std::string name, std::string password)
      : base_(std::move(base)), name_(std::move(name)), password_(std::move(password)) {
    admin_exec(base_, "CREATE ROLE " + name_ + " LOGIN PASSWORD '" + password_ + "'");
  }
  ~TestRole() {
    try {
      admin_exec(base_, "DROP ROLE IF EXISTS " + name_);
    } catch (...) {
    }
  }
  TestRole(const TestRole&) = delete;
  TestRole& operator=(const TestRole&) = delete;
  const std::string& name() const { return name_; }
  const std::string& password() const { return password_; }
  // The test server's URI (host, port, database) logged in as this role; `query` ("?...")
  // appended.
  std::string uri(const std::string& query) const {
    return "postgresql://" + name_ + ":" + password_ + base_.substr(base_.find('@')) + query;
  }

 private:
  std::string base_;
  std::string name_;
  std::string password_;
};

// A fault injected into the test server, undone by the destructor (resumed and restarted)
// whatever the test does, so that a failing test never leaves the shared server down.
class PostgresFault {
 public:
  explicit PostgresFault(std::string uri) : uri_(std::move(uri)) {}
  ~PostgresFault() {
    const std::string script = std::string(PEMX_SOURCE_DIR) + "/tests/postgres/postgres.sh";
    run("/bin/bash", {script, "resume", postgres_port(uri_)});
    run("/bin/bash", {script, "restart", postgres_port(uri_)});
  }
  PostgresFault(const PostgresFault&) = delete;
  PostgresFault& operator=(const PostgresFault&) = delete;
  void kill() { postgres_control(uri_, "kill"); }
  void restart() { postgres_control(uri_, "restart"); }
  void pause() { postgres_control(uri_, "pause"); }
  void resume() { postgres_control(uri_, "resume"); }

 private:
  std::string uri_;
};

}  // namespace pemx::test
