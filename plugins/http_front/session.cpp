#include "http_front/session.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include <utility>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>

#include "http_front/routes.hpp"

namespace pemx::http_front {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr std::size_t kReadAhead = 64 * 1024;  // a session's read buffer beyond max_header_bytes
constexpr std::size_t kIdleBuffer = 4 * 1024;   // what a read buffer keeps between requests
constexpr std::chrono::seconds kLinger{5};      // the longest a closing connection drains

namespace {
// The per-address rate limit's key (rate_key: IPv4 whole, IPv6 by its /64).
PeerAddress peer_key(const net::ip::address& a) {
  if (a.is_v4()) return net::ip::make_address_v6(net::ip::v4_mapped, a.to_v4()).to_bytes();
  return rate_key(a.to_v6().to_bytes());
}
std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Session::Session(tcp::socket&& socket, Server::Impl& server,
                 std::shared_ptr<net::ssl::context> tls)
    : stream_(tls ? FlexStream(beast::tcp_stream(std::move(socket)), std::move(tls))
                  : FlexStream(beast::tcp_stream(std::move(socket)))),
      executor_(stream_.get_executor()), server_(server),
      buffer_(server.settings.max_header_bytes + kReadAhead) {
  server_.sessions.fetch_add(1);
  stream_.count_reads(&server_.socket_reads);
  beast::error_code ec;
  auto remote = stream_.socket().remote_endpoint(ec);
  if (!ec) {
    peer_ip_ = remote.address();
    peer_ = peer_key(peer_ip_);
  }
}

Session::~Session() { server_.connection_ended(); }

void Session::run() {
  if (auto* tls = stream_.tls()) {
    // The handshake first, bounded like a read; a client speaking plain HTTP fails it. Idle
    // meanwhile: a client that connects and never completes it may be evicted at
    // max_connections, like one that never finishes a request.
    net::dispatch(executor_, [self = shared_from_this(), tls] {
      self->mark_idle();
      self->stream_.expires_after(self->server_.settings.idle_timeout);
      tls->async_handshake(net::ssl::stream_base::server,
                           beast::bind_front_handler(&Session::on_handshake, self));
    });
    return;
  }
  net::dispatch(executor_, beast::bind_front_handler(&Session::do_read, shared_from_this()));
}

void Session::on_handshake(beast::error_code ec) {
  idle_ = false;
  idle_since_.store(0);
  if (ec) {
    server_.tls_failed(ec);
    beast::error_code ignored;
    stream_.socket().close(ignored);
    return;
  }
  do_read();
}

void Session::evict(std::int64_t since) {
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

void Session::close_if_idle() {
  net::post(executor_, [self = shared_from_this()] {
    beast::error_code ec;
    if (self->idle_ && !self->handed_over_) self->stream_.socket().close(ec);
  });
}

void Session::cancel() {
  net::post(executor_, [self = shared_from_this()] {
    if (self->handed_over_) return;
    if (auto f = std::exchange(self->on_cancel_, nullptr)) f();
    beast::error_code ec;
    self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    self->stream_.socket().close(ec);
  });
}

void Session::watch_disconnect(std::shared_ptr<std::atomic<bool>> gone) {
  if (handed_over_) return;
  std::weak_ptr<Session> weak = weak_from_this();
  stream_.socket().async_wait(
      tcp::socket::wait_read,
      net::bind_executor(executor_, [weak, gone = std::move(gone)](beast::error_code ec) {
        auto self = weak.lock();
        if (!self || self->handed_over_) return;
        if (ec) {  // aborted: the server closed it (it cancels its lookups itself)
          if (ec != net::error::operation_aborted) gone->store(true);
          return;
        }
        char byte = 0;
        const ssize_t n = ::recv(self->stream_.socket().native_handle(), &byte, 1,
                                 MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          gone->store(true);  // end of stream, or the connection reset
        } else if (n < 0) {
          self->watch_disconnect(gone);  // nothing there after all: wait again
        }
        // n > 0: the client sent more and is there; stop watching (the next read takes it).
      }));
}

void Session::mark_idle() {
  idle_ = true;
  idle_since_.store(now_ns());
  server_.session_idle();
}

void Session::do_read() {
  if (server_.stopping.load()) {
    do_close();
    return;
  }
  mark_idle();
  // The room a body made (on_header) is not kept while the connection waits for its next
  // request: an idle connection holds a few KiB at most.
  if (buffer_.capacity() > kIdleBuffer) buffer_.shrink_to_fit();
  stream_.expires_after(server_.settings.idle_timeout);  // for the header and the body
  skipped_ = 0;
  read_header();
}

void Session::read_header() {
  parser_.emplace(RequestLimits{server_.settings.max_header_bytes,
                                server_.settings.max_header_fields,
                                server_.settings.max_body_bytes});
  http::async_read_header(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&Session::on_header, shared_from_this()));
}

// Empty lines before a request line are skipped (RFC 9112 2.2: a server SHOULD ignore at least
// one; Node's parser, the one PEMX replaces, ignores any number, and some clients send a CRLF
// after a POST's body). Beast refuses them as a bad method, so they are looked for only then
// and the usual path pays nothing: the buffer still holds the unparsed bytes, the empty lines
// go, and the header is read again with a new parser. At most max_header_bytes of them.
bool Session::skip_empty_lines() {
  const auto data = buffer_.cdata();
  const char* p = static_cast<const char*>(data.data());
  std::size_t n = 0;
  while (n < data.size() && (p[n] == '\r' || p[n] == '\n')) ++n;
  if (n == 0 || skipped_ + n > server_.settings.max_header_bytes) return false;
  skipped_ += n;
  buffer_.consume(n);
  read_header();
  return true;
}

// The header section is in. Before the body is read, the read buffer gets room for it (up to
// one read of kReadAhead): Beast reads as much as the buffer's free capacity, and a buffer
// that never held more than a header kept reads at 512 bytes, so a 43 KB push body took
// about 60 reads, each a trip through the I/O thread's queue behind other sessions' work
// (docs/benchmarks.md, "Push"). The buffer's bound is unchanged.
void Session::on_header(beast::error_code ec, std::size_t) {
  if (ec == http::error::bad_method && skip_empty_lines()) return;
  if (ec || parser_->is_done()) return on_read(ec, 0);
  // "Expect: 100-continue" (RFC 9110 10.1.1): the client waits for a 100 before it sends the
  // body (curl does for large bodies, then gives up waiting after 1 s; Node's server, the one
  // PEMX replaces, answers it by itself). Not for HTTP/1.0, which has no 1xx.
  const auto& header = parser_->get();
  if (header.version() >= 11 &&
      beast::iequals(header[http::field::expect], "100-continue")) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                     [self = shared_from_this()](beast::error_code wec, std::size_t) {
                       if (wec) return self->do_close();
                       self->read_body();
                     });
    return;
  }
  read_body();
}

