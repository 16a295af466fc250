#pragma once
// Server: Boost.Beast HTTP/1.1 on an Asio io_context with a small thread pool, after the Beast
// examples: a listener, one session per connection on its own strand, expires_after before
// every read, header and body limits, keep-alive. Readiness probes (which may wait for Kafka)
// and large store queries run on a separate pool; a small query runs on the I/O thread when a
// reader connection is free at once (inline_queries).
//
// The page: the files of web/ (embedded) at "/", "/api/info", "/api/overview" (figures, rates
// and a 10-minute series sampled every 2 s on an Asio timer) and "/api/live" (Server-Sent
// Events from the Activity ring; each stream reads at its own pace and is told what it missed
// when it falls behind, so a slow client costs no memory).
//
// Connections: at most max_connections at once (live streams included). When a connection is
// pending at the cap, the one idle the longest (waiting for a request or still reading one: a
// slowloris) is closed to make room, so probes are answered however many idle sockets a client
// holds. Connections handling a request and live streams are never closed: when all are busy the
// listener stops calling accept() and new connections wait in the kernel's listen backlog until
// one ends or becomes idle; nothing runs meanwhile. A failed accept (out of file descriptors:
// EMFILE, ENFILE) is retried after a back-off on the acceptor's strand, 10 ms doubling to 1 s
// while it keeps failing, and logged at most once a second with the number of lines suppressed.
//
// The parts, one job per file: the listener (listener.cpp), a connection (session.hpp), the
// guards (guards.hpp), the route table (routes.hpp, api_routes.cpp), the handlers (handlers.hpp)
// and the live stream (live_stream.hpp); what they share is Server::Impl (server_impl.hpp).
//
// Shutdown: stop_accepting() closes the acceptor and makes sessions answer with
// "Connection: close" (idle ones are closed); drain() waits for sessions to end; stop()
// cancels what is left and joins the threads.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/stage_thread.hpp"
#include "http_front/api.hpp"
#include "http_front/auth.hpp"
#include "http_front/guards.hpp"  // host_allowed: users of the server check it too
#include "http_front/idempotency.hpp"
#include "http_front/lineage.hpp"
#include "http_front/tls.hpp"
#include "pemx/activity.hpp"
#include "pemx/event_store.hpp"
#include "pemx/log.hpp"
#include "pemx/metrics.hpp"
#include "pemx/stage.hpp"
#include "http_front/rate_limit.hpp"

namespace pemx::http_front {

class Pusher;

struct ServerSettings {
  std::string listen_key = "http.listen";  // the config key, for messages
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  int io_threads = 2;
  int query_threads = 2;
  bool inline_queries = true;  // small history queries on the I/O thread when a reader is free
  std::size_t max_header_bytes = 8 * 1024;  // the whole header section (RequestParser)
  std::size_t max_header_fields = 100;      // fields in it, empty ones included
  std::size_t max_body_bytes = 1024 * 1024;
  std::chrono::milliseconds idle_timeout{30'000};
  std::chrono::milliseconds push_timeout{10'000};
  bool push_enabled = true;
  // Retries that cannot double (idempotency.hpp): window 0 turns it off.
  IdempotencySettings idempotency;
  // Event limits and the router's decision for the push (its check outlives the server).
  PushRules push_rules;
  // The named tokens and what they may do (auth.hpp); replaced by Server::set_credentials.
  Credentials credentials;
  RateLimits rate_limits;  // per token and per address, by route class (rate_limit.hpp)
  TlsFiles tls;            // cert and key files: HTTPS only on this listener (tls.hpp)
  // The process's reload (POST /api/admin/reload, the rules on /api/info); null: none. It
  // outlives the server (the supervisor's).
  Reloader* reloader = nullptr;
  std::vector<std::string> cors_origins;  // "*" allows any
  // Host names the API answers to, beyond the defaults (see host_allowed); "*": any.
  std::vector<std::string> allowed_hosts;
  HistoryLimits history;
  // GET /event/{eventId}/lineage (lineage.hpp): its limits, and the lookup (null: the route
  // answers 404 "lineage is off" or 503 without a store). Lookups run on a pool of their own,
  // max_concurrent threads, never on the I/O threads nor the history's query pool.
  LineageSettings lineage;
  std::shared_ptr<LineageLookup> lineage_lookup;
  std::size_t max_live_clients = 32;  // concurrent /api/live streams
  // Open connections at most (live streams included); lowered at start() when the process's
  // open-file limit leaves too little room (connection_cap).
  std::size_t max_connections = 512;
  std::chrono::milliseconds live_write_timeout{30'000};  // a stream that cannot write is closed
};

class Server {
 public:
  // activity: the live view's events and the overview's dead letters (may be null).
  // threads: the stage its I/O threads report a failure to (core/stage_thread.hpp); unset:
  // "http_front" with `log`, and a failure aborts.
  Server(ServerSettings settings, Logger log, Metrics& metrics,
         std::shared_ptr<EventReader> reader, Pusher* pusher, Activity* activity,
         std::optional<ThreadOwner> threads = std::nullopt);
  ~Server();
  // Binds and listens (throws with a clear message when it cannot), then runs the threads.
  void start();
  std::uint16_t port() const;
  // Replaces the tokens (a reload: a token removed from a file is refused from the next
  // request on). Any thread. The per-token buckets start full again.
  void set_credentials(Credentials credentials);
  // Reads the certificate and key files again into a new TLS context, used by the connections
  // accepted from then on (SIGHUP). nullopt when reloaded (or without TLS); else the problem
  // ("tls_key_file: …"), and the context in force stays. Any thread.
  std::optional<std::string> reload_tls();
  void stop_accepting() noexcept;
  bool drain(const Deadline& deadline) noexcept;
  void stop() noexcept;

  struct Impl;

 private:
  ThreadOwner threads_;
  std::unique_ptr<Impl> impl_;
};

// File descriptors kept free for everything else in the process (Kafka sockets and pipes,
// SQLite files, the log) when the connection cap is checked against RLIMIT_NOFILE.
constexpr std::uint64_t kReservedFds = 128;

// The connection cap the server applies: max_connections, or less when the open-file soft
// limit `nofile` is below max_connections + kReservedFds (then nofile - kReservedFds, but at
// least half of nofile and at least 1).
std::size_t connection_cap(std::size_t max_connections, std::uint64_t nofile);

}  // namespace pemx::http_front
