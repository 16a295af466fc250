#include "http_front/server.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <mutex>
#include <sstream>
#include <thread>

#include <sys/resource.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "http_front/openapi.hpp"
#include "http_front/overview.hpp"
#include "http_front/pusher.hpp"
#include "http_front/request_parser.hpp"
#include "http_front/static_files.hpp"
#include "pemx/version.hpp"

namespace pemx::http_front {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

bool token_allowed(const std::vector<std::string>& tokens, std::string_view authorization) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.substr(0, kBearer.size()) != kBearer) return false;
  std::string_view presented = authorization.substr(kBearer.size());
  bool ok = false;
  for (const auto& t : tokens) {
    // Compare every byte of equal-length candidates, so timing does not reveal a prefix.
    if (t.size() != presented.size()) continue;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < t.size(); ++i) diff |= t[i] ^ presented[i];
    ok = ok || diff == 0;
  }
  return ok;
}

// The page's files may only load from this server: no inline script or style, no framing.
constexpr const char* kPagePolicy =
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
constexpr auto kSampleEvery = std::chrono::seconds(2);
constexpr auto kLivePoll = std::chrono::milliseconds(250);
constexpr auto kLiveHeartbeat = std::chrono::seconds(15);
constexpr std::size_t kLiveBatch = 256;   // events per write at most
constexpr std::size_t kLiveMaxBatchBytes = 256 * 1024;  // and bytes (a little more: one event)
constexpr std::size_t kLiveReplay = 20;  // recent events sent to a new stream
constexpr std::size_t kInlineMaxIds = 10;      // history queries small enough to run inline
constexpr std::size_t kInlineMaxLimit = 1000;
constexpr std::size_t kReadAhead = 64 * 1024;  // a session's read buffer beyond max_header_bytes
// After a failed accept (out of descriptors) the listener waits before trying again: the
// pending connection stays in the backlog, so an immediate retry fails at once, forever.
constexpr auto kAcceptBackoffFirst = std::chrono::milliseconds(10);
constexpr auto kAcceptBackoffMax = std::chrono::milliseconds(1000);

std::size_t connection_cap(std::size_t max_connections, std::uint64_t nofile) {
  if (nofile >= max_connections + kReservedFds) return max_connections;
  std::uint64_t cap = std::max<std::uint64_t>({nofile > kReservedFds ? nofile - kReservedFds : 0,
                                              nofile / 2, 1});
  return static_cast<std::size_t>(std::min<std::uint64_t>(cap, max_connections));
}

bool host_allowed(std::string_view host_header, const std::string& listen_host,
                  const std::vector<std::string>& allowed) {
  if (host_header.empty()) return true;  // HTTP/1.0; browsers always send Host
  std::string_view name = host_header;
  if (name.front() == '[') {
    name = name.substr(1, name.find(']') == std::string_view::npos ? name.size() - 1
                                                                     : name.find(']') - 1);
  } else if (auto colon = name.find(':');
             colon != std::string_view::npos && name.find(':', colon + 1) == std::string_view::npos) {
    name = name.substr(0, colon);
  }
  // Host names are case-insensitive.
  const beast::string_view host(name.data(), name.size());
  for (const auto& a : allowed) {
    if (a == "*" || beast::iequals(a, host)) return true;
  }
  const bool loopback = listen_host.rfind("127.", 0) == 0 || listen_host == "::1";
  if (loopback) {
    const bool ipv4_loopback = name.rfind("127.", 0) == 0 &&
                               name.find_first_not_of("0123456789.") == std::string_view::npos;
    return beast::iequals(host, "localhost") || name == "::1" || ipv4_loopback;
  }
  return allowed.empty() || beast::iequals(host, listen_host);
}

class Session;
class LiveStream;

struct Server::Impl {
  Impl(ServerSettings s, Logger l, Metrics& m, std::shared_ptr<EventReader> r, Pusher* p,
       Activity* a)
      : settings(std::move(s)), log(std::move(l)), metrics(m), reader(std::move(r)), pusher(p),
        activity(a), overview(m, a), acceptor(net::make_strand(ioc)),
        accept_retry(acceptor.get_executor()), sampler(net::make_strand(ioc)),
        queries(static_cast<std::size_t>(settings.query_threads)),
        max_connections(settings.max_connections),
        accept_errors(m.counter("pemx_http_accept_errors_total",
                                "Failed accepts (each is retried after a back-off)")),
        accept_pauses(m.counter("pemx_http_accept_pauses_total",
                                "Times a new connection waited at max_connections because no "
                                "open connection was idle")),
        evicted(m.counter("pemx_http_evicted_total",
                          "Idle connections closed at max_connections to admit a new one")) {
    m.gauge_fn("pemx_http_connections", "Open HTTP connections (live streams included)", {},
               [this] { return static_cast<double>(sessions.load()); });
  }