void Session::read_body() {
  const std::size_t body = parser_->content_length_remaining()
                               ? static_cast<std::size_t>(std::min<std::uint64_t>(
                                     *parser_->content_length_remaining(), kReadAhead))
                               : kReadAhead;  // chunked: its size is not known
  const std::size_t want = std::min(buffer_.size() + body, buffer_.max_size());
  if (want > buffer_.capacity()) buffer_.reserve(want);
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&Session::on_read, shared_from_this()));
}

void Session::on_read(beast::error_code ec, std::size_t) {
  idle_ = false;
  idle_since_.store(0);
  // The client went (or its time ran out): nobody to answer. partial_message: it closed in
  // the middle of a request, which is not a malformed one (Node answers nothing either).
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == net::error::operation_aborted ||
      ec == beast::error::timeout || ec == net::error::connection_reset ||
      ec == net::ssl::error::stream_truncated ||
      ec == net::error::bad_descriptor) {
    // After the client's close_notify (end of stream, partial message) ours goes back at
    // once; after a bare FIN, a reset or a timeout there is nobody to wait for.
    do_close(ec != http::error::end_of_stream && ec != http::error::partial_message);
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

void Session::handle(Request&& req) {
  req_ = std::move(req);
  keep_alive_ = req_.keep_alive() && !server_.stopping.load();
  std::string_view target(req_.target().data(), req_.target().size());
  auto qpos = target.find('?');
  path_ = target.substr(0, qpos);
  query_ = qpos == std::string_view::npos ? "" : target.substr(qpos + 1);

  // A page on another site whose name resolves to this address (DNS rebinding) must not
  // reach the API: its requests carry that site's name in Host.
  auto host = req_[http::field::host];
  if (!host_allowed(std::string_view(host.data(), host.size()), server_.settings.host,
                    server_.settings.allowed_hosts)) {
    route_ = "invalid";
    return send(error_answer(421, "Host \"" + std::string(host.substr(0, 200)) +
                                      "\" is not served here; list it in allowed_hosts"));
  }
  // HEAD is routed like GET; send() answers it with GET's status and headers and no body.
  RouteMatch match = match_route(api_routes(), req_.method(), path_);
  route_ = match.name;
  if (match.route == nullptr) return send(std::move(match.answer));
  token_ = -1;
  if (match.route->access != Access::kOpen && !admit(*match.route)) return;
  match.route->handler(*this);
}

bool Session::admit(const Route& route) {
  server_.current_access(access_, access_generation_);
  auto authorization = req_[http::field::authorization];
  const AuthDecision d = authorize(access_->credentials, route.access,
                                   std::string_view(authorization.data(), authorization.size()));
  token_ = d.token;
  // The rate limit first, so that guessing tokens from one address is limited as well: a
  // request without a known token counts against its address's bucket (on the admin routes
  // too, which a known admin token may call without limit).
  if ((route.access != Access::kAdmin || token_ < 0) && over_rate_limit(route)) return false;
  if (d.status == 401) {
    Answer a = error_answer(401, route.access == Access::kWrite
                                     ? "missing or invalid bearer token for writes"
                                 : route.access == Access::kRead
                                     ? "missing or invalid bearer token for reads"
                                     : "missing or invalid admin token");
    a.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"pemx\"");
    send(std::move(a));
    return false;
  }
  if (d.status == 403 && route.access == Access::kAdmin && !access_->credentials.admins) {
    send(error_answer(403, "the admin endpoints are disabled: no admin token is configured "
                           "(admin_tokens, admin_tokens_file, or a token with the admin role)"));
    return false;
  }
  if (d.status == 403) {
    send(error_answer(403, "token \"" + std::string(token_name()) + "\" lacks the " +
                               (route.access == Access::kWrite ? "writer" : "admin") + " role"));
    return false;
  }
  return true;
}

