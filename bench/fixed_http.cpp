// pemx_bench_fixed_http: the baseline of the history benchmark. A tiny Boost.Beast HTTP/1.1
// server built like plugins/http_front/server.cpp — an io_context run by --threads threads
// (http_front's io_threads, 2 by default), one session per connection on its own strand,
// request parser with the same limits, expires_after before every read and write,
// keep-alive — that answers every request with the same fixed body of --body-bytes bytes and
// the same response headers as pemx (Server, Content-Type, Cache-Control,
// X-Content-Type-Options, Content-Length). No routing, no query parsing, no store, no second
// thread pool: what an HTTP answer of that size costs on this machine, and nothing else.
//
// Prints {"tool":"pemx_bench_fixed_http","port":P,…} once listening; runs until SIGTERM or
// SIGINT, then prints {"tool":…,"requests":N} and exits 0.
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr const char* kProgram = "pemx_bench_fixed_http";
constexpr const char* kUsage = R"(pemx_bench_fixed_http — HTTP server answering a fixed body (the history baseline)

Usage: pemx_bench_fixed_http --body-bytes N [options]
  --listen HOST:PORT  where to listen (default 127.0.0.1:0: any free port)
  --threads T         Asio I/O threads (default 2, as http_front's io_threads)
  --body-bytes N      size of the body of every answer (required)

Prints {"tool":"pemx_bench_fixed_http","port":P,...} when listening; SIGTERM/SIGINT ends it.
)";

struct Shared {
  std::string body;
  std::atomic<std::int64_t> requests{0};
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Shared& shared) : stream_(std::move(socket)), shared_(shared) {}
  void run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->header_limit(8 * 1024);    // http_front's max_header_bytes
    parser_->body_limit(1024 * 1024);   // and max_body_bytes
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }
  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return do_close();
    req_ = parser_->release();
    shared_.requests.fetch_add(1, std::memory_order_relaxed);
    auto res = std::make_shared<http::response<http::string_body>>(http::status::ok,
                                                                   req_.version());
    res->set(http::field::server, "pemx");
    res->set(http::field::content_type, "application/json");
    res->set(http::field::cache_control, "no-store");
    res->set("X-Content-Type-Options", "nosniff");
    res->body() = shared_.body;  // a copy, as http_front copies its answer into the response
    res->keep_alive(req_.keep_alive());
    res->prepare_payload();
    stream_.expires_after(std::chrono::seconds(30));
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code e, std::size_t) {
      if (e || !res->keep_alive()) return self->do_close();
      self->do_read();
    });
  }
  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  Shared& shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> req_;
};

void accept(tcp::acceptor& acceptor, net::io_context& ioc, Shared& shared) {
  acceptor.async_accept(net::make_strand(ioc), [&](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (!ec) std::make_shared<Session>(std::move(socket), shared)->run();
    accept(acceptor, ioc, shared);
  });
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pemx::bench;
  Options opts(kProgram, kUsage, {"listen", "threads", "body-bytes"});
  opts.parse(argc, argv);
  const std::string listen = opts.str("listen", "127.0.0.1:0");
  const int threads = static_cast<int>(opts.integer("threads", 2, 1, 64));
  const std::int64_t body_bytes = opts.integer("body-bytes", -1, 0, 64 << 20);
  if (body_bytes < 0) opts.fail("--body-bytes is required");
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) opts.fail("--listen expects HOST:PORT");

  Shared shared;
  // A JSON array of the right size: [ "xxxx…" ] (or spaces for tiny sizes).
  if (body_bytes >= 4) {
    shared.body = "[\"" + std::string(static_cast<std::size_t>(body_bytes - 4), 'x') + "\"]";
  } else {
    shared.body.assign(static_cast<std::size_t>(body_bytes), ' ');
  }

  net::io_context ioc(threads);
  beast::error_code ec;
  auto address = net::ip::make_address(listen.substr(0, colon), ec);
  if (ec) opts.fail("--listen: bad address");
  tcp::endpoint ep(address, static_cast<unsigned short>(std::stoi(listen.substr(colon + 1))));
  tcp::acceptor acceptor(net::make_strand(ioc));
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) die(kProgram, "cannot listen on " + listen + ": " + ec.message());

  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int) { ioc.stop(); });
  accept(acceptor, ioc, shared);

  JsonLine ready;
  ready.add("tool", kProgram)
      .add("port", static_cast<int>(acceptor.local_endpoint().port()))
      .add("threads", threads)
      .add("body_bytes", static_cast<std::int64_t>(shared.body.size()));
  std::cout << ready.str() << std::endl;

  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back([&ioc] { ioc.run(); });
  for (auto& t : pool) t.join();

  JsonLine done;
  done.add("tool", kProgram).add("requests", shared.requests.load());
  std::cout << done.str() << std::endl;
  return 0;
}
