// The Server over a loopback socket (port 0): HEAD answers like GET without a body on every
// route that has a GET, HEAD /api/live starts no stream, a wrong method on /event is a 405
// that lists the allowed ones, and requests with ambiguous framing (a header flood,
// Transfer-Encoding smuggling, Content-Length with Transfer-Encoding, no or two Host headers)
// are answered and the connection closed, with nothing after them run as a request.
#include "http_front/server.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include "support/http_client.hpp"

using namespace pemx;
using namespace pemx::http_front;
using pemx::test::http_request;
using pemx::test::HttpResponse;
using pemx::test::HttpStream;
using namespace std::chrono_literals;

namespace {

// Answers every history query with one event of the first product.
class OneEventReader final : public EventReader {
 public:
  Result<EventPage> query(const EventQuery& q) override {
    EventPage page;
    page.events.push_back({"6f1c2a34-1111-4aaa-8bbb-000000000001", "Country", q.product_ids.at(0),
                           "EU", "2024-07-26T14:41:17.123Z", R"({"country":"Sweden"})"});
    return page;
  }
  Result<std::vector<RecentProduct>> recent_products(std::size_t limit) override {
    std::vector<RecentProduct> all{{"K7Q2M9X4PL", "2024-07-26T16:41:17.5+02:00"},
                                   {"ABC1234567", "2024-07-26T14:00:00.000Z"}};
    all.resize(std::min(limit, all.size()));
    return all;
  }
  Result<EventCount> count(const EventQuery& q) override {
    return EventCount{static_cast<std::int64_t>(q.product_ids.size()) * 600,
                      q.event_type.has_value()};
  }
  std::optional<std::string> problem() override { return std::nullopt; }
};

// A store that fails in a way it does not report: its query throws.
class ThrowingReader final : public EventReader {
 public:
  Result<EventPage> query(const EventQuery&) override {
    throw std::runtime_error("the reader broke");
  }
  std::optional<std::string> problem() override { return std::nullopt; }
};

struct TestServer {
  explicit TestServer(std::size_t max_live_clients = 32,
                      std::shared_ptr<EventReader> reader = std::make_shared<OneEventReader>()) {
    activity.role = "web";
    activity.offer("stored");
    ServerSettings s;
    s.port = 0;
    s.io_threads = 1;
    s.query_threads = 1;
    s.idle_timeout = 5s;  // bounds a test whose server forgot to close
    s.max_live_clients = max_live_clients;
    server = std::make_unique<Server>(s, Logger{}, metrics, std::move(reader), nullptr,
                                      &activity);
    server->start();
  }
  ~TestServer() { server->stop(); }

  HttpResponse request(const std::string& method, const std::string& target) {
    return http_request(server->port(), method, target);
  }

  Metrics metrics;
  Activity activity;
  std::unique_ptr<Server> server;
};

// Everything the server sends on one connection until it closes it.
std::string exchange(std::uint16_t port, const std::string& raw) {
  namespace net = boost::asio;
  net::io_context ioc;
  net::ip::tcp::socket socket(ioc);
  socket.connect({net::ip::make_address("127.0.0.1"), port});
  net::write(socket, net::buffer(raw));
  std::string out;
  boost::system::error_code ec;
  net::read(socket, net::dynamic_buffer(out), ec);  // until the server closes (idle_timeout)
  return out;
}

// This process's resident memory in KiB (VmRSS in /proc/self/status).
long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// The server keeps answering normal requests on new connections.
void check_still_answers(TestServer& t) {
  HttpResponse r = t.request("GET", "/healthz");
  CHECK(r.status == 200);
  CHECK(r.body == R"({"status":"ok"})");
}

}  // namespace

TEST_CASE("HEAD answers with GET's status and headers, and no body", "[unit][http]") {
  TestServer t;
  // Answers that are the same at every request: compare every header.
  for (const char* target : {"/", "/index.html", "/healthz", "/readyz", "/openapi.json",
                             "/api/info", "/event?productIds=P1", "/event", "/no-such-route"}) {
    INFO(target);
    HttpResponse get = t.request("GET", target);
    HttpResponse head = t.request("HEAD", target);
    REQUIRE(get.status != 0);
    CHECK(head.status == get.status);
    CHECK(head.headers == get.headers);
    CHECK(head.headers["content-length"] == std::to_string(get.body.size()));
    CHECK(head.body.empty());
  }
  CHECK(t.request("HEAD", "/").status == 200);
  CHECK(t.request("HEAD", "/event?productIds=P1").status == 200);
  // Answers that change between requests: the same status and type, a length, no body.
  for (const char* target : {"/metrics", "/api/overview"}) {
    INFO(target);
    HttpResponse get = t.request("GET", target);
    HttpResponse head = t.request("HEAD", target);
    CHECK(get.status == 200);
    CHECK(head.status == 200);
    CHECK(head.headers["content-type"] == get.headers["content-type"]);
    CHECK(std::stoul(head.headers["content-length"]) > 0);
    CHECK(head.body.empty());
  }
}

