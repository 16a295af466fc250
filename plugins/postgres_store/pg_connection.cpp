#include "postgres_store/pg_connection.hpp"

#include <libpq-fe.h>

#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <vector>

namespace pemx::postgres_store {

namespace {

constexpr std::string_view kMask = "***";

struct OptionsDeleter {
  void operator()(PQconninfoOption* options) const noexcept { PQconninfoFree(options); }
};
using OptionsPtr = std::unique_ptr<PQconninfoOption, OptionsDeleter>;

// libpq's parse of the string (URI or key=value); null when it cannot parse it. The message
// goes nowhere: it may quote the string.
OptionsPtr parse(std::string_view conninfo, std::string* why = nullptr) {
  std::string text(conninfo);
  char* err = nullptr;
  OptionsPtr options(PQconninfoParse(text.c_str(), &err));
  if (err != nullptr) {
    if (why != nullptr) *why = err;
    PQfreemem(err);
  }
  return options;
}

void replace_all(std::string& text, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  for (std::size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + with.size())) {
    text.replace(at, what.size(), with);
  }
}

// "scheme://user:password@host": masks every user-info password, whatever string it is in.
void mask_uri_passwords(std::string& text) {
  for (std::size_t scheme = text.find("://"); scheme != std::string::npos;
       scheme = text.find("://", scheme + 3)) {
    const std::size_t start = scheme + 3;
    // Not up to the first '/': a password with an unescaped '/' ("u:ab/cd@host") must be
    // masked whole too (check_connection_string refuses such a string, libpq may quote it).
    const std::size_t end = text.find_first_of("?# \t\n'\"", start);
    const std::size_t at = text.rfind('@', end == std::string::npos ? text.size() : end);
    if (at == std::string::npos || at < start) continue;
    const std::size_t colon = text.find(':', start);
    if (colon == std::string::npos || colon > at) continue;
    text.replace(colon + 1, at - colon - 1, kMask);
  }
}

// key=value pairs whose key names a secret (password, sslpassword; spaces around '=' allowed,
// as libpq allows them): the value is masked, quoted or not.
void mask_secret_keys(std::string& text) {
  constexpr std::string_view key = "password";
  for (std::size_t at = text.find(key); at != std::string::npos;
       at = text.find(key, at + key.size())) {
    std::size_t start = at + key.size();
    while (start < text.size() && text[start] == ' ') ++start;
    if (start >= text.size() || text[start] != '=') continue;
    ++start;
    while (start < text.size() && text[start] == ' ') ++start;
    std::size_t end = start;
    if (end < text.size() && text[end] == '\'') {
      ++end;
      while (end < text.size() && text[end] != '\'') end += text[end] == '\\' ? 2 : 1;
      end = end < text.size() ? end + 1 : text.size();
    } else {
      while (end < text.size() && text[end] != ' ' && text[end] != '&' && text[end] != '\n') {
        ++end;
      }
    }
    if (text.compare(start, end - start, kMask) == 0) continue;
    text.replace(start, end - start, kMask);
  }
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// The server's notices (NOTICE, WARNING) would go to stderr, unstructured: dropped.
void ignore_notice(void*, const char*) {}

std::optional<Error> apply_settings(PGconn* conn, const ConnectOptions& options,
                                    const std::string& where) {
  PQsetNoticeProcessor(conn, &ignore_notice, nullptr);
  if (options.statement_timeout_ms > 0) {
    const std::string sql =
        "SET statement_timeout = " + std::to_string(options.statement_timeout_ms);
    if (auto e = exec(conn, sql.c_str(), "set statement_timeout", where, options.conninfo)) {
      return e;
    }
  }
  if (options.read_only) {
    if (auto e = exec(conn, "SET default_transaction_read_only = on", "set read only", where,
                      options.conninfo)) {
      return e;
    }
  }
  return std::nullopt;
}

}  // namespace

void ConnDeleter::operator()(PGconn* conn) const noexcept { PQfinish(conn); }
void ResultDeleter::operator()(PGresult* result) const noexcept { PQclear(result); }

std::string describe_connection(std::string_view conninfo) {
  OptionsPtr options = parse(conninfo);
  if (!options) return "(unparsable connection string)";
  std::string user, host, hostaddr, port, dbname, service;
  for (PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string_view key(o->keyword);
    if (key == "user") user = o->val;
    if (key == "host") host = o->val;
    if (key == "hostaddr") hostaddr = o->val;
    if (key == "port") port = o->val;
    if (key == "dbname") dbname = o->val;
    if (key == "service") service = o->val;
  }
  std::string out;
  if (!service.empty()) out += "service " + service + " ";
  if (!user.empty()) out += user + "@";
  out += host.empty() ? (hostaddr.empty() ? "(default host)" : hostaddr) : host;
  if (!port.empty()) out += ":" + port;
  out += "/" + (dbname.empty() ? std::string("(default database)") : dbname);
  return redact(out, conninfo);
}

std::string redact(std::string_view text, std::string_view conninfo) {
  std::string out(text);
  if (OptionsPtr options = parse(conninfo)) {
    for (PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
      if (o->val == nullptr || *o->val == '\0') continue;
      std::string_view key(o->keyword);
      if (key == "password" || key == "sslpassword") replace_all(out, o->val, kMask);
    }
  }
  mask_uri_passwords(out);
  mask_secret_keys(out);
  return out;
}

std::optional<std::string> check_connection_string(std::string_view conninfo) {
  // libpq ends a URI's user info at the first '/', so "postgresql://u:ab/cd@host/db" parses
  // as host "u", port "ab" and database "cd@host/db": the password would be shown as the
  // database (check-config, logs). An '@' after the first '/' (before the query) says so.
  for (std::string_view scheme : {"postgresql://", "postgres://"}) {
    if (conninfo.substr(0, scheme.size()) != scheme) continue;
    std::string_view rest = conninfo.substr(scheme.size());
    rest = rest.substr(0, rest.find('?'));
    const std::size_t slash = rest.find('/');
    if (slash != std::string_view::npos && rest.find('@', slash) != std::string_view::npos) {
      return "an '@' after the first '/' of the URI: a user or password with an unescaped '/' "
             "is read as host, port and database; percent-encode it ('/' as %2F, '@' as %40, "
             "'?' as %3F, '#' as %23, '%' as %25)";
    }
  }
  std::string why;
  if (parse(conninfo, &why)) return std::nullopt;
  // libpq's reason may quote a part of the string, a password perhaps: redact it, and when the
  // string cannot even be parsed for that, say only that it is not valid.
  std::string reason = trimmed(redact(why, conninfo));
  if (reason.find(std::string(conninfo)) != std::string::npos) reason = "not a valid string";
  return reason;
}

Result<ConnPtr> connect(const ConnectOptions& options) {
  const std::string where = describe_connection(options.conninfo);
  const std::string timeout = std::to_string(options.connect_timeout_s);
  // dbname last and expanded: the string's own settings win over these defaults.
  std::array<const char*, 4> keys{"application_name", "connect_timeout", "dbname", nullptr};
  std::array<const char*, 4> values{options.application_name.c_str(), timeout.c_str(),
                                    options.conninfo.c_str(), nullptr};
  ConnPtr conn(PQconnectdbParams(keys.data(), values.data(), 1));
  if (!conn) {
    return Error{std::string(kConnectionLost),
                 "PostgreSQL " + where + ": out of memory while connecting"};
  }
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return Error{std::string(kConnectionLost),
                 "PostgreSQL " + where + ": cannot connect: " +
                     trimmed(redact(PQerrorMessage(conn.get()), options.conninfo)) +
                     "; check that the server runs and the connection string (host, port, "
                     "user, password or its ~/.pgpass / PGPASSFILE, sslmode)"};
  }
  if (auto e = apply_settings(conn.get(), options, where)) return *e;
  return conn;
}

