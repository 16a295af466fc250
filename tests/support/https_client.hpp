#pragma once
// An HTTPS client for tests (Boost.Beast over OpenSSL): one request on a new connection to
// 127.0.0.1:port, the server's certificate verified against `ca_file` for the name
// "localhost". And a throw-away self-signed certificate made with the openssl command, as
// tests/broker/kafka.sh start-secure does.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "support/http_client.hpp"

namespace pemx::test {

struct HttpsResult {
  HttpResponse response;  // status 0 when there was no answer
  std::string error;      // the connection's or the handshake's error, if any
  std::string subject;    // the server certificate's subject ("/CN=localhost/O=…")
};

// Each step (connect, handshake, write, read) is bounded by `timeout`.
HttpsResult https_request(std::uint16_t port, const std::string& method,
                          const std::string& target, const std::string& ca_file,
                          const std::map<std::string, std::string>& headers = {},
                          const std::string& body = "",
                          std::chrono::seconds timeout = std::chrono::seconds(30));

// A client that sends a whole body before it reads (it does not look for an early answer):
// `head` (the request line and header fields, its blank line included), then body_bytes of
// filler, then it reads the answer. error says so when sending failed (the server reset the
// connection).
HttpsResult https_upload(std::uint16_t port, const std::string& head, std::size_t body_bytes,
                         const std::string& ca_file,
                         std::chrono::seconds timeout = std::chrono::seconds(30));

// A connection that sent `raw` and then holds still: it neither reads nor closes until it is
// destroyed. Null when connecting, the handshake or the write failed.
class HeldHttps {
 public:
  virtual ~HeldHttps() = default;
};
std::unique_ptr<HeldHttps> https_hold(std::uint16_t port, const std::string& raw,
                                      const std::string& ca_file);

// Writes cert_file and key_file (PEM, an EC P-256 key) for "localhost" and 127.0.0.1, its
// subject /CN=localhost/O=<organisation>. False when the openssl command failed.
bool make_test_certificate(const std::string& cert_file, const std::string& key_file,
                           const std::string& organisation);

}  // namespace pemx::test
