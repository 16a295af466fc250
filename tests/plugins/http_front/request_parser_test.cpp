// RequestParser fed raw bytes in pieces, as a session's reads hand them over: the header
// section's byte and field limits, the Transfer-Encoding / Content-Length / Host rules.
#include "http_front/request_parser.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include <string>

using namespace pemx::http_front;
namespace http = boost::beast::http;

namespace {

struct Outcome {
  boost::system::error_code ec;  // empty: a complete request
  bool complete = false;
  std::string rest;  // bytes after the request, not consumed
};

// Hands `raw` to the parser `piece` bytes at a time, keeping what it did not consume, the way
// http::async_read does with the session's buffer.
template <class Parser>
Outcome feed(Parser& parser, const std::string& raw, std::size_t piece = 4096) {
  Outcome out;
  std::string pending;
  std::size_t offset = 0;
  for (;;) {
    boost::system::error_code ec;
    std::size_t used = pending.empty() ? 0 : parser.put(boost::asio::buffer(pending), ec);
    if (pending.empty()) ec = http::error::need_more;
    pending.erase(0, used);
    if (ec && ec != http::error::need_more) {
      out.ec = ec;
      return out;
    }
    if (parser.is_done()) {
      out.complete = true;
      out.rest = pending + raw.substr(std::min(offset, raw.size()));
      return out;
    }
    if (ec == http::error::need_more || used == 0) {
      if (offset >= raw.size()) return out;  // incomplete
      pending.append(raw, offset, piece);
      offset += piece;
    }
  }
}

Outcome parse(const std::string& raw, RequestLimits limits = {}, std::size_t piece = 4096) {
  RequestParser parser(limits);
  return feed(parser, raw, piece);
}

// 42 bytes, then 4-byte fields: every 4096-byte piece ends 2 bytes into a field line.
std::string flood(std::size_t fields) {
  std::string raw = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:0\r\n";
  raw.reserve(raw.size() + fields * 4 + 2);
  for (std::size_t i = 0; i < fields; ++i) raw += "a:\r\n";
  return raw + "\r\n";
}

}  // namespace

TEST_CASE("a normal request parses, in one piece or byte by byte", "[unit][http][parser]") {
  const std::string raw =
      "POST /event?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n"
      "Content-Length: 13\r\n\r\n{\"events\":[]}GET / HTTP/1.1\r\n";
  for (std::size_t piece : {std::size_t{1}, std::size_t{7}, raw.size()}) {
    INFO(piece);
    RequestParser parser(RequestLimits{});
    auto out = feed(parser, raw, piece);
    REQUIRE_FALSE(out.ec);
    REQUIRE(out.complete);
    CHECK(out.rest == "GET / HTTP/1.1\r\n");
    auto req = parser.release();
    CHECK(req.method() == http::verb::post);
    CHECK(req.target() == "/event?x=1");
    CHECK(req.version() == 11);
    CHECK(req[http::field::host] == "127.0.0.1:8080");
    CHECK(req.body() == "{\"events\":[]}");
    CHECK(req.keep_alive());
  }
}

TEST_CASE("a chunked body is decoded and its trailers are counted, not stored",
          "[unit][http][parser]") {
  const std::string raw =
      "POST /event HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  RequestParser parser(RequestLimits{});
  auto out = feed(parser, raw, 3);
  REQUIRE_FALSE(out.ec);
  REQUIRE(out.complete);
  CHECK(parser.header_fields() == 3);
  auto req = parser.release();
  CHECK(req.body() == "hello world");
  CHECK(req.count("X-Trailer") == 0);

  // Trailers count against the field limit like any field.
  std::string trailers = "POST /event HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  for (int i = 0; i < 20; ++i) trailers += "t:\r\n";
  RequestLimits few;
  few.max_header_fields = 10;
  CHECK(parse(trailers + "\r\n", few).ec == RequestError::too_many_fields);
}

