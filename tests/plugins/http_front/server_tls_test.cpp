// TLS on the Server's listener over loopback (port 0), with a throw-away certificate made by
// the openssl command: the probes, the page and the history answer over HTTPS; plain HTTP on
// the TLS port gets no answer (the handshake fails, counted); reload_tls serves a new
// certificate to new connections, and a bad one is refused with the old one kept.
#include "http_front/server.hpp"
#include "http_front/tls.hpp"

#include <catch2/catch.hpp>

#include <stdlib.h>  // mkdtemp
#include <unistd.h>  // close

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "plugins/http_front/empty_reader.hpp"
#include "support/http_client.hpp"
#include "support/https_client.hpp"

using namespace pemx;
using namespace pemx::http_front;
using pemx::http_front::test::EmptyReader;
using pemx::test::http_request;
using pemx::test::https_request;
using pemx::test::make_test_certificate;
using namespace std::chrono_literals;

namespace {

// A temporary directory, removed with what it holds.
struct TempDir {
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pemx-tls-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
  std::string path;
};

// A throw-away certificate (subject O=<organisation>) and the settings of a small TLS server.
struct TlsFixture {
  explicit TlsFixture(const std::string& organisation) {
    INFO("the openssl command makes the test certificate (apt-get install openssl)");
    REQUIRE(make_test_certificate(cert, key, organisation));
  }
  ServerSettings settings() const {
    ServerSettings s;
    s.port = 0;
    s.io_threads = 1;
    s.query_threads = 1;
    s.idle_timeout = 5s;
    s.push_enabled = false;
    s.tls = {cert, key};
    return s;
  }
  TempDir dir;
  std::string cert = dir.file("cert.pem");
  std::string key = dir.file("key.pem");
};

}  // namespace

TEST_CASE("the listener speaks HTTPS with tls_cert_file and tls_key_file; plain HTTP fails the "
          "handshake; reload_tls swaps the certificate",
          "[unit][http][tls]") {
  TlsFixture tls("first");
  const std::string& cert = tls.cert;
  const std::string& key = tls.key;
  Metrics metrics;
  Server server(tls.settings(), Logger{}, metrics, std::make_shared<EmptyReader>(), nullptr,
                nullptr);
  server.start();
  const auto port = server.port();

  auto health = https_request(port, "GET", "/healthz", cert);
  INFO(health.error);
  CHECK(health.response.status == 200);
  CHECK(health.subject.find("O=first") != std::string::npos);
  auto page = https_request(port, "GET", "/", cert);
  CHECK(page.response.status == 200);
  CHECK(page.response.body.find("<html") != std::string::npos);
  auto history = https_request(port, "GET", "/event?productIds=A", cert);
  CHECK(history.response.status == 200);
  CHECK(history.response.body == "[]");
  // Keep-alive and a second request on a new connection work too.
  CHECK(https_request(port, "GET", "/metrics", cert).response.status == 200);

  // Plain HTTP on the TLS port: no HTTP answer, and the failed handshake is counted.
  CHECK(http_request(port, "GET", "/healthz").status == 0);
  auto counted = https_request(port, "GET", "/metrics", cert).response.body;
  CHECK(counted.find("pemx_http_tls_handshake_failures_total 1") != std::string::npos);

  // A new certificate, as after SIGHUP: new connections get it.
  REQUIRE(make_test_certificate(cert, key, "second"));
  CHECK_FALSE(server.reload_tls());
  auto after = https_request(port, "GET", "/healthz", cert);
  CHECK(after.response.status == 200);
  CHECK(after.subject.find("O=second") != std::string::npos);

  // A broken key file: the reload says so and the certificate in force stays.
  { std::ofstream(key) << "not a key\n"; }
  auto problem = server.reload_tls();
  REQUIRE(problem);
  CHECK(problem->find("tls_key_file") != std::string::npos);
  CHECK(problem->find(key) != std::string::npos);
  auto still = https_request(port, "GET", "/healthz", cert);
  CHECK(still.response.status == 200);
  CHECK(still.subject.find("O=second") != std::string::npos);
  server.stop();
}

TEST_CASE("a key of another certificate is named as such", "[unit][http][tls]") {
  TlsFixture first("first");
  TlsFixture second("second");
  auto loaded = load_tls({first.cert, second.key});
  CHECK_FALSE(loaded.context);
  CHECK(loaded.key == "tls_key_file");
  CHECK_THAT(loaded.error, Catch::Contains("is not the private key of the certificate in") &&
                               Catch::Contains(first.cert));
}

TEST_CASE("a TLS server refuses to start on an unreadable certificate, naming the file",
          "[unit][http][tls]") {
  Metrics metrics;
  ServerSettings s;
  s.port = 0;
  s.tls = {"/nonexistent/pemx-cert.pem", "/nonexistent/pemx-key.pem"};
  Server server(s, Logger{}, metrics, nullptr, nullptr, nullptr);
  CHECK_THROWS_WITH(server.start(), Catch::Contains("tls_cert_file") &&
                                        Catch::Contains("/nonexistent/pemx-cert.pem"));
}

