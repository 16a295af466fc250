#include "http_front/request_parser.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include <algorithm>

namespace pemx::http_front {

namespace http = boost::beast::http;

namespace {

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "pemx.http_request"; }
  std::string message(int ev) const override {
    switch (static_cast<RequestError>(ev)) {
      case RequestError::header_too_large:
        return "request headers too large";
      case RequestError::too_many_fields:
        return "too many request header fields";
      case RequestError::bad_transfer_encoding:
        return "Transfer-Encoding must be exactly \"chunked\"";
      case RequestError::transfer_encoding_on_http10:
        return "Transfer-Encoding is not allowed in HTTP/1.0";
      case RequestError::content_length_and_transfer_encoding:
        return "Content-Length and Transfer-Encoding together";
      case RequestError::missing_host:
        return "an HTTP/1.1 request needs a Host header";
      case RequestError::duplicate_host:
        return "more than one Host header";
      case RequestError::duplicate_authorization:
        return "more than one Authorization header; send exactly one";
    }
    return "unknown request error";
  }
};

}  // namespace

const boost::system::error_category& request_error_category() {
  static const Category category;
  return category;
}

boost::system::error_code make_error_code(RequestError e) {
  return {static_cast<int>(e), request_error_category()};
}

int error_status(const boost::system::error_code& ec) {
  if (ec == http::error::header_limit || ec == RequestError::header_too_large ||
      ec == RequestError::too_many_fields) {
    return 431;
  }
  if (ec == http::error::body_limit) return 413;
  return 400;
}

std::string error_message(const boost::system::error_code& ec) {
  switch (error_status(ec)) {
    case 431:
      return ec == RequestError::too_many_fields ? "too many request header fields"
                                                 : "request headers too large";
    case 413:
      return "request body too large";
    default:
      return "malformed HTTP request: " + ec.message();
  }
}

RequestParser::RequestParser(const RequestLimits& limits) : limits_(limits) {
  // Beast's own limits stay as a second line: header_limit bounds one unparsed piece (a line
  // that never ends), body_limit the declared length and the sum of the chunks.
  header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(limits_.max_header_bytes, UINT32_MAX)));
  body_limit(limits_.max_body_bytes);
}

// Adds bytes to the header section's size; false (with ec set) past the limit.
bool RequestParser::count(std::size_t bytes, error_code& ec) {
  header_bytes_ += bytes;
  if (header_bytes_ > limits_.max_header_bytes) {
    ec = RequestError::header_too_large;
    return false;
  }
  return true;
}

void RequestParser::on_request_impl(http::verb method, string_view method_str,
                                    string_view target, int version, error_code& ec) {
  // "METHOD SP target SP HTTP/1.1 CRLF"
  if (!count(method_str.size() + target.size() + 12, ec)) return;
  req_.target(target);
  if (method != http::verb::unknown) {
    req_.method(method);
  } else {
    req_.method_string(method_str);
  }
  req_.version(static_cast<unsigned>(version));
}

void RequestParser::on_response_impl(int, string_view, int, error_code& ec) {
  ec = http::error::bad_version;  // never called: this parser reads requests
}

void RequestParser::on_field_impl(http::field name, string_view name_string, string_view value,
                                  error_code& ec) {
  // "name:value CRLF" at least: optional whitespace is not counted, but Beast's header_limit
  // bounds each line and the field count bounds the lines.
  if (!count(name_string.size() + 1 + value.size() + 2, ec)) return;
  if (++fields_ > limits_.max_header_fields) {
    ec = RequestError::too_many_fields;
    return;
  }
  if (header_done_) return;  // a chunked trailer: PEMX uses none
  switch (name) {
    case http::field::host:
      ++hosts_;
      break;
    case http::field::authorization:
      ++authorizations_;
      break;
    case http::field::content_length:
      content_length_ = true;
      break;
    case http::field::transfer_encoding:
      ++te_fields_;
      for (auto coding : http::token_list(value)) {
        ++te_codings_;
        if (!boost::beast::iequals(coding, "chunked")) te_only_chunked_ = false;
      }
      break;
    default:
      break;
  }
  req_.insert(name, name_string, value);
}

void RequestParser::on_header_impl(error_code& ec) {
  if (!count(2, ec)) return;  // the empty line
  header_done_ = true;
  if (te_fields_ > 0) {
    // RFC 9112 6.1 and 6.3: without chunked as the final (here: only) coding the body's end
    // cannot be known; with a Content-Length too, the two may disagree (smuggling).
    if (content_length_) {
      ec = RequestError::content_length_and_transfer_encoding;
      return;
    }
    if (req_.version() < 11) {
      ec = RequestError::transfer_encoding_on_http10;
      return;
    }
    if (te_codings_ != 1 || !te_only_chunked_) {
      ec = RequestError::bad_transfer_encoding;
      return;
    }
  }
  if (hosts_ > 1) {
    ec = RequestError::duplicate_host;
    return;
  }
  if (authorizations_ > 1) {
    ec = RequestError::duplicate_authorization;
    return;
  }
  if (hosts_ == 0 && req_.version() >= 11) {
    ec = RequestError::missing_host;
    return;
  }
}

void RequestParser::on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                                      error_code&) {
  // Reserve what was announced, but not more than a small piece before it has arrived: a
  // header alone should not make the connection hold max_body_bytes.
  constexpr std::uint64_t kReserveAtMost = 64 * 1024;
  if (content_length) {
    req_.body().reserve(static_cast<std::size_t>(std::min(*content_length, kReserveAtMost)));
  }
}

std::size_t RequestParser::on_body_impl(string_view body, error_code&) {
  req_.body().append(body.data(), body.size());
  return body.size();
}

void RequestParser::on_chunk_header_impl(std::uint64_t, string_view extensions, error_code& ec) {
  // Chunk extensions are ignored but count against the header budget, so they cannot be
  // used to send an unbounded amount of meta-data (the line itself is bounded by the read
  // buffer's limit in the session).
  count(extensions.size(), ec);
}

std::size_t RequestParser::on_chunk_body_impl(std::uint64_t, string_view body, error_code&) {
  req_.body().append(body.data(), body.size());
  return body.size();
}

void RequestParser::on_finish_impl(error_code&) {}

}  // namespace pemx::http_front