bool Session::over_rate_limit(const Route& route) {
  const auto r = route.access == Access::kWrite ? RateRoute::kPush : RateRoute::kRead;
  const auto ri = static_cast<std::size_t>(r);
  const RouteLimits& limits = server_.settings.rate_limits.routes[ri];
  std::int64_t wait = 0;
  std::size_t by = 0;
  if (token_ >= 0) {
    if (!limits.per_token.enabled()) return false;
    const auto now = now_ns();
    std::lock_guard<std::mutex> lock(access_->mutex);
    wait = access_->token_buckets[static_cast<std::size_t>(token_)][ri].take(now,
                                                                             limits.per_token);
  } else {
    if (!limits.per_address.enabled()) return false;
    by = 1;
    const auto now = now_ns();
    std::lock_guard<std::mutex> lock(server_.addresses_mutex);
    wait = server_.addresses
               .find_or_insert(peer_, now, server_.settings.rate_limits.per_address())[ri]
               .take(now, limits.per_address);
  }
  if (wait == 0) return false;
  server_.rate_limited[ri][by]->inc();
  const auto seconds = retry_after_seconds(wait);
  Answer a = error_answer(429, std::string("rate limit of ") +
                                   (r == RateRoute::kPush ? "push" : "read") + " requests per " +
                                   (by == 0 ? "token" : "client address") +
                                   " exceeded; retry after " + std::to_string(seconds) + " s");
  a.headers.emplace_back("Retry-After", std::to_string(seconds));
  send(std::move(a));
  return true;
}

