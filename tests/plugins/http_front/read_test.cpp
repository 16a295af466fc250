// How a session reads a request (session.cpp, on_header): once the header is in, the read
// buffer gets room for the body, so a body that arrives at once is read in a few reads. A
// buffer that never grew past its first 512 bytes read a 43 KB push body in about 60 reads,
// each a trip through the I/O thread's queue (docs/benchmarks.md, "Push").
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
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
  Metrics metrics;
  Activity activity;
  activity.role = "web";
  ServerSettings s;
  s.port = 0;
  s.io_threads = 1;
  s.idle_timeout = 30s;
  Server server(s, Logger{}, metrics, nullptr, nullptr, &activity);
  server.start();
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
  server.stop();
}

}  // namespace
}  // namespace pemx::http_front
