#pragma once
// A minimal HTTP/1.1 client over a raw socket, for integration tests: it sends exactly the
// bytes it is given (so malformed requests can be sent too) and reads the answer.
#include <cstdint>
#include <map>
#include <string>

namespace pemx::test {

struct HttpResponse {
  int status = 0;  // 0: no answer (connection closed or timed out)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// Sends raw bytes to 127.0.0.1:port and reads one response (bounded by 30 s).
HttpResponse http_raw(std::uint16_t port, const std::string& raw);
HttpResponse http_get(std::uint16_t port, const std::string& target,
                      const std::map<std::string, std::string>& headers = {});
HttpResponse http_post(std::uint16_t port, const std::string& target, const std::string& body,
                       const std::map<std::string, std::string>& headers = {});
// The port a pemx log says its HTTP stage listens on ("listening" line), or 0.
std::uint16_t listening_port(const std::string& log, std::size_t nth = 0);

}  // namespace pemx::test