TEST_CASE("Beast's own header_limit does not bound a header fed in pieces (why RequestParser)",
          "[unit][http][parser]") {
  // basic_parser (1.74) compares header_limit with the bytes not yet parsed, never with the
  // bytes already consumed: each put() parses and stores every complete field line. It only
  // holds fields back (searching for the end of the header within the limit) once a put()
  // left 4 or more bytes unparsed; a read that ends 1-3 bytes into a 4-byte "a:" line leaves
  // fewer, and reads of 512 or 65536 bytes keep ending there. 100,000 empty fields (400 KB)
  // then pass an 8 KB limit.
  http::request_parser<http::string_body> beast;
  beast.header_limit(8192);
  auto out = feed(beast, flood(100'000));
  CHECK_FALSE(out.ec);
  CHECK(out.complete);
  CHECK(beast.get().count("a") == 100'000);
}

TEST_CASE("the header section is bounded in fields and bytes, empty fields included",
          "[unit][http][parser]") {
  SECTION("the field count") {
    RequestParser parser(RequestLimits{});  // 100 fields, 8 KB
    auto out = feed(parser, flood(1'000'000));
    CHECK(out.ec == RequestError::too_many_fields);
    CHECK(error_status(out.ec) == 431);
    CHECK(parser.header_fields() == 101);  // stopped at the first field over the limit
    CHECK(parse(flood(99)).complete);      // Host and 99 more: 100
    CHECK(parse(flood(100)).ec == RequestError::too_many_fields);
  }
  SECTION("the bytes, whatever the field count allows") {
    RequestLimits limits;
    limits.max_header_fields = 1'000'000;
    RequestParser parser(limits);
    auto out = feed(parser, flood(1'000'000));
    CHECK(out.ec == RequestError::header_too_large);
    CHECK(parser.get().count("a") < limits.max_header_bytes / 4);
    CHECK(error_status(out.ec) == 431);
    CHECK(parser.header_bytes() <= limits.max_header_bytes + 4);
  }
  SECTION("exactly at the limit passes, one byte more does not") {
    // No optional whitespace: what is counted is what was sent.
    const std::string head = "GET / HTTP/1.1\r\nHost:h\r\nX:";
    RequestLimits limits;
    limits.max_header_bytes = 1024;
    const std::string at(limits.max_header_bytes - head.size() - 4, 'v');
    CHECK((head + at + "\r\n\r\n").size() == limits.max_header_bytes);
    CHECK(parse(head + at + "\r\n\r\n", limits, 100).complete);
    CHECK(parse(head + at + "v\r\n\r\n", limits, 100).ec == RequestError::header_too_large);
  }
  SECTION("a long request line counts too") {
    RequestLimits limits;
    limits.max_header_bytes = 1024;
    std::string target = "/" + std::string(1000, 'p');
    CHECK(error_status(
              parse("GET " + target + " HTTP/1.1\r\nHost: h\r\nA: " + std::string(100, 'x') +
                        "\r\n\r\n",
                    limits, 64)
                  .ec) == 431);
  }
}

TEST_CASE("Transfer-Encoding must be exactly chunked", "[unit][http][parser]") {
  auto with_te = [](const std::string& te_fields, const std::string& version = "1.1") {
    return parse("POST /event HTTP/" + version + "\r\nHost: h\r\n" + te_fields +
                 "\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n");
  };
  CHECK(with_te("Transfer-Encoding: chunked\r\n").complete);
  CHECK(with_te("Transfer-Encoding: CHUNKED\r\n").complete);
  for (const char* bad :
       {"Transfer-Encoding: gzip\r\n", "Transfer-Encoding: chunked, gzip\r\n",
        "Transfer-Encoding: gzip, chunked\r\n", "Transfer-Encoding: identity\r\n",
        "Transfer-Encoding: \r\n", "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"}) {
    INFO(bad);
    auto out = with_te(bad);
    CHECK(out.ec);
    CHECK(error_status(out.ec) == 400);
  }
  CHECK(with_te("Transfer-Encoding: chunked\r\n", "1.0").ec ==
        RequestError::transfer_encoding_on_http10);
}

TEST_CASE("Content-Length with Transfer-Encoding, or two different lengths, is refused",
          "[unit][http][parser]") {
  for (const char* fields :
       {"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n",
        "Content-Length: 5\r\nTransfer-Encoding: gzip\r\n", "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: 5, 6\r\n"}) {
    INFO(fields);
    auto out = parse(std::string("POST /event HTTP/1.1\r\nHost: h\r\n") + fields +
                     "\r\n0\r\n\r\n");
    CHECK(out.ec);
    CHECK(error_status(out.ec) == 400);
  }
  CHECK(parse("POST /e HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n"
              "hello")
            .ec == RequestError::content_length_and_transfer_encoding);
  // The same length twice is one length.
  CHECK(parse("POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello")
            .complete);
}

TEST_CASE("exactly one Host on HTTP/1.1, at most one on HTTP/1.0", "[unit][http][parser]") {
  CHECK(parse("GET / HTTP/1.1\r\n\r\n").ec == RequestError::missing_host);
  CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n").ec == RequestError::duplicate_host);
  CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n").ec == RequestError::duplicate_host);
  CHECK(parse("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n").ec == RequestError::duplicate_host);
  CHECK(parse("GET / HTTP/1.0\r\n\r\n").complete);
  CHECK(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n").complete);  // empty but present (RFC 9112 3.2)
  CHECK(error_status(make_error_code(RequestError::missing_host)) == 400);
}

TEST_CASE("at most one Authorization header", "[unit][http][parser]") {
  const std::string head = "GET /event HTTP/1.1\r\nHost: h\r\n";
  CHECK(parse(head + "Authorization: Bearer a\r\n\r\n").complete);
  CHECK(parse(head + "\r\n").complete);
  const auto two = parse(head + "Authorization: Bearer a\r\nauthorization: Bearer b\r\n\r\n");
  CHECK(two.ec == RequestError::duplicate_authorization);
  CHECK(error_status(two.ec) == 400);
  CHECK(error_message(two.ec).find("Authorization") != std::string::npos);
  // The same value twice is still two headers: which one counts would be a guess.
  CHECK(parse(head + "Authorization: Bearer a\r\nAuthorization: Bearer a\r\n\r\n").ec ==
        RequestError::duplicate_authorization);
}

TEST_CASE("parse errors map to the statuses the server answers", "[unit][http][parser]") {
  CHECK(error_status(http::error::header_limit) == 431);
  CHECK(error_status(make_error_code(RequestError::too_many_fields)) == 431);
  CHECK(error_status(http::error::body_limit) == 413);
  CHECK(error_status(http::error::bad_method) == 400);
  RequestLimits small;
  small.max_body_bytes = 4;
  CHECK(error_status(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", small)
                         .ec) == 413);
  CHECK(error_status(parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "5\r\nhello\r\n0\r\n\r\n",
                           small)
                         .ec) == 413);
  CHECK(error_message(make_error_code(RequestError::bad_transfer_encoding)) ==
        "malformed HTTP request: Transfer-Encoding must be exactly \"chunked\"");
  CHECK(error_message(make_error_code(RequestError::too_many_fields)) ==
        "too many request header fields");
}
