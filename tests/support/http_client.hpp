#pragma once
// A minimal HTTP/1.1 client over a raw socket, for integration tests: it sends exactly the
// bytes it is given (so malformed requests can be sent too) and reads the answer.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pemx::test {

struct HttpResponse {
  int status = 0;                              // 0: no answer (connection closed or timed out)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// A TCP socket connected to 127.0.0.1:port (close-on-exec; SO_RCVBUF set first when
// receive_buffer > 0), or -1. Connected means the kernel completed it from the listen backlog,
// whether or not the server accepted it.
int connect_loopback(std::uint16_t port, int receive_buffer = 0);
// Sends all of raw; false when the peer stopped taking it.
bool send_all(int fd, const std::string& raw);

// Sends raw bytes to 127.0.0.1:port and reads one response (bounded by 30 s).
HttpResponse http_raw(std::uint16_t port, const std::string& raw);
// METHOD target, with Connection: close and the extra headers, no body.
HttpResponse http_request(std::uint16_t port, const std::string& method, const std::string& target,
                          const std::map<std::string, std::string>& headers = {});
HttpResponse http_get(std::uint16_t port, const std::string& target,
                      const std::map<std::string, std::string>& headers = {});
HttpResponse http_post(std::uint16_t port, const std::string& target, const std::string& body,
                       const std::map<std::string, std::string>& headers = {});
// A long-lived GET whose answer is read as it arrives (Server-Sent Events). The socket's
// receive buffer can be made small, to play a slow client.
class HttpStream {
 public:
  HttpStream(std::uint16_t port, const std::string& target,
             const std::map<std::string, std::string>& headers = {}, int receive_buffer = 0);
  ~HttpStream();
  HttpStream(const HttpStream&) = delete;
  HttpStream& operator=(const HttpStream&) = delete;
  // Reads until `text` has arrived (true) or the timeout passes or the server closes (false).
  bool read_until(const std::string& text, std::chrono::milliseconds timeout);
  const std::string& data() const { return data_; }  // everything received, headers included
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  std::string data_;
  bool closed_ = false;
};

// Everything the server sends on one connection: raw is sent from another thread while the
// answer is read, so a server that answers and closes before it has read all of raw (a header
// flood) is seen doing so. Reads until the server closes the connection or the timeout.
struct Exchange {
  std::string received;
  bool closed = false;  // the server closed (end of stream or reset) before the timeout
};
Exchange http_exchange(std::uint16_t port, const std::string& raw,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30));
// The HTTP status of each response in `received`, found by their status lines ("HTTP/1.x NNN ",
// anywhere: a body need not end with a line break before the next response).
std::vector<int> statuses(const std::string& received);

// The port a pemx log says its HTTP stage listens on ("listening" line), or 0.
std::uint16_t listening_port(const std::string& log, std::size_t nth = 0);

}  // namespace pemx::test
