#pragma once
// RequestParser: an HTTP/1.1 request parser on Beast's basic_parser that fills an
// http::request<string_body> and enforces PEMX's framing rules (RFC 9110/9112) while it parses:
//
// - The header section (request line, every field, the empty line) is bounded in bytes
//   (max_header_bytes) and in fields (max_header_fields), counted over the whole section,
//   empty fields such as "a:" and chunked trailers included. Beast 1.74's own header_limit
//   is compared with the bytes not yet parsed in one put() only: every complete field line is
//   consumed (and stored) before the next read, so a header section of millions of short
//   fields never reaches it. The limit is checked before a field is stored.
// - Transfer-Encoding must be exactly "chunked" (the only coding PEMX decodes), and only on
//   HTTP/1.1; Content-Length and Transfer-Encoding together are refused; Content-Length
//   values that differ are refused (Beast's own check).
// - Exactly one Host on HTTP/1.1; never two.
// - At most one Authorization: with two, which one a token check would read is a guess (the
//   first, silently, in Beast), so the request is refused naming the header.
//
// Any error is final: the caller answers it (error_status gives the status) and closes the
// connection, since the bytes that follow cannot be framed reliably. Not thread-safe; one
// parser per request, used on its session's strand.
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace pemx::http_front {

struct RequestLimits {
  std::size_t max_header_bytes = 8 * 1024;  // request line + fields + CRLFs
  std::size_t max_header_fields = 100;      // fields, trailers included
  std::size_t max_body_bytes = 1024 * 1024;
};

// The framing errors RequestParser adds to Beast's own (http::error).
enum class RequestError {
  header_too_large = 1,
  too_many_fields,
  bad_transfer_encoding,
  transfer_encoding_on_http10,
  content_length_and_transfer_encoding,
  missing_host,
  duplicate_host,
  duplicate_authorization,
};
const boost::system::error_category& request_error_category();
boost::system::error_code make_error_code(RequestError e);

// The status a failed read is answered with: 431 for a header section over either limit,
// 413 for a body over max_body_bytes, 400 for anything else.
int error_status(const boost::system::error_code& ec);
// What the JSON error body says for that error.
std::string error_message(const boost::system::error_code& ec);

class RequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  explicit RequestParser(const RequestLimits& limits);

  Request& get() { return req_; }
  Request release() { return std::move(req_); }
  std::size_t header_bytes() const { return header_bytes_; }
  std::size_t header_fields() const { return fields_; }

 private:
  using string_view = boost::beast::string_view;
  using error_code = boost::beast::error_code;

  void on_request_impl(boost::beast::http::verb method, string_view method_str,
                       string_view target, int version, error_code& ec) override;
  void on_response_impl(int code, string_view reason, int version, error_code& ec) override;
  void on_field_impl(boost::beast::http::field name, string_view name_string, string_view value,
                     error_code& ec) override;
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         error_code& ec) override;
  std::size_t on_body_impl(string_view body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t size, string_view extensions, error_code& ec) override;
  std::size_t on_chunk_body_impl(std::uint64_t remain, string_view body,
                                 error_code& ec) override;
  void on_finish_impl(error_code& ec) override;

  bool count(std::size_t bytes, error_code& ec);

  RequestLimits limits_;
  Request req_;
  std::size_t header_bytes_ = 0;
  std::size_t fields_ = 0;
  std::size_t hosts_ = 0;
  std::size_t authorizations_ = 0;
  std::size_t te_fields_ = 0;
  std::size_t te_codings_ = 0;   // codings listed over every Transfer-Encoding field
  bool te_only_chunked_ = true;  // every one of them is "chunked"
  bool content_length_ = false;
  bool header_done_ = false;  // later fields are chunked trailers: counted, not stored
};

}  // namespace pemx::http_front

namespace boost::system {
template <>
struct is_error_code_enum<pemx::http_front::RequestError> : std::true_type {};
}  // namespace boost::system