std::optional<Error> reconnect(PGconn* conn, const ConnectOptions& options,
                               const std::atomic<bool>* interrupted,
                               const std::function<void(int)>& on_socket) {
  const std::string where = describe_connection(options.conninfo);
  auto failed = [&](std::string why) {
    return Error{std::string(kConnectionLost),
                 "PostgreSQL " + where + ": cannot reconnect: " + std::move(why)};
  };
  // The connection's own connect_timeout (the string's, else ours as connect() set it).
  int timeout_s = options.connect_timeout_s;
  if (PQconninfoOption* info = PQconninfo(conn)) {
    for (PQconninfoOption* o = info; o->keyword != nullptr; ++o) {
      if (std::string_view(o->keyword) == "connect_timeout" && o->val != nullptr &&
          std::atoi(o->val) > 0) {
        timeout_s = std::max(2, std::atoi(o->val));  // libpq's minimum too
      }
    }
    PQconninfoFree(info);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  if (PQresetStart(conn) == 0) {
    return failed(trimmed(redact(PQerrorMessage(conn), options.conninfo)));
  }
  // libpq's asynchronous connect: wait for the socket as PQresetPoll asks, in slices, so
  // that an interruption or the timeout ends the wait.
  for (PostgresPollingStatusType status = PGRES_POLLING_WRITING;;) {
    if (status == PGRES_POLLING_OK) break;
    if (status == PGRES_POLLING_FAILED) {
      return failed(trimmed(redact(PQerrorMessage(conn), options.conninfo)));
    }
    bool ready = false;
    for (;;) {
      if (interrupted != nullptr && interrupted->load()) {
        return failed("interrupted (pemx is shutting down)");
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        return failed("no answer within connect_timeout (" + std::to_string(timeout_s) + " s)");
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
      pollfd fd{PQsocket(conn), static_cast<short>(status == PGRES_POLLING_READING ? POLLIN
                                                                                   : POLLOUT),
                0};
      if (fd.fd < 0) return failed("no socket");
      const int n = ::poll(&fd, 1, static_cast<int>(std::min<long long>(left, 100)));
      if (n > 0) {
        ready = true;
        break;
      }
      if (n < 0 && errno != EINTR) return failed("poll failed");
    }
    if (ready) status = PQresetPoll(conn);
  }
  if (on_socket) on_socket(PQsocket(conn));
  return apply_settings(conn, options, where);
}

bool connection_ok(const PGconn* conn) {
  return conn != nullptr && PQstatus(conn) == CONNECTION_OK;
}

bool lost_connection(const PGconn* conn, const PGresult* result) {
  return !connection_ok(conn) || result == nullptr ||
         PQresultErrorField(result, PG_DIAG_SQLSTATE) == nullptr;
}

Error pg_error(const PGconn* conn, const PGresult* result, std::string_view what,
               std::string_view where, std::string_view conninfo) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string code;
  // No SQLSTATE: the server sent no error; libpq made this one (the server closed the
  // connection, a send failed, no answer), and may still call the connection OK.
  if (lost_connection(conn, result)) {
    code = kConnectionLost;
  } else {
    code = state;
  }
  std::string detail = result != nullptr ? PQresultErrorMessage(result) : "";
  if (detail.empty() && conn != nullptr) detail = PQerrorMessage(conn);
  std::string message = "PostgreSQL " + std::string(what) + " failed on " + std::string(where) +
                        ": " + trimmed(redact(detail, conninfo));
  if (code == kConnectionLost) message += " (connection lost; pemx reconnects and retries)";
  return Error{std::move(code), std::move(message)};
}

std::optional<Error> exec(PGconn* conn, const char* sql, std::string_view what,
                          std::string_view where, std::string_view conninfo) {
  ResultPtr result(PQexec(conn, sql));
  const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return std::nullopt;
  return pg_error(conn, result.get(), what, where, conninfo);
}

bool transient(const Error& error) {
  const std::string& c = error.code;
  if (c == kConnectionLost) return true;
  static constexpr std::array<std::string_view, 12> kTransient{
      "40001",  // serialization_failure
      "40P01",  // deadlock_detected
      "53000",  // insufficient_resources
      "53100",  // disk_full
      "53200",  // out_of_memory
      "53300",  // too_many_connections
      "55P03",  // lock_not_available
      "57014",  // query_canceled (statement_timeout)
      "57P01",  // admin_shutdown
      "57P02",  // crash_shutdown
      "57P03",  // cannot_connect_now
      "25006",  // read_only_sql_transaction (a standby, or a failover under way)
  };
  for (std::string_view t : kTransient) {
    if (c == t) return true;
  }
  return c.size() == 5 && c.compare(0, 2, "08") == 0;  // connection_exception class
}

bool row_fault(const Error& error) {
  const std::string& c = error.code;
  return c.size() == 5 && (c.compare(0, 2, "22") == 0 || c.compare(0, 2, "54") == 0);
}

}  // namespace pemx::postgres_store