  ServerSettings settings;
  Logger log;
  Metrics& metrics;
  std::shared_ptr<EventReader> reader;
  Pusher* pusher;
  Activity* activity;
  Overview overview;
  // Declared before the io_context: handlers it destroys last may still end sessions.
  std::atomic<bool> stopping{false};
  std::atomic<int> sessions{0};
  std::atomic<std::size_t> stream_count{0};
  std::mutex sessions_mutex;
  std::set<std::weak_ptr<Session>, std::owner_less<std::weak_ptr<Session>>> live;
  std::set<std::weak_ptr<LiveStream>, std::owner_less<std::weak_ptr<LiveStream>>> streams;
  net::io_context ioc;
  tcp::acceptor acceptor;
  // The acceptor's state, touched only on its strand: a back-off timer after a failed accept,
  // the next back-off, whether it waits for a connection to end (max_connections reached),
  // whether an eviction is under way, and the limits on its warnings.
  net::steady_timer accept_retry;
  net::steady_timer sampler;  // on its own strand: stop_accepting cancels it from elsewhere
  net::thread_pool queries;  // readiness probes, and the store queries not run inline
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  std::size_t max_connections;  // the cap applied: settings.max_connections or less (start())
  std::chrono::milliseconds accept_backoff = kAcceptBackoffFirst;
  bool accept_paused = false;
  bool evicting = false;
  // Set (by the acceptor) while a connection waits at the cap and no open one is idle: the next
  // session to become idle tells the acceptor, which then makes room (any thread reads it).
  std::atomic<bool> waiting_for_idle{false};
  RateLimit accept_warnings{1};
  RateLimit pause_warnings{1};
  RateLimit evict_warnings{1};
  Counter& accept_errors;
  Counter& accept_pauses;
  Counter& evicted;

  void accept();
  void make_room();
  void accept_failed(const beast::error_code& ec);
  // On the acceptor's strand: resume a paused listener (it looks at the cap again).
  void resume() {
    if (accept_paused && !stopping.load()) {
      accept_paused = false;
      accept();
    }
  }
  // A session became idle (its strand): if a connection waits at the cap for one, make room.
  void session_idle() {
    if (!waiting_for_idle.load() || stopping.load() || !waiting_for_idle.exchange(false)) return;
    net::post(acceptor.get_executor(), [this] {
      if (!evicting) resume();
    });
  }
  // The outcome of an eviction (the victim's strand). Closed: its session ends and
  // connection_ended() resumes the listener. Not closed (a request arrived meanwhile): look
  // again.
  void eviction_done(bool closed) {
    if (stopping.load()) return;
    net::post(acceptor.get_executor(), [this, closed] {
      evicting = false;
      if (closed) {
        evicted.inc();
        if (evict_warnings.allow()) {
          log.warn("connection limit reached; closed the longest-idle connection to admit a "
                   "new one",
                   {{"max_connections", max_connections},
                    {"suppressed", evict_warnings.take_suppressed()},
                    {"hint", "many idle or slow connections (a slowloris?): lower idle_timeout, "
                             "or raise max_connections if the clients are legitimate"}});
        }
      } else {
        resume();
      }
    });
  }
  // A Session or LiveStream ended (any thread): one connection less, and the acceptor, which
  // may be waiting for a free slot, looks again on its strand.
  void connection_ended() {
    sessions.fetch_sub(1);
    if (stopping.load()) return;  // the acceptor is closed; the io_context may be going away
    net::post(acceptor.get_executor(), [this] { resume(); });
  }
  void sample() {
    overview.sample(epoch_ms_now());
    sampler.expires_after(kSampleEvery);
    sampler.async_wait([this](beast::error_code ec) {
      if (!ec && !stopping.load()) sample();
    });
  }
  void count(const std::string& route, int status, double seconds) {
    metrics.counter("pemx_http_requests_total", "HTTP requests by route and status",
                    {{"route", route}, {"status", std::to_string(status)}})
        .inc();
    metrics.histogram("pemx_http_request_seconds", "HTTP request latency by route",
                      {{"route", route}})
        .observe(seconds);
  }
};

struct LiveFilter {
  std::string kind;
  std::set<std::string> product_ids;  // empty: any
  std::string event_type;             // empty: any
  bool matches(const LiveEvent& e) const {
    return e.kind == kind && (product_ids.empty() || product_ids.count(e.product_id) != 0) &&
           (event_type.empty() || e.event_type == event_type);
  }
};

// One /api/live client: Server-Sent Events read from the Activity ring at the client's pace.
// It holds at most one batch of text; a client slower than the ring is told what it missed
// ("event: gap"), and one that cannot take a write within live_write_timeout is closed.
class LiveStream : public std::enable_shared_from_this<LiveStream> {
 public:
  LiveStream(beast::tcp_stream&& stream, Server::Impl& server, LiveFilter filter,
             std::uint64_t after)
      : stream_(std::move(stream)), server_(server), watch_(*server.activity),
        filter_(std::move(filter)), after_(after), timer_(stream_.get_executor()) {
    server_.sessions.fetch_add(1);
  }
  ~LiveStream() {
    server_.stream_count.fetch_sub(1);
    server_.connection_ended();
  }

  // The response header is already in `head`; events follow it.
  void start(std::string head) {
    net::dispatch(stream_.get_executor(),
                  [self = shared_from_this(), head = std::move(head)]() mutable {
                    self->text_ = std::move(head);
                    self->text_ += "retry: 2000\nevent: hello\ndata: {\"kind\":\"" +
                                   self->filter_.kind + "\",\"buffer\":" +
                                   std::to_string(self->server_.activity->capacity()) + "}\n\n";
                    self->watch_client();
                    self->write();
                  });
  }
  void cancel() {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
  }