// A response to HEAD carries GET's status and headers, Content-Length included, and no body
// (RFC 9110 9.3.2): the client reads no body after it, so one sent would break the next
// response on the connection.
// content_type: the answer's own (Answer::content_type) when it has one.
void Session::send(Answer a, std::string_view content_type, bool have_request) {
  if (!a.content_type.empty()) content_type = a.content_type;
  const auto status = static_cast<http::status>(a.status);
  const unsigned version = have_request ? req_.version() : 11;
  if (have_request && req_.method() == http::verb::head) {
    auto res = std::make_shared<http::response<http::empty_body>>(status, version);
    set_headers(*res, a, content_type, have_request);
    res->content_length(a.body.size());
    return write(std::move(res), a.status);
  }
  auto res = std::make_shared<http::response<http::string_body>>(status, version);
  set_headers(*res, a, content_type, have_request);
  res->body() = std::move(a.body);
  res->prepare_payload();
  write(std::move(res), a.status);
}

void Session::on_write(beast::error_code ec, bool keep_alive) {
  // The answered request goes now, its body's allocation with it: kept until the next request
  // replaced it, a short one (a GET) moved into that allocation and an idle connection held
  // the last body (1 MiB each, read even on GET /healthz). Swapped out, not assigned: a string
  // assigned an empty one keeps its capacity.
  std::string().swap(req_.body());
  req_ = {};
  path_ = {};
  query_ = {};
  if (ec || !keep_alive) {
    do_close();
    return;
  }
  do_read();
}

void Session::do_close(bool client_gone) {
  if (handed_over_ || closing_) return;
  closing_ = true;
  auto* tls = stream_.tls();
  if (tls != nullptr && !client_gone) {
    // TLS ends with our close_notify, bounded. OpenSSL then reads for the client's; a client
    // still sending (a body answered 413) makes it fail at once ("application data after
    // close notify"), which is fine: what follows drains the rest. Evictable meanwhile: a
    // client that neither reads nor answers holds its slot for the 2 s otherwise.
    mark_idle();
    stream_.expires_after(std::chrono::seconds(2));
    tls->async_shutdown([self = shared_from_this()](beast::error_code) { self->linger(); });
    return;
  }
  linger();
}

// The connection ends, but not with a close() while the client's bytes are still unread: the
// kernel answers that with a reset, and a reset makes the client's kernel drop the answer it
// had not read yet (a 413 sent while the body still arrives is lost that way). So the send
// side is shut (the client reads the answer and an end of stream), and whatever the client
// still sends is read and dropped until it closes too, for kLinger at most (RFC 9112 9.6;
// nginx's lingering close). What is read here is TLS records, never decrypted.
void Session::linger() {
  if (!stream_.socket().is_open()) return;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    stream_.socket().close(ec);
    return;
  }
  mark_idle();  // evictable at max_connections meanwhile
  // Shorter while the server stops: its drain waits for every connection.
  stream_.expires_after(server_.stopping.load() ? std::chrono::seconds(1) : kLinger);
  buffer_.clear();  // what is read from now on is dropped, into at most kIdleBuffer
  if (buffer_.capacity() > kIdleBuffer) buffer_.shrink_to_fit();
  drain();
}

void Session::drain() {
  stream_.tcp().async_read_some(
      buffer_.prepare(std::min(kIdleBuffer, buffer_.max_size())),
      [self = shared_from_this()](beast::error_code ec, std::size_t) {
        // Every error ends it: the client's end of stream or reset, or kLinger over (the
        // stream closed the socket).
        if (ec) {
          beast::error_code ignored;
          self->stream_.socket().close(ignored);
          return;
        }
        self->drain();
      });
}

double Session::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

FlexStream Session::hand_over() {
  server_.count(series_, route_, 200, elapsed());
  handed_over_ = true;
  return std::move(stream_);
}

}  // namespace pemx::http_front
