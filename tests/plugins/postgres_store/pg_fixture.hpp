#pragma once
// A schema of its own in the test PostgreSQL (PEMX_TEST_POSTGRES, started by scripts/test.sh
// through tests/postgres/postgres.sh) for one test: created on construction, dropped with
// everything in it on destruction. Its connection string sets search_path to it, so stores
// opened on it never see another test's tables.
#include <libpq-fe.h>

#include <atomic>
#include <cstdlib>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>

#include <unistd.h>

namespace pemx::postgres_store::test {

// PEMX_TEST_POSTGRES, or nullopt (the caller WARNs and returns: the test is skipped).
inline std::optional<std::string> test_postgres() {
  const char* s = std::getenv("PEMX_TEST_POSTGRES");
  if (s == nullptr || *s == '\0') return std::nullopt;
  return std::string(s);
}

inline constexpr const char* kSkip =
    "PEMX_TEST_POSTGRES is not set: skipped (scripts/test.sh starts the test PostgreSQL; by "
    "hand: export PEMX_TEST_POSTGRES=$(tests/postgres/postgres.sh start 55432))";

// In a test case: the test server's string in `var`, or a warning and return (skipped).
#define PEMX_NEED_POSTGRES(var)                                   \
  auto var##_opt = pemx::postgres_store::test::test_postgres();  \
  if (!var##_opt) {                                               \
    WARN(pemx::postgres_store::test::kSkip);                      \
    return;                                                       \
  }                                                               \
  const std::string var = *var##_opt

// Runs SQL on a short-lived connection; throws with the server's message on failure (tests
// only).
inline void ignore_notice(void*, const char*) {}

inline void admin_exec(const std::string& conninfo, const std::string& sql) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  PQsetNoticeProcessor(conn, &ignore_notice, nullptr);
  std::string error;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
  } else {
    PGresult* r = PQexec(conn, sql.c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
      error = PQresultErrorMessage(r);
    }
    PQclear(r);
  }
  PQfinish(conn);
  if (!error.empty()) throw std::runtime_error("test PostgreSQL: " + error);
}

// The first column of the first row of a query, as text ("" when no row).
inline std::string admin_value(const std::string& conninfo, const std::string& sql) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  std::string out, error;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
  } else {
    PGresult* r = PQexec(conn, sql.c_str());
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      error = PQresultErrorMessage(r);
    } else if (PQntuples(r) > 0) {
      out = PQgetvalue(r, 0, 0);
    }
    PQclear(r);
  }
  PQfinish(conn);
  if (!error.empty()) throw std::runtime_error("test PostgreSQL: " + error);
  return out;
}

// base's URI with options=-csearch_path=<schema> added.
inline std::string with_search_path(const std::string& base, const std::string& schema) {
  return base + (base.find('?') == std::string::npos ? "?" : "&") +
         "options=-csearch_path%3D" + schema;
}

class TestSchema {
 public:
  explicit TestSchema(std::string base) : base_(std::move(base)) {
    static std::atomic<int> counter{0};
    static const unsigned seed = std::random_device{}();
    name_ = "pemx_t" + std::to_string(getpid()) + "_" + std::to_string(seed % 100000) + "_" +
            std::to_string(counter++);
    admin_exec(base_, "CREATE SCHEMA " + name_);
  }
  ~TestSchema() {
    try {
      admin_exec(base_, "DROP SCHEMA IF EXISTS " + name_ + " CASCADE");
    } catch (...) {
    }
  }
  TestSchema(const TestSchema&) = delete;
  TestSchema& operator=(const TestSchema&) = delete;
  const std::string& name() const { return name_; }
  const std::string& base() const { return base_; }
  // The connection string of a store in this schema.
  std::string connection() const { return with_search_path(base_, name_); }

 private:
  std::string base_;
  std::string name_;
};

}  // namespace pemx::postgres_store::test