 private:
  // Reads nothing but notices the client going away.
  void watch_client() {
    stream_.socket().async_read_some(
        net::buffer(sink_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec) {
            self->close();
            return;
          }
          self->watch_client();
        });
  }

  // Reads the ring from after_: events that match go into one batch (at most kLiveBatch
  // events and kLiveMaxBatchBytes), written before anything more is read. While behind, it
  // keeps reading (yielding to other handlers between slices); once caught up it polls.
  void pump() {
    if (closed_) return;
    if (server_.stopping.load()) {
      close();
      return;
    }
    text_.clear();
    if (text_.capacity() > 2 * kLiveMaxBatchBytes) text_.shrink_to_fit();
    auto slice = server_.activity->since(after_, kLiveBatch);
    if (slice.missed > 0) {
      std::uint64_t last_missed = slice.events.empty() ? slice.last : slice.events.front()->seq - 1;
      text_ += "id: " + event_id(last_missed) + "\nevent: gap\ndata: {\"missed\":" +
               std::to_string(slice.missed) + "}\n\n";
      after_ = last_missed;
    }
    for (const auto& e : slice.events) {
      if (text_.size() >= kLiveMaxBatchBytes) break;
      if (filter_.matches(*e)) append(*e);
      after_ = e->seq;
    }
    if (slice.events.empty()) after_ = std::max(after_, slice.last);
    const bool behind = after_ < server_.activity->last_seq();
    if (!text_.empty()) {
      write();
    } else if (behind) {
      net::post(stream_.get_executor(), [self = shared_from_this()] { self->pump(); });
    } else if (Clock::now() >= next_heartbeat_) {
      // The id moves the client's Last-Event-ID past events its filter skipped.
      text_ = "id: " + event_id(after_) + "\n: keep-alive\n\n";
      write();
    } else {
      timer_.expires_after(kLivePoll);
      timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec) self->pump();
      });
    }
  }

  // "<process start>.<seq>": a Last-Event-ID from an earlier process is recognised as such.
  std::string event_id(std::uint64_t seq) const {
    return std::to_string(server_.activity->started_at_ms) + "." + std::to_string(seq);
  }

  void append(const LiveEvent& e) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("seq");
    w.Uint64(e.seq);
    w.Key("kind");
    w.String(e.kind.data(), static_cast<rapidjson::SizeType>(e.kind.size()));
    w.Key("at");
    w.Int64(e.at_ms);
    if (!e.topics.empty()) {
      w.Key("topics");
      w.StartArray();
      for (const auto& t : e.topics) w.String(t.data(), static_cast<rapidjson::SizeType>(t.size()));
      w.EndArray();
    }
    w.Key("event");
    // The event as received: a JSON object the router or the store already parsed.
    w.RawValue(e.json.data(), e.json.size(), rapidjson::kObjectType);
    w.EndObject();
    text_ += "id: " + event_id(e.seq) + "\nevent: event\ndata: ";
    // A line break ends an SSE field; in valid JSON it can only be whitespace.
    for (const char* p = buf.GetString(); *p != '\0'; ++p) {
      text_ += (*p == '\n' || *p == '\r') ? ' ' : *p;
    }
    text_ += "\n\n";
  }

  void write() {
    next_heartbeat_ = Clock::now() + kLiveHeartbeat;
    stream_.expires_after(server_.settings.live_write_timeout);
    net::async_write(stream_, net::buffer(text_),
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) {
                         self->close();
                         return;
                       }
                       self->stream_.expires_never();
                       self->pump();
                     });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  Server::Impl& server_;
  Activity::Watch watch_;
  LiveFilter filter_;
  std::uint64_t after_;
  net::steady_timer timer_;
  std::string text_;
  std::array<char, 512> sink_{};
  Clock::time_point next_heartbeat_ = Clock::now() + kLiveHeartbeat;
  bool closed_ = false;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Server::Impl& server)
      : stream_(std::move(socket)), executor_(stream_.get_executor()), server_(server),
        buffer_(server.settings.max_header_bytes + kReadAhead) {
    server_.sessions.fetch_add(1);
  }
  ~Session() { server_.connection_ended(); }

  void run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }
  // Since when (steady clock, ns) the session has been waiting for, or reading, a request; 0
  // while it handles one (a handler runs or a response is written) or was handed over.
  // Read by the acceptor under sessions_mutex to choose whom to evict.
  std::int64_t idle_since() const { return idle_since_.load(); }
  // From the acceptor at max_connections: close the connection if it has been idle since
  // `since` (nothing arrived that became a request meanwhile), then report the outcome.
  void evict(std::int64_t since) {
    net::post(executor_, [self = shared_from_this(), since] {
      const bool close = self->idle_ && !self->handed_over_ && self->idle_since_.load() == since;
      if (close) {
        beast::error_code ec;
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        self->stream_.socket().close(ec);
      }
      self->server_.eviction_done(close);
    });
  }
  // From another thread: close the connection if it is waiting for a request.
  void close_if_idle() {
    net::post(executor_, [self = shared_from_this()] {
      beast::error_code ec;
      if (self->idle_ && !self->handed_over_) self->stream_.socket().close(ec);
    });
  }
  void cancel() {
    net::post(executor_, [self = shared_from_this()] {
      if (self->handed_over_) return;
      beast::error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream_.socket().close(ec);
    });
  }

 private:
  using Response = http::response<http::string_body>;

  void do_read() {
    if (server_.stopping.load()) {
      do_close();
      return;
    }
    parser_.emplace(RequestLimits{server_.settings.max_header_bytes,
                                  server_.settings.max_header_fields,
                                  server_.settings.max_body_bytes});
    idle_ = true;
    idle_since_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count());
    server_.session_idle();
    stream_.expires_after(server_.settings.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    idle_ = false;
    idle_since_.store(0);
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout || ec == net::error::connection_reset ||
        ec == net::error::bad_descriptor) {
      do_close();
      return;
    }
    started_ = std::chrono::steady_clock::now();
    if (ec) {
      // A malformed or oversized request, or one whose framing is ambiguous (RequestParser):
      // answer it with "Connection: close", then close. Nothing after it on this connection
      // is read, so bytes smuggled behind it never run as a request (RFC 9112 6.1, 6.3).
      route_ = "invalid";
      keep_alive_ = false;
      send(error_answer(error_status(ec), error_message(ec)), "application/json", false);
      return;
    }
    handle(parser_->release());
  }

  void handle(http::request<http::string_body>&& req) {
    req_ = std::move(req);
    keep_alive_ = req_.keep_alive() && !server_.stopping.load();
    std::string_view target(req_.target().data(), req_.target().size());
    auto qpos = target.find('?');
    std::string_view path = target.substr(0, qpos);
    std::string_view query = qpos == std::string_view::npos ? "" : target.substr(qpos + 1);
    const auto method = req_.method();
    // HEAD is routed like GET; send() answers it with GET's status and headers and no body.
    const bool get = method == http::verb::get || method == http::verb::head;

    // A page on another site whose name resolves to this address (DNS rebinding) must not
    // reach the API: its requests carry that site's name in Host.
    auto host = req_[http::field::host];
    if (!host_allowed(std::string_view(host.data(), host.size()), server_.settings.host,
                      server_.settings.allowed_hosts)) {
      route_ = "invalid";
      return send(error_answer(421, "Host \"" + std::string(host.substr(0, 200)) +
                                        "\" is not served here; list it in allowed_hosts"),
                  "application/json", true);
    }
    if (method == http::verb::options) {
      route_ = "preflight";
      return send({204, "", {}}, "application/json", true);
    }
    if (path == "/healthz") {
      route_ = "/healthz";
      return send({200, R"({"status":"ok"})", {}}, "application/json", true);
    }
    if (path == "/readyz") {
      route_ = "/readyz";
      return offload([this]() {
        std::string problems;
        if (server_.reader) {
          if (auto p = server_.reader->problem()) problems += "store: " + *p + "; ";
        }
        if (server_.pusher) {
          if (auto p = server_.pusher->kafka_problem()) problems += "kafka: " + *p + "; ";
        }
        if (problems.empty()) return Answer{200, R"({"status":"ready"})", {}};
        return error_answer(503, "not ready: " + problems.substr(0, problems.size() - 2));
      });
    }
    if (path == "/metrics") {
      route_ = "/metrics";
      return send({200, server_.metrics.render_prometheus(), {}},
                  "text/plain; version=0.0.4; charset=utf-8", true);
    }
    if (path == "/openapi.json") {
      route_ = "/openapi.json";
      return send({200, std::string(openapi_json()), {}}, "application/json", true);
    }
    if (path == "/api/info" && get) {
      route_ = "/api/info";
      return send({200, info_json(), {}}, "application/json", true);
    }
    if (path == "/api/overview" && get) {
      route_ = "/api/overview";
      return send({200, server_.overview.render(epoch_ms_now()), {}}, "application/json", true);
    }
    if (path == "/api/live" && get) {
      route_ = "/api/live";
      return start_live(query);
    }
    if (get) {
      if (const StaticFile* f = find_static(path)) {
        route_ = "page";
        return send({200,
                     std::string(f->data),
                     {{"Cache-Control", "no-cache"},
                      {"Content-Security-Policy", kPagePolicy},
                      {"X-Frame-Options", "DENY"},
                      {"Referrer-Policy", "no-referrer"}}},
                    content_type_for(f->name), true);
      }
    }
    if (path == "/event") {
      route_ = "/event";
      if (get) return get_events(path, query);
      if (method == http::verb::post) return post_events();
      Answer a = error_answer(405, "use GET, HEAD or POST on /event");
      a.headers.emplace_back("Allow", "GET, HEAD, POST, OPTIONS");
      return send(a, "application/json", true);
    }
    route_ = "other";
    send(error_answer(404, "no such route: " + std::string(path.substr(0, 200))),
         "application/json", true);
  }

  void get_events(std::string_view path, std::string_view query) {
    if (!valid_utf8(query)) {
      return send(error_answer(400, "the query string is not valid UTF-8"), "application/json",
                  true);
    }
    auto parsed = parse_history_request(query, server_.settings.history);
    if (auto* a = std::get_if<Answer>(&parsed)) return send(std::move(*a), "application/json", true);
    if (!server_.reader) {
      return send(error_answer(503, "this role has no event store; ask the web role"),
                  "application/json", true);
    }
    EventQuery q = std::get<EventQuery>(std::move(parsed));
    auto answer = [](const Result<EventPage>& page, std::string_view p, std::string_view qs) {
      if (!page) {
        int status = page.error().code == "bad_cursor" ? 400 : 500;
        return error_answer(status, page.error().message);
      }
      return history_answer(page.value(), p, qs);
    };
    // A small query runs here, on the I/O thread, when a reader connection is free at once:
    // on the mapped, cached store it is CPU work of well under a millisecond, and a hand-off
    // between threads cost more than that (bench/run_history.sh). Anything larger, or when
    // every connection is busy, goes to the query pool, so it never stalls this thread's
    // other connections.
    if (server_.settings.inline_queries && q.product_ids.size() <= kInlineMaxIds &&
        q.limit <= kInlineMaxLimit) {
      if (auto page = server_.reader->try_query(q)) {
        return send(answer(*page, path, query), "application/json", true);
      }
    }
    offload([this, q = std::move(q), answer, p = std::string(path), qs = std::string(query)]() {
      return answer(server_.reader->query(q), p, qs);
    });
  }

  std::string info_json() const {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("version");
    w.String(kVersion);
    w.Key("role");
    w.String(server_.activity ? server_.activity->role.c_str() : "");
    w.Key("history");
    w.Bool(server_.reader != nullptr);
    w.Key("push");
    w.Bool(server_.settings.push_enabled);
    w.Key("tokenRequired");
    w.Bool(!server_.settings.write_tokens.empty());
    w.Key("live");
    w.StartArray();
    if (server_.activity) {
      for (const auto& k : server_.activity->kinds()) w.String(k.c_str());
    }
    w.EndArray();
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
  }

  // GET /api/live?kind=&productIds=&eventType=: hands the connection to a LiveStream.
  // HEAD: the same checks and the stream's header, then the connection closes as a GET's
  // would; no stream starts and none is reserved.
  void start_live(std::string_view query) {
    auto params = parse_query(query);
    if (!params || !valid_utf8(query)) {
      return send(error_answer(400, "malformed query string"), "application/json", true);
    }
    std::vector<std::string> kinds = server_.activity ? server_.activity->kinds()
                                                      : std::vector<std::string>{};
    auto offered = [&](const std::string& k) {
      return std::find(kinds.begin(), kinds.end(), k) != kinds.end();
    };
    LiveFilter filter;
    for (const auto& [key, value] : *params) {
      if (key == "kind") {
        filter.kind = value;
      } else if (key == "eventType") {
        filter.event_type = value;
      } else if (key == "productIds") {
        for (auto& id : split_product_ids(value)) filter.product_ids.insert(std::move(id));
        if (filter.product_ids.size() > kMaxIds) {
          return send(error_answer(400, "at most 200 productIds"), "application/json", true);
        }
      }
    }
    if (kinds.empty()) {
      return send(error_answer(503, "this role streams no events"), "application/json", true);
    }
    if (server_.stopping.load()) {
      return send(error_answer(503, "shutting down"), "application/json", true);
    }
    if (filter.kind.empty()) filter.kind = offered("stored") ? "stored" : kinds.front();
    if (!offered(filter.kind)) {
      std::string list;
      for (const auto& k : kinds) list += (list.empty() ? "" : ", ") + k;
      return send(error_answer(400, "kind must be one of: " + list), "application/json", true);
    }
    const bool head = req_.method() == http::verb::head;
    const std::size_t streams =
        head ? server_.stream_count.load() : server_.stream_count.fetch_add(1);
    if (streams >= server_.settings.max_live_clients) {
      if (!head) server_.stream_count.fetch_sub(1);
      return send(error_answer(503, "too many live streams; try again later"), "application/json",
                  true);
    }
    // Resume after Last-Event-ID (EventSource sends it when it reconnects), or replay a few.
    std::uint64_t last = server_.activity->last_seq();
    std::uint64_t after = last > kLiveReplay ? last - kLiveReplay : 0;
    auto resume = req_["Last-Event-ID"];
    auto dot = resume.find('.');
    if (dot != beast::string_view::npos) {
      std::int64_t epoch = 0;
      std::uint64_t id = 0;
      auto [e1, ec1] = std::from_chars(resume.data(), resume.data() + dot, epoch);
      auto [e2, ec2] = std::from_chars(resume.data() + dot + 1, resume.data() + resume.size(), id);
      if (ec1 == std::errc() && ec2 == std::errc() && e1 == resume.data() + dot &&
          e2 == resume.data() + resume.size() && epoch == server_.activity->started_at_ms &&
          id <= last) {
        after = id;
      }
    }
    http::response<http::empty_body> res(http::status::ok, req_.version());
    res.set(http::field::server, "pemx");
    res.set(http::field::content_type, "text/event-stream; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("X-Accel-Buffering", "no");
    add_cors(res);
    res.keep_alive(false);
    if (head) {
      keep_alive_ = false;
      return write(std::make_shared<decltype(res)>(std::move(res)), 200);
    }
    std::ostringstream header;
    header << res.base();
    server_.count(route_, 200,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started_)
                      .count());
    auto stream = std::make_shared<LiveStream>(std::move(stream_), server_, std::move(filter),
                                               after);
    {
      std::lock_guard<std::mutex> lock(server_.sessions_mutex);
      for (auto it = server_.streams.begin(); it != server_.streams.end();) {
        it = it->expired() ? server_.streams.erase(it) : ++it;
      }
      server_.streams.insert(stream);
    }
    handed_over_ = true;
    stream->start(header.str());
  }

  void post_events() {
    if (!server_.settings.push_enabled) {
      return send(error_answer(503, "the fallback push is disabled in this role"),
                  "application/json", true);
    }
    if (!server_.settings.write_tokens.empty()) {
      auto auth = req_[http::field::authorization];
      if (!token_allowed(server_.settings.write_tokens,
                         std::string_view(auth.data(), auth.size()))) {
        Answer a = error_answer(401, "missing or invalid bearer token for writes");
        a.headers.emplace_back("WWW-Authenticate", "Bearer");
        return send(a, "application/json", true);
      }
    }
    // Only JSON, and from this origin or an allowed one: a form or a text/plain fetch from any
    // page a browser has open would otherwise be a "simple" request that needs no preflight.
    auto type = req_[http::field::content_type];
    std::string_view media(type.data(), type.size());
    media = media.substr(0, media.find(';'));
    while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
    if (!beast::iequals(beast::string_view(media.data(), media.size()), "application/json")) {
      return send(error_answer(415, "Content-Type must be application/json"), "application/json",
                  true);
    }
    auto origin = req_[http::field::origin];
    if (!origin.empty() && !origin_allowed(std::string_view(origin.data(), origin.size()))) {
      return send(error_answer(403, "writes from origin " + std::string(origin.substr(0, 200)) +
                                        " are refused; list it in cors_origins"),
                  "application/json", true);
    }
    auto parsed = parse_push_request(req_.body(), server_.settings.push_rules);
    if (auto* a = std::get_if<Answer>(&parsed)) return send(std::move(*a), "application/json", true);
    auto events = std::get<std::vector<PushEvent>>(std::move(parsed));
    // The reference's text 201, or the JSON receipt for a client that asks for it (RFC 7240).
    // Every Prefer field counts, as one comma-separated list.
    std::string prefer;
    for (const auto& f : req_) {
      if (f.name() != http::field::prefer) continue;
      prefer += (prefer.empty() ? "" : ",");
      prefer.append(f.value().data(), f.value().size());
    }
    server_.pusher->push(
        std::move(events), [self = shared_from_this(), preference = return_preference(prefer)](
                               std::optional<std::string> error, std::vector<Delivered> delivered) {
          Answer a = error ? error_answer(503, "Kafka did not acknowledge every event (" + *error +
                                                   "); retry the request: pushes are idempotent "
                                                   "on eventId in the store")
                           : pushed_answer(delivered, preference);
          answer_later(self, std::move(a));
        });
  }

  // Answers on the session's strand, from another thread.
  static void answer_later(const std::shared_ptr<Session>& self, Answer a) {
    net::post(self->stream_.get_executor(), [self, a = std::move(a)]() mutable {
      self->send(std::move(a), "application/json", true);
    });
  }

  // Runs work on the query pool, then answers on this session's strand.
  template <class Work>
  void offload(Work work) {
    net::post(server_.queries, [self = shared_from_this(), work = std::move(work)]() mutable {
      answer_later(self, work());
    });
  }

  // Same origin (the page this server serves) or one of cors_origins.
  bool origin_allowed(std::string_view origin) {
    auto host = req_[http::field::host];
    std::string_view h(host.data(), host.size());
    for (std::string_view scheme : {"http://", "https://"}) {
      if (origin.size() == scheme.size() + h.size() && origin.substr(0, scheme.size()) == scheme &&
          origin.substr(scheme.size()) == h) {
        return true;
      }
    }
    for (const auto& allowed : server_.settings.cors_origins) {
      if (allowed == "*" || allowed == origin) return true;
    }
    return false;
  }

  template <class Message>
  void add_cors(Message& res) {
    auto origin = req_[http::field::origin];
    if (origin.empty()) return;
    for (const auto& allowed : server_.settings.cors_origins) {
      if (allowed == "*" || allowed == std::string_view(origin.data(), origin.size())) {
        res.set(http::field::access_control_allow_origin, allowed == "*" ? "*" : origin);
        // Added to a Vary the answer already has (the push's "Prefer").
        auto vary = res[http::field::vary];
        res.set(http::field::vary, vary.empty() ? std::string("Origin")
                                                : std::string(vary) + ", Origin");
        res.set(http::field::access_control_allow_methods, "GET, POST, OPTIONS");
        res.set(http::field::access_control_allow_headers, "Content-Type, Authorization, Prefer");
        res.set(http::field::access_control_expose_headers,
                "X-Next-Cursor, Link, Preference-Applied");
        res.set(http::field::access_control_max_age, "600");
        return;
      }
    }
  }

  // A response to HEAD carries GET's status and headers, Content-Length included, and no body
  // (RFC 9110 9.3.2): the client reads no body after it, so one sent would break the next
  // response on the connection.
  // content_type: the answer's own (Answer::content_type) when it has one.
  void send(Answer a, std::string_view content_type, bool have_request) {
    if (!a.content_type.empty()) content_type = a.content_type;
    const auto status = static_cast<http::status>(a.status);
    const unsigned version = have_request ? req_.version() : 11;
    if (have_request && req_.method() == http::verb::head) {
      auto res = std::make_shared<http::response<http::empty_body>>(status, version);
      set_headers(*res, a, content_type, have_request);
      res->content_length(a.body.size());
      return write(std::move(res), a.status);
    }
    auto res = std::make_shared<Response>(status, version);
    set_headers(*res, a, content_type, have_request);
    res->body() = std::move(a.body);
    res->prepare_payload();
    write(std::move(res), a.status);
  }

  template <class Message>
  void set_headers(Message& res, const Answer& a, std::string_view content_type,
                   bool have_request) {
    res.set(http::field::server, "pemx");
    if (!a.body.empty()) {
      res.set(http::field::content_type,
              beast::string_view(content_type.data(), content_type.size()));
    }
    res.set(http::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    for (const auto& [k, v] : a.headers) res.set(k, v);
    if (have_request) add_cors(res);
  }

  template <class Message>
  void write(std::shared_ptr<Message> res, int status) {
    res->keep_alive(keep_alive_ && !server_.stopping.load());
    server_.count(route_, status,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started_)
                      .count());
    stream_.expires_after(server_.settings.idle_timeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        self->on_write(ec, res->keep_alive());
                      });
  }

  void on_write(beast::error_code ec, bool keep_alive) {
    if (ec || !keep_alive) {
      do_close();
      return;
    }
    do_read();
  }

  void do_close() {
    if (handed_over_) return;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::tcp_stream::executor_type executor_;  // the strand; outlives a handed-over stream_
  Server::Impl& server_;
  // Bounded: a chunk-size line or a trailer section that never ends cannot grow it past
  // max_header_bytes plus one read (buffer_overflow, answered 400). Body bytes are moved into
  // the request as they arrive, and a header section is bounded by RequestParser.
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  http::request<http::string_body> req_;
  std::string route_ = "other";
  bool keep_alive_ = false;
  // Waiting for a request or reading one (a partial header or body included): no handler runs
  // and no response is being written. Such a connection may be evicted at max_connections.
  bool idle_ = false;
  std::atomic<std::int64_t> idle_since_{0};
  bool handed_over_ = false;  // the connection became a LiveStream
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

// On the acceptor's strand (or before the threads run). At the cap it does not accept: it
// waits until a connection is pending (make_room), without taking it from the backlog.
void Server::Impl::accept() {
  if (stopping.load()) return;
  if (static_cast<std::size_t>(std::max(sessions.load(), 0)) >= max_connections) {
    acceptor.async_wait(tcp::acceptor::wait_read, [this](beast::error_code ec) {
      if (!ec && !stopping.load()) make_room();
    });
    return;
  }
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (!stopping.load() && ec != net::error::operation_aborted) accept_failed(ec);
      return;
    }
    accept_backoff = kAcceptBackoffFirst;
    auto session = std::make_shared<Session>(std::move(socket), *this);
    {
      std::lock_guard<std::mutex> lock(sessions_mutex);
      for (auto it = live.begin(); it != live.end();) it = it->expired() ? live.erase(it) : ++it;
      live.insert(session);
    }
    session->run();
    accept();
  });
}

