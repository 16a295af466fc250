#pragma once
// One HTTP connection, after the Beast examples: enable_shared_from_this, do_x/on_x pairs, its
// own strand, expires_after before every read and write, header and body limits on every read
// (RequestParser), keep-alive until the server stops. It reads a request, checks its Host
// (guards.hpp), finds its route (routes.hpp) and runs the route's handler, which answers through
// the public members below, at once or later from another thread (answer_later posts back to the
// strand). /api/live takes the connection over (hand_over) and the session ends.
//
// Threads: everything runs on the session's strand, except evict, close_if_idle and cancel
// (any thread: they post to the strand) and idle_since (an atomic, read by the acceptor).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http_front/api.hpp"
#include "http_front/flex_stream.hpp"
#include "http_front/guards.hpp"
#include "http_front/request_parser.hpp"
#include "http_front/server_impl.hpp"

namespace pemx::http_front {

struct Route;

class Session : public std::enable_shared_from_this<Session> {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  // tls: the server's TLS context when the listener has one (the handshake comes first).
  Session(boost::asio::ip::tcp::socket&& socket, Server::Impl& server,
          std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
  ~Session();

  void run();
  // Since when (steady clock, ns) the session has been waiting for, or reading, a request; 0
  // while it handles one (a handler runs or a response is written) or was handed over.
  // Read by the acceptor under sessions_mutex to choose whom to evict.
  std::int64_t idle_since() const { return idle_since_.load(); }
  // From the acceptor at max_connections: close the connection if it has been idle since
  // `since` (nothing arrived that became a request meanwhile), then report the outcome.
  void evict(std::int64_t since);
  // From another thread: close the connection if it is waiting for a request.
  void close_if_idle();
  void cancel();

  // --- for handlers, on the strand ---
  Server::Impl& server() { return server_; }
  // The session's strand, for a handler's own I/O objects (history_async.hpp).
  const FlexStream::executor_type& executor() const { return executor_; }
  // What cancel() should also stop while a handler waits on an I/O object of its own (the
  // asynchronous history's store socket); null when nothing waits. Replaced, not chained.
  void on_cancel(std::function<void()> f) { on_cancel_ = std::move(f); }
  const Request& request() const { return req_; }
  std::string_view path() const { return path_; }    // the target before '?'
  std::string_view query() const { return query_; }  // after it, not decoded
  // The name of the known token the request presented (auth.hpp), or "" (none or unknown).
  std::string_view token_name() const {
    return token_ < 0 ? std::string_view()
                      : access_->credentials.tokens[static_cast<std::size_t>(token_)].name;
  }
  const boost::asio::ip::address& peer() const { return peer_ip_; }
  // The generation of the credentials the current request was checked against.
  std::uint64_t access_generation() const { return access_generation_; }
  // Answers the request (HEAD: GET's status and headers, no body). content_type: unless the
  // answer has its own (Answer::content_type).
  void send(Answer a, std::string_view content_type = "application/json") {
    send(std::move(a), content_type, true);
  }
  // Answers on the session's strand, from another thread.
  static void answer_later(const std::shared_ptr<Session>& self, Answer a) {
    boost::asio::post(self->executor_, [self, a = std::move(a)]() mutable {
      self->send(std::move(a), "application/json", true);
    });
  }
  // Runs work (returning an Answer) on the query pool, then answers on this session's strand.
  // Work that throws (a store failing in a way it did not report, memory running out) is
  // logged and answered 500: the pool's thread and the process go on, where the exception
  // would otherwise reach std::terminate without a word.
  template <class Work>
  void offload(Work work) {
    offload_to(server_.queries, std::move(work));
  }
  // The same on another pool (lineage's).
  template <class Work>
  void offload_to(boost::asio::thread_pool& pool, Work work) {
    boost::asio::post(pool,
                      [self = shared_from_this(), work = std::move(work)]() mutable {
                        answer_later(self, answer_or_500(self->server_.log, work));
                      });
  }
  template <class Work>
  static Answer answer_or_500(const Logger& log, Work& work) {
    try {
      return work();
    } catch (const std::exception& e) {
      log.error("a request handler failed on the query pool", {{"error", e.what()}});
    } catch (...) {
      log.error("a request handler failed on the query pool",
                {{"error", "an exception that is not a std::exception"}});
    }
    return error_answer(500, "internal error while answering the request (logged)");
  }
  // While a handler's work runs on a pool (lineage): sets *gone when the client closes or
  // resets its connection, seen by peeking at the socket (nothing is read). One wait at a
  // time, holding no reference to the session; it ends at the first byte the client sends
  // (a pipelined request, or TLS data such as a close_notify: over TLS a client that says
  // close_notify before closing is not noticed), or when the connection closes. A client that
  // half-closes its side and still waits for the answer counts as gone.
  void watch_disconnect(std::shared_ptr<std::atomic<bool>> gone);
  // The CORS headers of an answer to this request, when its Origin is allowed (guards.hpp).
  template <class Message>
  void add_cors(Message& res) {
    namespace http = boost::beast::http;
    auto origin = req_[http::field::origin];
    auto allow = cors_allow_origin(std::string_view(origin.data(), origin.size()),
                                   server_.settings.cors_origins);
    if (!allow) return;
    res.set(http::field::access_control_allow_origin,
            boost::beast::string_view(allow->data(), allow->size()));
    // Added to a Vary the answer already has (the push's "Prefer").
    auto vary = res[http::field::vary];
    res.set(http::field::vary,
            vary.empty() ? std::string("Origin") : std::string(vary) + ", Origin");
    res.set(http::field::access_control_allow_methods, to_beast(kCorsAllowMethods));
    res.set(http::field::access_control_allow_headers, to_beast(kCorsAllowHeaders));
    res.set(http::field::access_control_expose_headers, to_beast(kCorsExposeHeaders));
    res.set(http::field::access_control_max_age, to_beast(kCorsMaxAge));
  }
  // Writes a header-only response and closes the connection after it (HEAD /api/live).
  void send_header_and_close(
      std::shared_ptr<boost::beast::http::response<boost::beast::http::empty_body>> res) {
    keep_alive_ = false;
    write(std::move(res), 200);
  }
  // Counts the request as answered 200 and gives its connection away (to a LiveStream); the
  // session then ends without touching the socket again.
  FlexStream hand_over();

 private:
  static boost::beast::string_view to_beast(std::string_view s) { return {s.data(), s.size()}; }

  void on_handshake(boost::beast::error_code ec);
  // Idle from now on (idle_, idle_since_), and the acceptor is told (session_idle).
  void mark_idle();
  void do_read();
  void read_header();  // a new parser, then the header
  void on_header(boost::beast::error_code ec, std::size_t);
  // True when the unparsed bytes began with empty lines: they are dropped and the header is
  // read again.
  bool skip_empty_lines();
  void read_body();
  void on_read(boost::beast::error_code ec, std::size_t);
  void handle(Request&& req);
  // The route's token check and rate limit (auth.hpp, rate_limit.hpp): true to run its
  // handler; false when it answered (401, 403, 429).
  bool admit(const Route& route);
  // The route's rate limit for this request (its token's bucket, or its address's): true
  // when it answered 429.
  bool over_rate_limit(const Route& route);
  void send(Answer a, std::string_view content_type, bool have_request);
  template <class Message>
  void set_headers(Message& res, const Answer& a, std::string_view content_type,
                   bool have_request);
  template <class Message>
  void write(std::shared_ptr<Message> res, int status);
  void on_write(boost::beast::error_code ec, bool keep_alive);
  // Ends the connection: TLS's close_notify, then linger (session.cpp). client_gone: the
  // client closed or reset its side, or the socket is closed already; no close_notify is
  // waited for (OpenSSL waited out its 2 s for a client that had sent its FIN).
  void do_close(bool client_gone = false);
  void linger();
  void drain();
  double elapsed() const;

  FlexStream stream_;
  FlexStream::executor_type executor_;  // the strand; outlives a handed-over stream_
  Server::Impl& server_;
  // Bounded: a chunk-size line or a trailer section that never ends cannot grow it past
  // max_header_bytes plus one read (buffer_overflow, answered 400). Body bytes are moved into
  // the request as they arrive, and a header section is bounded by RequestParser.
  boost::beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  Request req_;
  std::string_view path_;   // into req_'s target
  std::string_view query_;
  std::string route_ = "other";
  // The credentials this session last used (refreshed when Server::set_credentials replaced
  // them), the token the current request presented (an index into them, or -1) and the peer.
  std::shared_ptr<AccessState> access_;
  std::uint64_t access_generation_ = 0;
  int token_ = -1;
  boost::asio::ip::address peer_ip_;
  PeerAddress peer_{};
  Server::Impl::RequestSeries series_;  // the metrics series of the last answer (count)
  bool keep_alive_ = false;
  // Waiting for a request or reading one (a partial header or body included): no handler runs
  // and no response is being written. Such a connection may be evicted at max_connections.
  bool idle_ = false;
  std::atomic<std::int64_t> idle_since_{0};
  bool handed_over_ = false;  // the connection became a LiveStream
  bool closing_ = false;      // do_close ran: the close_notify, then linger
  std::size_t skipped_ = 0;   // the empty lines' bytes skipped before this request's line

  std::function<void()> on_cancel_;  // on_cancel()
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

template <class Message>
void Session::set_headers(Message& res, const Answer& a, std::string_view content_type,
                          bool have_request) {
  namespace http = boost::beast::http;
  res.set(http::field::server, "pemx");
  if (!a.body.empty()) res.set(http::field::content_type, to_beast(content_type));
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  for (const auto& [k, v] : a.headers) res.set(k, v);
  if (have_request) add_cors(res);
}

template <class Message>
void Session::write(std::shared_ptr<Message> res, int status) {
  res->keep_alive(keep_alive_ && !server_.stopping.load());
  server_.count(series_, route_, status, elapsed());
  stream_.expires_after(server_.settings.idle_timeout);
  boost::beast::http::async_write(
      stream_, *res, [self = shared_from_this(), res](boost::beast::error_code ec, std::size_t) {
        self->on_write(ec, res->keep_alive());
      });
}

}  // namespace pemx::http_front
