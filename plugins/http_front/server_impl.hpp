#pragma once
// What the listener, the sessions, the live streams and the handlers share: the settings and
// the objects the server was given, the io_context and the query pool, the open connections and
// the acceptor's state. Owned by Server; every session and stream holds a reference to it and
// ends before it is destroyed (Server::stop joins the threads first).
//
// Threads: the acceptor's state is touched only on the acceptor's strand (listener.cpp); the
// sets of sessions and streams under sessions_mutex; the atomics from anywhere.
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include "http_front/overview.hpp"
#include "http_front/server.hpp"
#include "pemx/async_history.hpp"
#include "pemx/event_sink.hpp"

namespace pemx::http_front {

class Session;
class LiveStream;

// One generation of the credentials, with their tokens' rate-limit buckets: replaced whole by
// Server::set_credentials; a session keeps the one it last used until the generation changes.
struct AccessState {
  explicit AccessState(Credentials c)
      : credentials(std::move(c)), token_buckets(credentials.tokens.size()) {}
  const Credentials credentials;
  std::mutex mutex;  // token_buckets
  std::vector<std::array<TokenBucket, kRateRoutes>> token_buckets;  // by token index
};

// After a failed accept (out of descriptors) the listener waits before trying again: the
// pending connection stays in the backlog, so an immediate retry fails at once, forever.
constexpr auto kAcceptBackoffFirst = std::chrono::milliseconds(10);
constexpr auto kAcceptBackoffMax = std::chrono::milliseconds(1000);
constexpr auto kSampleEvery = std::chrono::seconds(2);

struct Server::Impl {
  Impl(ServerSettings s, Logger l, Metrics& m, std::shared_ptr<EventReader> r, Pusher* p,
       Activity* a);