// On the acceptor's strand: a connection is pending at the cap. The session idle the longest
// (waiting for a request, or reading one slowly: a slowloris) is closed to make room; once it
// has ended, connection_ended() resumes the listener, which accepts the new one. Sessions
// handling a request and live streams are never closed: when every connection is busy the
// listener pauses (new connections wait in the kernel's backlog, which bounds them, costing
// nothing) until one ends or becomes idle.
void Server::Impl::make_room() {
  if (static_cast<std::size_t>(std::max(sessions.load(), 0)) < max_connections) {
    accept();  // a connection ended meanwhile
    return;
  }
  accept_paused = true;
  if (evicting) return;  // one at a time: its outcome resumes the listener
  // Set before looking, so that a session becoming idle meanwhile is not missed.
  waiting_for_idle.store(true);
  std::shared_ptr<Session> victim;
  std::int64_t since = 0;
  {
    std::lock_guard<std::mutex> lock(sessions_mutex);
    for (auto it = live.begin(); it != live.end();) {
      auto s = it->lock();
      if (!s) {
        it = live.erase(it);
        continue;
      }
      const std::int64_t t = s->idle_since();
      if (t != 0 && (victim == nullptr || t < since)) {
        victim = std::move(s);
        since = t;
      }
      ++it;
    }
  }
  if (victim) {
    waiting_for_idle.store(false);
    evicting = true;
    victim->evict(since);
    return;
  }
  accept_pauses.inc();
  if (pause_warnings.allow()) {
    log.warn("connection limit reached and every connection is busy; new connections wait "
             "until one closes or becomes idle",
             {{"max_connections", max_connections},
              {"suppressed", pause_warnings.take_suppressed()},
              {"hint", "raise max_connections (and the open-file limit) if the clients are "
                       "legitimate"}});
  }
}

