#include "support/https_client.hpp"

#include <algorithm>
#include <cstdlib>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/x509.h>

namespace pemx::test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;

namespace {

// Runs one asynchronous operation to its end: Beast's timeouts (tcp_stream::expires_after)
// bound asynchronous operations only, so each step is one, run alone on the io_context.
template <class Start>
beast::error_code run_one(net::io_context& ioc, Start start) {
  beast::error_code result = net::error::would_block;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

// A TLS connection to 127.0.0.1:port, its certificate checked for "localhost".
struct Connection {
  Connection() : ctx(ssl::context::tls_client), stream(ioc, ctx) {}
  // "" when connected, else what failed.
  std::string open(std::uint16_t port, const std::string& ca_file, std::chrono::seconds timeout,
                   std::string& subject) {
    beast::error_code ec;
    ctx.load_verify_file(ca_file, ec);
    if (ec) return "load_verify_file: " + ec.message();
    ctx.set_verify_mode(ssl::verify_peer);
    stream.set_verify_callback(ssl::host_name_verification("localhost"));
    SSL_set_tlsext_host_name(stream.native_handle(), "localhost");
    const net::ip::tcp::endpoint to(net::ip::make_address("127.0.0.1"), port);
    tcp().expires_after(timeout);
    ec = run_one(ioc, [&](auto h) { tcp().async_connect(to, h); });
    tcp().expires_after(timeout);
    if (!ec) {
      ec = run_one(ioc, [&](auto h) { stream.async_handshake(ssl::stream_base::client, h); });
    }
    if (ec) return ec.message();
    if (X509* cert = SSL_get_peer_certificate(stream.native_handle())) {
      char name[256];
      X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof name);
      subject = name;
      X509_free(cert);
    }
    return "";
  }
  // Reads one response into out; then the TLS close.
  void read(HttpsResult& out, std::chrono::seconds timeout) {
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    tcp().expires_after(timeout);
    const beast::error_code ec =
        run_one(ioc, [&](auto h) { http::async_read(stream, buffer, res, h); });
    if (ec) {
      out.error = ec.message();
      return;
    }
    out.response.status = static_cast<int>(res.result_int());
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.response.headers[name] = std::string(f.value());
    }
    out.response.body = res.body();
    tcp().expires_after(timeout);
    run_one(ioc, [&](auto h) { stream.async_shutdown(h); });  // its outcome does not matter
  }
  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream); }

  net::io_context ioc;
  ssl::context ctx;
  beast::ssl_stream<beast::tcp_stream> stream;
};

}  // namespace

HttpsResult https_request(std::uint16_t port, const std::string& method,
                          const std::string& target, const std::string& ca_file,
                          const std::map<std::string, std::string>& headers,
                          const std::string& body, std::chrono::seconds timeout) {
  HttpsResult out;
  Connection c;
  out.error = c.open(port, ca_file, timeout, out.subject);
  if (!out.error.empty()) return out;
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.set(http::field::host, "localhost:" + std::to_string(port));
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  req.keep_alive(false);
  c.tcp().expires_after(timeout);
  const beast::error_code ec = run_one(c.ioc, [&](auto h) { http::async_write(c.stream, req, h); });
  if (ec) {
    out.error = ec.message();
    return out;
  }
  c.read(out, timeout);
  return out;
}

HttpsResult https_upload(std::uint16_t port, const std::string& head, std::size_t body_bytes,
                         const std::string& ca_file, std::chrono::seconds timeout) {
  HttpsResult out;
  Connection c;
  out.error = c.open(port, ca_file, timeout, out.subject);
  if (!out.error.empty()) return out;
  c.tcp().expires_after(timeout);
  beast::error_code ec =
      run_one(c.ioc, [&](auto h) { net::async_write(c.stream, net::buffer(head), h); });
  const std::string piece(64 * 1024, 'a');
  for (std::size_t sent = 0; !ec && sent < body_bytes; sent += piece.size()) {
    const std::size_t n = std::min(piece.size(), body_bytes - sent);
    c.tcp().expires_after(timeout);
    ec = run_one(c.ioc,
                 [&](auto h) { net::async_write(c.stream, net::buffer(piece.data(), n), h); });
  }
  if (ec) {
    out.error = "sending the body: " + ec.message();
    return out;
  }
  c.read(out, timeout);
  return out;
}

namespace {
struct Held final : HeldHttps {
  Connection c;
};
}  // namespace

std::unique_ptr<HeldHttps> https_hold(std::uint16_t port, const std::string& raw,
                                      const std::string& ca_file) {
  auto held = std::make_unique<Held>();
  std::string subject;
  if (!held->c.open(port, ca_file, std::chrono::seconds(30), subject).empty()) return nullptr;
  held->c.tcp().expires_after(std::chrono::seconds(30));
  if (run_one(held->c.ioc, [&](auto h) { net::async_write(held->c.stream, net::buffer(raw), h); })) {
    return nullptr;
  }
  return held;
}

bool make_test_certificate(const std::string& cert_file, const std::string& key_file,
                           const std::string& organisation) {
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj '/CN=localhost/O=" + organisation + "' "
      "-addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' "
      "-keyout '" + key_file + "' -out '" + cert_file + "' >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

}  // namespace pemx::test
