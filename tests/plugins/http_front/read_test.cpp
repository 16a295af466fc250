// How a session reads a request (session.cpp, on_header): once the header is in, the read
// buffer gets room for the body, so a body that arrives at once is read in a few reads. A
// buffer that never grew past its first 512 bytes read a 43 KB push body in about 60 reads,
// each a trip through the I/O thread's queue (docs/benchmarks.md, "Push").
#include <catch2/catch.hpp>

#if defined(__SANITIZE_ADDRESS__)
#define PEMX_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PEMX_TEST_ASAN 1
#endif
#endif
#ifdef PEMX_TEST_ASAN
#include <sanitizer/allocator_interface.h>
#endif

#include <malloc.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "http_front/server.hpp"
#include "pemx/activity.hpp"
#include "pemx/metrics.hpp"
#include "support/http_client.hpp"

namespace pemx::http_front {
namespace {

using namespace std::chrono_literals;

std::uint64_t socket_reads(Metrics& m) {
  return m.counter("pemx_http_socket_reads_total", "").value();
}

// A server with one I/O thread and no store, Kafka or page: all that reading requests needs.
struct PlainServer {
  Metrics metrics;
  Activity activity;
  std::unique_ptr<Server> server;  // after what it refers to
  explicit PlainServer(std::size_t max_body_bytes = ServerSettings{}.max_body_bytes) {
    activity.role = "web";
    ServerSettings s;
    s.port = 0;
    s.io_threads = 1;
    s.idle_timeout = 30s;
    s.max_body_bytes = max_body_bytes;
    server = std::make_unique<Server>(s, Logger{}, metrics, nullptr, nullptr, &activity);
    server->start();
  }
  ~PlainServer() { server->stop(); }
  PlainServer(const PlainServer&) = delete;
  PlainServer& operator=(const PlainServer&) = delete;
};

// A push-sized body: 43,000 bytes of JSON.
std::string big_body() {
  std::string body = "{\"events\":[";
  while (body.size() < 43'000) body += "{\"eventId\":\"0000000000000000000000000000\"},";
  body.back() = ']';
  return body + "}";
}

TEST_CASE("http_front: a 43 KB body sent at once is read in a few reads, with Content-Length "
          "or chunked, and the connection goes on",
          "[http_front][http]") {
  PlainServer plain;
  Server& server = *plain.server;
  Metrics& metrics = plain.metrics;
  const std::string body = big_body();

  SECTION("Content-Length") {
    const std::uint64_t before = socket_reads(metrics);
    // Two requests in one write: the big one, then one more on the same connection.
    const auto ex = pemx::test::http_exchange(
        server.port(),
        "POST /event HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body +
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        20s);
    const std::uint64_t reads = socket_reads(metrics) - before;
    INFO("reads: " << reads << "\n" << ex.received.substr(0, 900));
    // Not events: POST /event answers 400 once its body was read in full and checked.
    CHECK(pemx::test::statuses(ex.received) == std::vector<int>{400, 200});
    // The header read, one or two for the body (however the kernel split it), the next
    // request, the end of the stream: 512-byte reads made it 85.
    CHECK(reads <= 8);
  }
  SECTION("chunked") {
    std::string chunked;
    for (std::size_t at = 0; at < body.size(); at += 10'000) {
      const std::string piece = body.substr(at, 10'000);
      char size[16];
      std::snprintf(size, sizeof size, "%zx", piece.size());
      chunked += std::string(size) + "\r\n" + piece + "\r\n";
    }
    chunked += "0\r\n\r\n";
    const std::uint64_t before = socket_reads(metrics);
    const auto ex = pemx::test::http_exchange(
        server.port(),
        "POST /event HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked,
        20s);
    const std::uint64_t reads = socket_reads(metrics) - before;
    INFO("reads: " << reads << "\n" << ex.received.substr(0, 900));
    CHECK(pemx::test::statuses(ex.received) == std::vector<int>{400});
    CHECK(reads <= 8);
  }
}

// What arrives on fd within `wait` (less if the server closes).
std::string read_for(int fd, std::chrono::milliseconds wait) {
  std::string got;
  const auto until = std::chrono::steady_clock::now() + wait;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return got;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return got;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return got;
    got.append(buf, static_cast<std::size_t>(n));
  }
}

// Reads until `text` has arrived (bounded by 10 s).
std::string read_until(int fd, const std::string& text) {
  std::string got;
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (got.find(text) == std::string::npos && std::chrono::steady_clock::now() < until) {
    const std::string more = read_for(fd, 100ms);
    got += more;
  }
  return got;
}

TEST_CASE("http_front: Expect: 100-continue is answered with 100 Continue before the body is "
          "sent (HTTP/1.1 only)",
          "[http_front][http]") {
  PlainServer plain;
  Server& server = *plain.server;
  const std::string body = big_body();
  const std::string header = "POST /event HTTP/1.1\r\nHost: localhost\r\n"
                             "Content-Type: application/json\r\nExpect: 100-Continue\r\n"
                             "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  const int fd = pemx::test::connect_loopback(server.port());
  REQUIRE(fd >= 0);
  REQUIRE(pemx::test::send_all(fd, header));
  // The client sends nothing more until it has the 100 (curl waits 1 s for it, then sends).
  const std::string interim = read_for(fd, 3s);
  CHECK(interim == "HTTP/1.1 100 Continue\r\n\r\n");
  REQUIRE(pemx::test::send_all(fd, body));
  const std::string answer = read_until(fd, "\r\n\r\n");
  CHECK(answer.rfind("HTTP/1.1 400 ", 0) == 0);  // not events: checked once read in full
  ::close(fd);

  // HTTP/1.0 has no 1xx: nothing is sent before the answer.
  const int old = pemx::test::connect_loopback(server.port());
  REQUIRE(old >= 0);
  REQUIRE(pemx::test::send_all(old, "POST /event HTTP/1.0\r\nHost: localhost\r\n"
                                    "Content-Type: application/json\r\nExpect: 100-continue\r\n"
                                    "Content-Length: 2\r\n\r\n"));
  CHECK(read_for(old, 500ms).empty());
  REQUIRE(pemx::test::send_all(old, "{}"));
  CHECK(read_until(old, "\r\n\r\n").rfind("HTTP/1.0 400 ", 0) == 0);
  ::close(old);
}

TEST_CASE("http_front: a body over max_body_bytes gets its 413 even when the client sends all "
          "of it before reading; the server then drains it and closes",
          "[http_front][http]") {
  // Closed with the body's bytes unread, the connection was reset: the client's sends failed
  // and its kernel dropped the answer (session.cpp, linger). 32 MiB is more than the sockets'
  // buffers hold on the way.
  PlainServer plain(64 * 1024);
  Server& server = *plain.server;
  const std::size_t body = 32u << 20;
  const int fd = pemx::test::connect_loopback(server.port());
  REQUIRE(fd >= 0);
  REQUIRE(pemx::test::send_all(fd, "POST /event HTTP/1.1\r\nHost: localhost\r\n"
                                   "Content-Type: application/json\r\nContent-Length: " +
                                       std::to_string(body) + "\r\n\r\n"));
  CHECK(pemx::test::send_all(fd, std::string(body, 'a')));
  const std::string answer = read_for(fd, 10s);  // up to the server's end of stream
  CHECK(answer.rfind("HTTP/1.1 413 ", 0) == 0);
  CHECK(answer.find("Connection: close") != std::string::npos);
  ::close(fd);

  // A client that stops sending and keeps its side open gets its answer and the end of the
  // stream at once, and its connection is let go after the linger (5 s).
  const int quiet = pemx::test::connect_loopback(server.port());
  REQUIRE(quiet >= 0);
  REQUIRE(pemx::test::send_all(quiet, "POST /event HTTP/1.1\r\nHost: localhost\r\n"
                                      "Content-Length: 1000000\r\n\r\n"));
  CHECK(read_for(quiet, 3s).rfind("HTTP/1.1 413 ", 0) == 0);
  auto open_connections = [&] {
    const auto samples = plain.metrics.read("pemx_http_connections");
    return samples.empty() ? -1.0 : samples.front().value;
  };
  double left = -1;
  for (int i = 0; i < 100 && (left = open_connections()) != 0; ++i) {
    std::this_thread::sleep_for(100ms);
  }
  CHECK(left == 0);
  ::close(quiet);
}

TEST_CASE("http_front: empty lines before a request line are skipped, as Node's parser does; "
          "a flood of them is a 400",
          "[http_front][http]") {
  PlainServer plain;
  Server& server = *plain.server;
  const std::string get = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
  const std::string last = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  using pemx::test::http_exchange;
  using pemx::test::statuses;
  // Before the first request, CRLFs or bare LFs.
  CHECK(statuses(http_exchange(server.port(), "\r\n\r\n" + last, 10s).received) ==
        std::vector<int>{200});
  CHECK(statuses(http_exchange(server.port(), "\n" + last, 10s).received) ==
        std::vector<int>{200});
  // A CRLF after a request's body, as some clients send after a POST, then the next request.
  CHECK(statuses(http_exchange(server.port(),
                               "GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
                               "2\r\n\r\n{}\r\n" + get + "\r\n" + last,
                               10s)
                     .received) == std::vector<int>{200, 200, 200});
  // The empty line and the request in reads of their own.
  {
    const int fd = pemx::test::connect_loopback(server.port());
    REQUIRE(fd >= 0);
    REQUIRE(pemx::test::send_all(fd, "\r"));
    std::this_thread::sleep_for(50ms);
    REQUIRE(pemx::test::send_all(fd, "\n"));
    std::this_thread::sleep_for(50ms);
    REQUIRE(pemx::test::send_all(fd, last));
    CHECK(read_for(fd, 10s).rfind("HTTP/1.1 200 ", 0) == 0);
    ::close(fd);
  }
  // More empty lines than max_header_bytes (8 KiB by default): refused, the connection closed.
  std::string flood;
  for (int i = 0; i < 5000; ++i) flood += "\r\n";
  const auto refused = http_exchange(server.port(), flood + last, 10s).received;
  CHECK(statuses(refused) == std::vector<int>{400});
  // Not an empty line: a bad method is refused as before.
  CHECK(statuses(http_exchange(server.port(), " GET /healthz HTTP/1.1\r\n\r\n", 10s).received) ==
        std::vector<int>{400});
}

TEST_CASE("http_front: a client that closes in the middle of a request gets no answer and is "
          "not counted as a bad request",
          "[http_front][http]") {
  PlainServer plain;
  Server& server = *plain.server;
  auto bad_requests = [&] {
    return plain.metrics.counter("pemx_http_requests_total", "",
                                 {{"route", "invalid"}, {"status", "400"}})
        .value();
  };
  for (const std::string& partial :
       {std::string("POST /event HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n"
                    "{\"events\":"),
        std::string("GET /healthz HTTP/1.1\r\nHost: loc")}) {
    const int fd = pemx::test::connect_loopback(server.port());
    REQUIRE(fd >= 0);
    REQUIRE(pemx::test::send_all(fd, partial));
    ::shutdown(fd, SHUT_WR);
    CHECK(read_for(fd, 10s).empty());  // the end of the stream, and nothing before it
    ::close(fd);
  }
  // A malformed request still is one.
  CHECK(pemx::test::statuses(pemx::test::http_exchange(server.port(),
                                                       "GET /healthz HTTP/9.9\r\n\r\n", 10s)
                                 .received) == std::vector<int>{400});
  CHECK(bad_requests() == 1);
}

// The bytes malloc has handed out and not taken back: glibc's count (every arena, mmapped
// chunks included), or AddressSanitizer's own allocator's in the sanitizer build (glibc's then
// sees none of the program's allocations).
std::size_t allocated() {
#ifdef PEMX_TEST_ASAN
  return __sanitizer_get_current_allocated_bytes();
#else
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
#endif
}

TEST_CASE("http_front: an idle keep-alive connection does not keep its last request's body",
          "[http_front][http]") {
  // The measure must see what malloc hands out.
  {
    const std::size_t before = allocated();
    std::vector<char> probe(16 << 20, 'x');
    REQUIRE(allocated() >= before + (16 << 20));
  }
  PlainServer plain;
  Server& server = *plain.server;
  // Any route reads a body up to max_body_bytes, /healthz too; then a short request.
  const std::string big(1'000'000, 'a');
  const std::string first = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: " +
                            std::to_string(big.size()) + "\r\n\r\n" + big;
  const std::string second = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
  const std::size_t before = allocated();
  std::vector<int> open;
  for (int i = 0; i < 24; ++i) {
    const int fd = pemx::test::connect_loopback(server.port());
    REQUIRE(fd >= 0);
    open.push_back(fd);
    REQUIRE(pemx::test::send_all(fd, first));
    REQUIRE(read_until(fd, "\r\n\r\n").rfind("HTTP/1.1 200 ", 0) == 0);
    REQUIRE(pemx::test::send_all(fd, second));
    REQUIRE(read_until(fd, "\r\n\r\n").rfind("HTTP/1.1 200 ", 0) == 0);
  }
  // 24 connections, idle now: kept bodies would be 24 MB.
  const std::size_t grown = allocated() > before ? allocated() - before : 0;
  INFO("allocated after: +" << grown << " bytes");
  CHECK(grown < (4u << 20));
  for (int fd : open) ::close(fd);
}

}  // namespace
}  // namespace pemx::http_front