  ServerSettings settings;
  Logger log;
  Metrics& metrics;
  std::shared_ptr<EventReader> reader;
  // The same reader when it can give a history page row by row (SQLite), else null: found
  // once here, not per request.
  RowStreamReader* rows;
  // The same reader when it can send a history query without blocking (PostgreSQL), else
  // null: found once here (history_async.hpp).
  AsyncHistoryReader* async_history;
  Pusher* pusher;
  // The push's idempotency table; null when idempotency_window is 0 or the push is off.
  std::unique_ptr<IdempotencyTable> idempotency;
  Activity* activity;
  Overview overview;
  // Declared before the io_context: handlers it destroys last may still end sessions.
  std::atomic<bool> stopping{false};
  // Set by stop() once the I/O threads are joined, before the query pool is: nothing may be
  // posted to the pool after it (handlers the io_context destroys last, history_async.cpp).
  std::atomic<bool> queries_closed{false};
  std::atomic<int> sessions{0};
  std::atomic<std::size_t> stream_count{0};
  std::mutex sessions_mutex;
  std::set<std::weak_ptr<Session>, std::owner_less<std::weak_ptr<Session>>> live;
  std::set<std::weak_ptr<LiveStream>, std::owner_less<std::weak_ptr<LiveStream>>> streams;
  // Whether each I/O thread runs an io_context of its own (session_iocs), only when the store
  // answers history without blocking (async_history: PostgreSQL). Then the first I/O thread's
  // io_context (ioc) holds the acceptor, the sampler and its share of the sessions, and the
  // listener deals new connections out in turn: a connection's reads, writes and store socket
  // (history_async.hpp) are all on the one thread that sleeps in its epoll, where one
  // io_context run by several threads woke a second thread for nearly every completion (the
  // reactor is handed over while a handler runs: bench/run_history.sh on PostgreSQL).
  // Otherwise (SQLite, no store) every I/O thread runs the one shared ioc, as before: a handler
  // that blocks its thread (SQLite's inline history, a cold page of the mapped file) then
  // delays no other connection, where a connection dealt to that thread's own io_context
  // would wait for it (tests/plugins/http_front/io_threads_test.cpp).
  const bool ioc_per_thread;
  boost::asio::io_context ioc;  // concurrency hint 1 only when one thread runs it
  std::vector<std::unique_ptr<boost::asio::io_context>> session_iocs;  // io_threads - 1, or none
  // Keep session_iocs' run() going while they have no connection (stop() stops them).
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      session_work;
  // And the shared ioc's, until stop(): once stop_accepting closed the acceptor, a request
  // waiting for Kafka (a push) or the query pool has no operation on the io_context, so its
  // run() could end while such a session still has to be answered (answer_later), and the
  // drain would then wait for it in vain until its deadline.
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      ioc_work;
  std::size_t next_ioc = 0;  // the acceptor's strand: the io_context of the next connection
  boost::asio::io_context& session_ioc();  // the next in turn (acceptor's strand)
  boost::asio::ip::tcp::acceptor acceptor;
  // The acceptor's state, touched only on its strand: a back-off timer after a failed accept,
  // the next back-off, whether it waits for a connection to end (max_connections reached),
  // whether an eviction is under way, and the limits on its warnings.
  boost::asio::steady_timer accept_retry;
  boost::asio::steady_timer sampler;  // on its own strand: stop_accepting cancels it from elsewhere
  boost::asio::thread_pool queries;  // readiness probes, and the store queries not run inline
  // Lineage lookups (seconds of Kafka reads each): their own threads, at most
  // settings.lineage.max_concurrent running; more are refused with a 503 (lineage_running).
  boost::asio::thread_pool lineage_pool;
  std::atomic<std::size_t> lineage_running{0};
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  std::size_t max_connections;  // the cap applied: settings.max_connections or less (start())
  std::chrono::milliseconds accept_backoff = kAcceptBackoffFirst;
  bool accept_paused = false;
  bool evicting = false;
  // Set (by the acceptor) while a connection waits at the cap and no open one is idle: the next
  // session to become idle tells the acceptor, which then makes room (any thread reads it).
  std::atomic<bool> waiting_for_idle{false};
  // The credentials in force (under access_mutex) and their generation (read without it).
  std::mutex access_mutex;
  std::shared_ptr<AccessState> access;
  std::atomic<std::uint64_t> access_generation{0};
  // Per-address rate limiting: a fixed-size table (rate_limit.hpp), under addresses_mutex.
  std::mutex addresses_mutex;
  AddressTable addresses;
  // pemx_http_rate_limited_total{route="push"|"read", by="token"|"address"}, [route][by].
  std::array<std::array<Counter*, 2>, kRateRoutes> rate_limited{};
  // TLS: the context new connections get (null: plain HTTP), replaced by Server::reload_tls;
  // failed handshakes (a plain-HTTP client on the TLS port, a client refusing the
  // certificate) are counted and logged at most once a second.
  std::mutex tls_mutex;
  std::shared_ptr<boost::asio::ssl::context> tls_context;
  Counter& tls_failures;
  RateLimit tls_warnings{1};  // under tls_mutex
  void tls_failed(const boost::system::error_code& ec);
  // The session's copy of the credentials, refreshed when the generation changed.
  void current_access(std::shared_ptr<AccessState>& kept, std::uint64_t& generation);
  RateLimit accept_warnings{1};
  RateLimit pause_warnings{1};
  RateLimit evict_warnings{1};
  Counter& accept_errors;
  Counter& accept_pauses;
  Counter& evicted;
  Counter& socket_reads;       // reads of requests' bytes (FlexStream::count_reads)
  Counter& lineage_cancelled;  // lookups ended early because their client went away

  // The listener (listener.cpp).
  void accept();
  void make_room();
  void accept_failed(const boost::system::error_code& ec);
  // On the acceptor's strand: resume a paused listener (it looks at the cap again).
  void resume();
  // A session became idle (its strand): if a connection waits at the cap for one, make room.
  void session_idle();
  // The outcome of an eviction (the victim's strand). Closed: its session ends and
  // connection_ended() resumes the listener. Not closed (a request arrived meanwhile): look
  // again.
  void eviction_done(bool closed);
  // A Session or LiveStream ended (any thread): one connection less, and the acceptor, which
  // may be waiting for a free slot, looks again on its strand.
  void connection_ended();

  // The overview's sampler (server.cpp): every kSampleEvery on its timer.
  void sample();
  // The two series one answered request updates: pemx_http_requests_total{route,status} and
  // pemx_http_request_seconds{route}. Looking them up takes the registry's lock and builds the
  // labels, so a session keeps the last pair it used (RequestSeries) and asks again only when
  // its route or status changes.
  struct RequestSeries {
    std::string route;
    int status = 0;
    Counter* requests = nullptr;
    Histogram* seconds = nullptr;
  };
  void find_series(RequestSeries& series, const std::string& route, int status);
  // One answered request, in pemx_http_requests_total and pemx_http_request_seconds, through a
  // session's kept series (looked up again when the route or the status differs).
  void count(RequestSeries& series, const std::string& route, int status, double seconds);
};

}  // namespace pemx::http_front