// A failed accept leaves the connection in the backlog, so trying again at once fails again:
// wait (10 ms doubling to 1 s while failures repeat), then try again.
void Server::Impl::accept_failed(const beast::error_code& ec) {
  accept_errors.inc();
  const auto wait = accept_backoff;
  accept_backoff = std::min(accept_backoff * 2, std::chrono::milliseconds(kAcceptBackoffMax));
  if (accept_warnings.allow()) {
    const bool out_of_fds = ec == net::error::no_descriptors ||
                            ec == beast::error_code(ENFILE, beast::system_category());
    log.warn("accept failed; retrying after a pause",
             {{"error", ec.message()},
              {"retry_in_ms", static_cast<std::int64_t>(wait.count())},
              {"open_connections", sessions.load()},
              {"suppressed", accept_warnings.take_suppressed()},
              {"hint", out_of_fds ? "the process is out of file descriptors: raise its open-file "
                                    "limit (ulimit -n, LimitNOFILE=) or lower max_connections"
                                  : "check the system's network resources"}});
  }
  accept_retry.expires_after(wait);
  accept_retry.async_wait([this](beast::error_code timer_ec) {
    if (!timer_ec && !stopping.load()) accept();
  });
}

Server::Server(ServerSettings settings, Logger log, Metrics& metrics,
               std::shared_ptr<EventReader> reader, Pusher* pusher, Activity* activity)
    : impl_(std::make_unique<Impl>(std::move(settings), std::move(log), metrics,
                                   std::move(reader), pusher, activity)) {}

