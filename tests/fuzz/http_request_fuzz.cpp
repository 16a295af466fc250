// libFuzzer target "http_request_fuzz": the HTTP request path from raw bytes. The bytes go
// through RequestParser with the server's default limits (ServerSettings), whole and again in
// small pieces (as a session's reads would hand them over); every complete request (pipelined
// ones too, up to a few) then goes through the pure functions the server runs for it: the Host
// check, the query parser, GET /event's parse_history_request and POST /event's
// parse_push_request (and its Idempotency-Key). Links: http_front (and through it pemx_core).
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http_front/api.hpp"
#include "http_front/idempotency.hpp"
#include "http_front/request_parser.hpp"
#include "http_front/server.hpp"

namespace {

using pemx::http_front::RequestLimits;
using pemx::http_front::RequestParser;
namespace http = boost::beast::http;

RequestLimits default_limits() {
  const pemx::http_front::ServerSettings s;
  return {s.max_header_bytes, s.max_header_fields, s.max_body_bytes};
}

// What the session does with a complete request, minus the IO.
void handle(const RequestParser::Request& req) {
  const pemx::http_front::ServerSettings s;
  auto host = req[http::field::host];
  (void)pemx::http_front::host_allowed(std::string_view(host.data(), host.size()), s.host,
                                       s.allowed_hosts);
  std::string_view target(req.target().data(), req.target().size());
  auto qpos = target.find('?');
  std::string_view path = target.substr(0, qpos);
  std::string_view query = qpos == std::string_view::npos ? "" : target.substr(qpos + 1);
  if (path == "/api/live") (void)pemx::http_front::parse_query(query);
  if (path != "/event") return;
  if (req.method() == http::verb::get || req.method() == http::verb::head) {
    if (pemx::http_front::valid_utf8(query)) {
      (void)pemx::http_front::parse_history_request(query, s.history);
    }
  } else if (req.method() == http::verb::post) {
    auto field = req["Idempotency-Key"];
    const std::string_view key(field.data(), field.size());
    if (auto k = pemx::http_front::parse_idempotency_key(key)) {
      if (k->empty() || k->size() > pemx::http_front::kMaxIdempotencyKey) std::abort();
    }
    (void)pemx::http_front::parse_push_request(req.body());
  }
}

// Parses requests from `input` handing over at most `piece` bytes at a time; returns how many
// requests completed. Stops at the first error, as the session closes the connection there.
int run(std::string_view input, std::size_t piece) {
  const RequestLimits limits = default_limits();
  std::string pending;
  std::size_t offset = 0;
  int complete = 0;
  for (int request = 0; request < 4; ++request) {
    RequestParser parser(limits);
    for (;;) {
      boost::system::error_code ec = http::error::need_more;
      std::size_t used = 0;
      if (!pending.empty()) used = parser.put(boost::asio::buffer(pending), ec);
      pending.erase(0, used);
      if (ec && ec != http::error::need_more) {
        // Every error maps to a 4xx the session answers.
        int status = pemx::http_front::error_status(ec);
        if (status != 400 && status != 413 && status != 431) std::abort();
        (void)pemx::http_front::error_message(ec);
        return complete;
      }
      if (parser.is_done()) break;
      if (ec == http::error::need_more || used == 0) {
        if (offset >= input.size()) {
          // The peer closed: a message whose end is its last byte completes here.
          if (parser.got_some()) {
            boost::system::error_code eof;
            parser.put_eof(eof);
            if (!eof && parser.is_done()) handle(parser.get());
          }
          return complete;
        }
        std::size_t n = std::min(piece, input.size() - offset);
        pending.append(input.data() + offset, n);
        offset += n;
      }
    }
    ++complete;
    handle(parser.get());
    if (!parser.keep_alive()) break;
  }
  return complete;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  run(input, size == 0 ? 1 : size);
  run(input, 7);
  return 0;
}
