#include "tools/simulate/http_push.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace pemx::sim {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

Result<HttpTarget> parse_http_url(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  auto bad = [&](const std::string& why) {
    return Error{"bad_url",
                 "\"" + std::string(url) + "\" " + why + " (expected e.g. http://127.0.0.1:8080)"};
  };
  if (url.substr(0, kScheme.size()) != kScheme) {
    return bad(url.substr(0, 8) == "https://" ? "uses https, which the simulator does not speak"
                                              : "is not an http:// URL");
  }
  std::string_view rest = url.substr(kScheme.size());
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  HttpTarget t;
  std::size_t colon = std::string_view::npos;
  if (!authority.empty() && authority[0] == '[') {  // [::1]:8080
    auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("has an unclosed [");
    t.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return bad("has junk after ]");
      colon = close + 1;
    }
  } else {
    colon = authority.rfind(':');
    t.host = std::string(authority.substr(0, colon));
  }
  if (colon != std::string_view::npos) {
    t.port = std::string(authority.substr(colon + 1));
    if (t.port.empty() || t.port.size() > 5 ||
        t.port.find_first_not_of("0123456789") != std::string::npos || std::stoi(t.port) > 65535) {
      return bad("has a bad port");
    }
  }
  if (t.host.empty()) return bad("has no host");
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  t.path = std::string(path) + "/event";
  return t;
}

struct HttpPusher::Connection {
  boost::asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
};

HttpPusher::HttpPusher(HttpTarget target, std::string token, std::chrono::milliseconds timeout)
    : target_(std::move(target)), token_(std::move(token)), timeout_(timeout) {}

HttpPusher::~HttpPusher() = default;

HttpPusher::Answer HttpPusher::post(const std::vector<std::string_view>& events) {
  std::string body = "{\"events\":[";
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i) body += ',';
    body += events[i];
  }
  body += "]}";
  http::request<http::string_body> req{http::verb::post, target_.path, 11};
  req.set(http::field::host, target_.host + ":" + target_.port);
  req.set(http::field::content_type, "application/json");
  req.set(http::field::user_agent, "pemx-simulate");
  if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
  req.keep_alive(true);
  req.body() = std::move(body);
  req.prepare_payload();

  beast::error_code ec;
  for (int attempt = 0; attempt < 2; ++attempt) {  // a second try on a stale keep-alive
    bool fresh = !connection_;
    if (fresh) {
      connection_ = std::make_unique<Connection>();
      tcp::resolver resolver(connection_->ioc);
      auto endpoints = resolver.resolve(target_.host, target_.port, ec);
      if (!ec) {
        connection_->stream.expires_after(timeout_);
        connection_->stream.connect(endpoints, ec);
      }
      if (ec) {
        connection_.reset();
        return {0, "cannot connect to " + target_.host + ":" + target_.port + ": " + ec.message()};
      }
    }
    connection_->stream.expires_after(timeout_);
    http::write(connection_->stream, req, ec);
    http::response<http::string_body> res;
    if (!ec) {
      http::response_parser<http::string_body> parser;
      parser.body_limit(1 << 20);
      http::read(connection_->stream, connection_->buffer, parser, ec);
      if (!ec) res = parser.release();
    }
    if (ec) {
      connection_.reset();
      if (fresh) return {0, "POST " + target_.path + ": " + ec.message()};
      continue;  // the server had closed the idle connection: one more try on a new one
    }
    if (!res.keep_alive()) connection_.reset();
    return {static_cast<int>(res.result_int()), std::move(res.body())};
  }
  return {0, "POST " + target_.path + ": " + ec.message()};
}

}  // namespace pemx::sim