Server::~Server() { stop(); }

void Server::start() {
  auto& i = *impl_;
  beast::error_code ec;
  auto address = net::ip::make_address(i.settings.host, ec);
  if (ec) throw std::runtime_error("http.listen: \"" + i.settings.host + "\" is not an IP address");
  tcp::endpoint ep(address, i.settings.port);
  i.acceptor.open(ep.protocol(), ec);
  if (!ec) i.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) i.acceptor.bind(ep, ec);
  if (!ec) i.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + i.settings.host + ":" +
                             std::to_string(i.settings.port) + ": " + ec.message() +
                             " (set " + i.settings.listen_key + " to a free address)");
  }
  i.port = i.acceptor.local_endpoint().port();
  // Each connection is a descriptor: a cap above the open-file limit would only turn into
  // failed accepts (and failed Kafka or SQLite opens). Lower the cap and say so.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    i.max_connections = connection_cap(i.settings.max_connections, nofile.rlim_cur);
    if (i.max_connections < i.settings.max_connections) {
      i.log.warn("open-file limit too low for max_connections; accepting fewer connections",
                 {{"max_connections", i.settings.max_connections},
                  {"open_file_limit", static_cast<std::uint64_t>(nofile.rlim_cur)},
                  {"reserved_fds", kReservedFds},
                  {"effective_max_connections", i.max_connections},
                  {"hint", "raise the open-file limit (ulimit -n, LimitNOFILE=) to at least "
                           "max_connections + " + std::to_string(kReservedFds) +
                           ", or lower max_connections"}});
    }
  }
  i.log.info("listening", {{"address", i.settings.host},
                           {"port", static_cast<int>(i.port)},
                           {"max_connections", i.max_connections}});
  i.accept();
  i.sample();
  for (int t = 0; t < i.settings.io_threads; ++t) i.threads.emplace_back([&i] { i.ioc.run(); });
}

