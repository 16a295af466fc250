#pragma once
// libpq handles and the helpers every postgres_store connection shares: RAII owners for
// PGconn and PGresult, connecting with PEMX's defaults, errors as pemx::Error (the SQLSTATE as
// code), which errors are transient, and the redaction that keeps a connection string's
// password out of every message. libpq-fe.h is included only in .cpp files.
//
// Threads: a PGconn is used by one thread at a time (its owner's); the free functions are
// thread-safe.
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pemx/result.hpp"

extern "C" {
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
}

namespace pemx::postgres_store {

struct ConnDeleter {
  void operator()(PGconn* conn) const noexcept;
};
struct ResultDeleter {
  void operator()(PGresult* result) const noexcept;
};
using ConnPtr = std::unique_ptr<PGconn, ConnDeleter>;
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// Error::code of a lost connection (no SQLSTATE: the server is unreachable or went away).
inline constexpr std::string_view kConnectionLost = "connection_lost";
// Error::code of a connection string libpq cannot parse.
inline constexpr std::string_view kBadConnection = "bad_connection_string";

// "user@host:port/dbname" (what libpq will use, from the string and its defaults), never the
// password: how messages name the database. "(unparsable connection string)" when libpq
// cannot parse it; the string itself is never echoed.
std::string describe_connection(std::string_view conninfo);
// `text` with every password the connection string holds (password, sslpassword, the
// password of a URI's user info) replaced by "***", and a URI's user-info password replaced
// wherever one appears. For messages that might quote the string (libpq's parse errors).
std::string redact(std::string_view text, std::string_view conninfo);
// Whether libpq can parse it; the reason (redacted) otherwise. No network.
std::optional<std::string> check_connection_string(std::string_view conninfo);

struct ConnectOptions {
  std::string conninfo;            // a libpq URI or key=value string; it wins over defaults
  std::string application_name = "pemx";
  int connect_timeout_s = 10;      // libpq's connect_timeout, unless the string sets one
  std::int64_t statement_timeout_ms = 0;  // SET statement_timeout; 0: the server's
  bool read_only = false;          // SET default_transaction_read_only = on
};

// Connects (blocking) and applies the session settings. The Error names the database (never
// the password) and says what to check.
Result<ConnPtr> connect(const ConnectOptions& options);
// Re-establishes a connection after it was lost (PQresetStart/PQresetPoll, waiting at most
// the connect timeout: the string's connect_timeout, else options.connect_timeout_s) and
// applies the settings again. When `interrupted` is given, the wait checks it every 100 ms
// and gives up once it is set; `on_socket` (if any) is told the new socket before the
// settings are applied, so that another thread may shut it down (PostgresEventStore's
// interrupt).
std::optional<Error> reconnect(PGconn* conn, const ConnectOptions& options,
                               const std::atomic<bool>* interrupted = nullptr,
                               const std::function<void(int)>& on_socket = {});
bool connection_ok(const PGconn* conn);
// After a failed command: whether it failed because the connection is gone (libpq says so, or
// the error is libpq's own, without a SQLSTATE), so it must be re-established.
bool lost_connection(const PGconn* conn, const PGresult* result);

// Error for a failed command: code = SQLSTATE, or kConnectionLost when the connection is
// gone or the error is libpq's own (no SQLSTATE: the server closed the connection, a send
// failed); message = "PostgreSQL <what> failed on <where>: <libpq message>", redacted.
Error pg_error(const PGconn* conn, const PGresult* result, std::string_view what,
               std::string_view where, std::string_view conninfo);
// Runs SQL with no parameters; nullopt when it succeeded (command ok or tuples).
std::optional<Error> exec(PGconn* conn, const char* sql, std::string_view what,
                          std::string_view where, std::string_view conninfo);

// Lost connection, serialization failure, deadlock, too many connections, admin or crash
// shutdown, cannot connect now, lock not available, statement timeout, out of disk or
// memory, read-only transaction (a replica being promoted): worth retrying.
bool transient(const Error& error);
// Data exceptions (SQLSTATE class 22: a NUL byte, an invalid or untranslatable character, a
// value out of range) and program limits (class 54: an index entry too large): what a row's
// value causes, not the database. Never a transient error.
bool row_fault(const Error& error);

}  // namespace pemx::postgres_store
