#pragma once
// HttpPusher: `pemx simulate --via URL` sends its events through a running pemx's fallback
// push (POST /event, at most 200 events per request, bearer token when given) instead of
// producing to Kafka itself. One keep-alive connection, reopened after any error; every
// request bounded by a timeout. Boost.Beast, synchronous: the simulator's sending thread
// waits for each answer (201 means Kafka acknowledged every event of the batch).
// Threads: one thread uses an HttpPusher.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pemx/result.hpp"

namespace pemx::sim {

struct HttpTarget {
  std::string host;
  std::string port = "80";
  std::string path = "/event";  // the URL's path (if any) + /event
};
// "http://127.0.0.1:8080" or "http://host:port/prefix"; https is refused (not built in).
Result<HttpTarget> parse_http_url(std::string_view url);

inline constexpr std::size_t kMaxPushBatch = 200;  // the API's limit per request

class HttpPusher {
 public:
  struct Answer {
    int status = 0;    // 0: no answer (connection refused, reset, timed out)
    std::string text;  // the body, or the connection error
  };
  HttpPusher(HttpTarget target, std::string token,
             std::chrono::milliseconds timeout = std::chrono::seconds(60));
  ~HttpPusher();
  // POSTs {"events":[...]} (each element an event's JSON text, at most kMaxPushBatch).
  Answer post(const std::vector<std::string_view>& events);

 private:
  struct Connection;
  HttpTarget target_;
  std::string token_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace pemx::sim