TEST_CASE("a non-loopback listener without TLS says so loudly at start-up; on loopback it does "
          "not",
          "[unit][http][tls]") {
  auto warned = [](const std::string& host) {
    std::mutex m;
    std::string lines;
    auto sink = make_line_sink(LogLevel::kInfo, [&](const std::string& line) {
      std::lock_guard<std::mutex> lock(m);
      lines += line + "\n";
    });
    Metrics metrics;
    ServerSettings s;
    s.host = host;
    s.port = 0;
    s.io_threads = 1;
    Server server(s, Logger(sink, "http"), metrics, nullptr, nullptr, nullptr);
    server.start();
    server.stop();
    std::lock_guard<std::mutex> lock(m);
    return lines.find("HTTP WITHOUT TLS ON A NON-LOOPBACK ADDRESS") != std::string::npos;
  };
  CHECK(warned("0.0.0.0"));  // bound for an instant; nothing connects
  CHECK_FALSE(warned("127.0.0.1"));
}

TEST_CASE("a connection that never starts its TLS handshake is idle: evicted at max_connections",
          "[unit][http][tls]") {
  TlsFixture tls("idle");
  const std::string& cert = tls.cert;
  Metrics metrics;
  ServerSettings s = tls.settings();
  s.idle_timeout = 60s;  // longer than the client's 10 s: only an eviction lets it in
  s.max_connections = 1;
  Server server(s, Logger{}, metrics, nullptr, nullptr, nullptr);
  server.start();
  const int silent = pemx::test::connect_loopback(server.port());
  REQUIRE(silent >= 0);
  // The silent connection is accepted (and waits for its handshake) before the next one.
  for (auto until = std::chrono::steady_clock::now() + 10s;
       std::chrono::steady_clock::now() < until &&
       metrics.render_prometheus().find("pemx_http_connections 1") == std::string::npos;) {
    std::this_thread::sleep_for(10ms);
  }
  auto r = https_request(server.port(), "GET", "/healthz", cert, {}, "", 10s);
  INFO(r.error);
  CHECK(r.response.status == 200);
  ::close(silent);
  server.stop();
}

TEST_CASE("over TLS, a body over max_body_bytes gets its 413 even when the client sends all of "
          "it before reading",
          "[unit][http][tls]") {
  // Closed with the body's bytes unread, the connection was reset, and the client lost the
  // answer (session.cpp, linger). 32 MiB is more than the sockets' buffers hold on the way.
  TlsFixture tls("linger");
  ServerSettings s = tls.settings();
  s.max_body_bytes = 64 * 1024;
  Metrics metrics;
  Server server(s, Logger{}, metrics, std::make_shared<EmptyReader>(), nullptr, nullptr);
  server.start();
  const std::size_t body = 32u << 20;
  const auto r = pemx::test::https_upload(
      server.port(),
      "POST /event HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
      "Content-Length: " + std::to_string(body) + "\r\n\r\n",
      body, tls.cert);
  INFO(r.error);
  CHECK(r.error.empty());
  CHECK(r.response.status == 413);
  CHECK_THAT(r.response.body, Catch::Contains("request body too large"));
  // The server goes on.
  CHECK(https_request(server.port(), "GET", "/healthz", tls.cert).response.status == 200);
  server.stop();
}

TEST_CASE("over TLS, a connection waiting for its client's close_notify can be evicted at "
          "max_connections",
          "[unit][http][tls]") {
  // Its close is bounded by 2 s, and it held its slot for all of them: clients that neither
  // read nor close could keep every slot busy.
  TlsFixture tls("evict");
  ServerSettings s = tls.settings();
  s.max_connections = 2;
  Metrics metrics;
  Server server(s, Logger{}, metrics, std::make_shared<EmptyReader>(), nullptr, nullptr);
  server.start();
  // Two clients send a malformed request and then hold still: the 400 and the close_notify
  // are never read, and no close_notify comes back.
  auto first = pemx::test::https_hold(server.port(), "GET / HTTP/9.9\r\n\r\n", tls.cert);
  auto second = pemx::test::https_hold(server.port(), "GET / HTTP/9.9\r\n\r\n", tls.cert);
  REQUIRE(first);
  REQUIRE(second);
  for (int i = 0; i < 200 && metrics.counter_total("pemx_http_requests_total") < 2; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(metrics.counter_total("pemx_http_requests_total") == 2);
  // A third is let in by closing one of them, not by waiting out their 2 s.
  const auto r = https_request(server.port(), "GET", "/healthz", tls.cert);
  INFO(r.error);
  CHECK(r.response.status == 200);
  CHECK(metrics.counter_total("pemx_http_evicted_total") >= 1);
  server.stop();
}