TEST_CASE("a HEAD answer on a kept-alive connection leaves the next answer intact",
          "[unit][http]") {
  TestServer t;
  std::string out =
      exchange(t.server->port(),
               "HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
               "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  auto first_end = out.find("\r\n\r\n");
  REQUIRE(first_end != std::string::npos);
  CHECK(out.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  // The second answer starts right after the first one's header: nothing in between.
  CHECK(out.compare(first_end + 4, 17, "HTTP/1.1 200 OK\r\n") == 0);
  CHECK(out.substr(out.size() - 15) == R"({"status":"ok"})");
}

TEST_CASE("HEAD /api/live answers the stream's header and starts no stream", "[unit][http]") {
  TestServer t(1);  // one stream at most: a HEAD that took a slot would lock GET out
  for (int i = 0; i < 3; ++i) {
    HttpResponse head = t.request("HEAD", "/api/live");
    CHECK(head.status == 200);
    CHECK(head.headers["content-type"] == "text/event-stream; charset=utf-8");
    CHECK(head.headers["cache-control"] == "no-store");
    CHECK(head.headers.count("content-length") == 0);
    CHECK(head.body.empty());  // no hello, no replay: the server closed after the header
    CHECK(t.activity.watchers() == 0);
  }
  CHECK(t.request("HEAD", "/api/live?kind=routed").status == 400);  // as GET would answer

  HttpStream stream(t.server->port(), "/api/live");
  REQUIRE(stream.read_until("event: hello", 10s));
  CHECK(stream.data().find("Content-Type: text/event-stream; charset=utf-8") != std::string::npos);
  // The one stream is taken: HEAD says what a GET would get now.
  CHECK(t.request("HEAD", "/api/live").status == 503);
  CHECK(t.request("GET", "/api/live").status == 503);
  CHECK_FALSE(stream.closed());
}

TEST_CASE("a method /event does not take is a 405 that lists the ones it does", "[unit][http]") {
  TestServer t;
  for (const char* method : {"DELETE", "PUT", "PATCH"}) {
    INFO(method);
    HttpResponse r = t.request(method, "/event");
    CHECK(r.status == 405);
    CHECK(r.headers["allow"] == "GET, HEAD, POST, OPTIONS");
    CHECK(r.body.find("\"error\"") != std::string::npos);
  }
}

TEST_CASE("a flood of empty header fields is a 431 that closes the connection, in bounded memory",
          "[unit][http][framing]") {
  TestServer t;
  // About 8 MB per request: 2 million "a:" fields, and a request after them that must not run.
  // The 42-byte head makes the server's reads (512, then 65536 bytes) end inside a field line,
  // which walked around Beast's own header_limit (request_parser_test.cpp says how).
  std::string raw = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:0\r\n";
  const std::size_t kFields = 2'000'000;
  raw.reserve(raw.size() + kFields * 4 + 64);
  for (std::size_t i = 0; i < kFields; ++i) raw += "a:\r\n";
  raw += "\r\nGET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  check_still_answers(t);  // warm up: the first connection's allocations are not the flood's
  const long before = rss_kib();
  for (int i = 0; i < 4; ++i) {
    INFO("request " << i);
    const auto started = std::chrono::steady_clock::now();
    auto ex = pemx::test::http_exchange(t.server->port(), raw, 20s);
    CHECK(ex.closed);
    CHECK(pemx::test::statuses(ex.received) == std::vector<int>{431});
    CHECK(ex.received.find("Connection: close\r\n") != std::string::npos);
    CHECK(ex.received.find("too many request header fields") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - started < 5s);
  }
  const long grown = rss_kib() - before;
  INFO("RSS grew by " << grown << " KiB");
  CHECK(grown < 4 * 1024);
  check_still_answers(t);
}

TEST_CASE("a Transfer-Encoding other than chunked is a 400 that closes: no smuggled request",
          "[unit][http][framing]") {
  TestServer t;
  for (const char* te : {"gzip", "chunked, gzip", "gzip, chunked"}) {
    INFO(te);
    // Read as a body of unknown length, the second request would be smuggled behind it.
    auto ex = pemx::test::http_exchange(
        t.server->port(), std::string("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      "Transfer-Encoding: ") +
                              te + "\r\n\r\nGET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        10s);
    CHECK(ex.closed);
    CHECK(pemx::test::statuses(ex.received) == std::vector<int>{400});
    CHECK(ex.received.find("Connection: close\r\n") != std::string::npos);
    CHECK(ex.received.find("\"version\"") == std::string::npos);  // /api/info never answered
  }
  check_still_answers(t);
}

TEST_CASE("Content-Length with Transfer-Encoding is a 400 that closes the connection",
          "[unit][http][framing]") {
  TestServer t;
  for (const char* fields : {"Transfer-Encoding: gzip\r\nContent-Length: 5\r\n",
                             "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                             "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"}) {
    INFO(fields);
    auto ex = pemx::test::http_exchange(
        t.server->port(),
        std::string("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n") + fields +
            "\r\n0\r\n\r\nGET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        10s);
    CHECK(ex.closed);
    CHECK(pemx::test::statuses(ex.received) == std::vector<int>{400});
    CHECK(ex.received.find("Connection: close\r\n") != std::string::npos);
  }
  check_still_answers(t);
}

TEST_CASE("an HTTP/1.1 request without Host, or with two, is a 400 that closes the connection",
          "[unit][http][framing]") {
  TestServer t;
  for (const char* head : {"GET /healthz HTTP/1.1\r\n\r\n",
                           "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\n\r\n",
                           "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n"}) {
    INFO(head);
    auto ex = pemx::test::http_exchange(
        t.server->port(), std::string(head) + "GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        10s);
    CHECK(ex.closed);
    CHECK(pemx::test::statuses(ex.received) == std::vector<int>{400});
    CHECK(ex.received.find("Host header") != std::string::npos);
    CHECK(ex.received.find("Connection: close\r\n") != std::string::npos);
  }
  // HTTP/1.0 may leave Host out.
  auto old = pemx::test::http_exchange(t.server->port(), "GET /healthz HTTP/1.0\r\n\r\n", 10s);
  CHECK(pemx::test::statuses(old.received) == std::vector<int>{200});
  check_still_answers(t);
}

TEST_CASE("good requests on one connection are still kept alive", "[unit][http][framing]") {
  TestServer t;
  auto ex = pemx::test::http_exchange(
      t.server->port(),
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
      "POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\n{}\r\n0\r\n\r\n"
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
      10s);
  CHECK(ex.closed);
  CHECK(pemx::test::statuses(ex.received) == std::vector<int>{200, 200, 200});
}

TEST_CASE("GET /api/products/recent: the store's recent products, limit checked", "[unit][http]") {
  TestServer t;
  HttpResponse r = t.request("GET", "/api/products/recent?limit=1");
  CHECK(r.status == 200);
  CHECK(r.body ==
        R"({"products":[{"productId":"K7Q2M9X4PL","lastCreatedAt":"2024-07-26T14:41:17.500Z"}]})");
  CHECK(t.request("GET", "/api/products/recent").body.find("ABC1234567") != std::string::npos);
  for (const char* bad : {"limit=0", "limit=101", "limit=x", "lmit=3"}) {
    INFO(bad);
    CHECK(t.request("GET", std::string("/api/products/recent?") + bad).status == 400);
  }
  CHECK(t.request("POST", "/api/products/recent").status == 404);
  // A reader without the list (the default): 503, named.
  TestServer plain(32, std::make_shared<ThrowingReader>());
  HttpResponse none = plain.request("GET", "/api/products/recent");
  CHECK(none.status == 503);
  CHECK(none.body.find("cannot list recent products") != std::string::npos);
}

TEST_CASE("GET /api/events/count: the store's count of GET /event's query", "[unit][http]") {
  TestServer t;
  HttpResponse r = t.request("GET", "/api/events/count?productIds=A,B");
  CHECK(r.status == 200);
  CHECK(r.body == R"({"count":1200,"capped":false})");
  CHECK(t.request("GET", "/api/events/count?productIds=A&eventType=Country").body ==
        R"({"count":600,"capped":true})");
  CHECK(t.request("GET", "/api/events/count?productIds=").body == R"({"count":0,"capped":false})");
  CHECK(t.request("GET", "/api/events/count").status == 400);  // productIds missing
  CHECK(t.request("GET", "/api/events/count?productIds=A&from=yesterday").status == 400);
}

TEST_CASE("a history query that throws on the query pool is a 500, and the server goes on",
          "[unit][http]") {
  TestServer t(32, std::make_shared<ThrowingReader>());
  for (int i = 0; i < 3; ++i) {  // the pool's one thread survives each
    HttpResponse r = t.request("GET", "/event?productIds=A");
    CHECK(r.status == 500);
    CHECK(r.body == R"x({"error":"internal error while answering the request (logged)"})x");
  }
  check_still_answers(t);
}