std::uint16_t Server::port() const { return impl_->port; }

void Server::stop_accepting() noexcept {
  auto& i = *impl_;
  if (i.stopping.exchange(true)) return;
  net::post(i.acceptor.get_executor(), [&i] {
    beast::error_code ec;
    i.acceptor.close(ec);
    i.accept_retry.cancel();
  });
  net::post(i.sampler.get_executor(), [&i] { i.sampler.cancel(); });
  std::lock_guard<std::mutex> lock(i.sessions_mutex);
  for (const auto& w : i.live) {
    if (auto s = w.lock()) s->close_if_idle();
  }
  // Live streams never end by themselves: end them now.
  for (const auto& w : i.streams) {
    if (auto s = w.lock()) s->cancel();
  }
}

bool Server::drain(const Deadline& deadline) noexcept {
  while (impl_->sessions.load() > 0) {
    if (deadline.passed()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void Server::stop() noexcept {
  auto& i = *impl_;
  stop_accepting();
  {
    std::lock_guard<std::mutex> lock(i.sessions_mutex);
    for (const auto& w : i.live) {
      if (auto s = w.lock()) s->cancel();
    }
    for (const auto& w : i.streams) {
      if (auto s = w.lock()) s->cancel();
    }
  }
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (i.sessions.load() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  i.ioc.stop();
  for (auto& t : i.threads) {
    if (t.joinable()) t.join();
  }
  i.threads.clear();
  i.queries.join();
}

}  // namespace pemx::http_front
