#pragma once
// FlexStream: a connection's byte stream, plain TCP or TLS over it (listener without or with
// tls_cert_file), behind the one interface the session and the live stream use: Beast's
// http::async_read / async_write and net::async_write take it as an AsyncStream, and
// socket() / expires_after() reach the TCP layer either way. Movable (the live stream takes it
// over). It keeps the TLS context it was made with alive, so a reload that replaces the
// server's context does not pull it from under an open connection.
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "pemx/metrics.hpp"

namespace pemx::http_front {

class FlexStream {
 public:
  using executor_type = boost::beast::tcp_stream::executor_type;
  using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  explicit FlexStream(boost::beast::tcp_stream&& plain) : plain_(std::move(plain)) {}
  FlexStream(boost::beast::tcp_stream&& plain, std::shared_ptr<boost::asio::ssl::context> ctx)
      : context_(std::move(ctx)), tls_(std::in_place, std::move(plain), *context_) {}

  executor_type get_executor() { return tcp().get_executor(); }
  boost::beast::tcp_stream& tcp() {
    return tls_ ? boost::beast::get_lowest_layer(*tls_) : *plain_;
  }
  boost::asio::ip::tcp::socket& socket() { return tcp().socket(); }
  template <class Duration>
  void expires_after(Duration d) {
    tcp().expires_after(d);
  }
  void expires_never() { tcp().expires_never(); }
  TlsStream* tls() { return tls_ ? &*tls_ : nullptr; }

  // Each read of the stream (HTTP's reads, after TLS) is counted there from now on.
  void count_reads(Counter* reads) { reads_ = reads; }

  template <class Buffers, class Handler>
  auto async_read_some(const Buffers& buffers, Handler&& handler) {
    if (reads_ != nullptr) reads_->inc();
    if (tls_) return tls_->async_read_some(buffers, std::forward<Handler>(handler));
    return plain_->async_read_some(buffers, std::forward<Handler>(handler));
  }
  template <class Buffers, class Handler>
  auto async_write_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) return tls_->async_write_some(buffers, std::forward<Handler>(handler));
    return plain_->async_write_some(buffers, std::forward<Handler>(handler));
  }

 private:
  std::shared_ptr<boost::asio::ssl::context> context_;  // before tls_: it uses it
  std::optional<boost::beast::tcp_stream> plain_;
  std::optional<TlsStream> tls_;
  Counter* reads_ = nullptr;
};

}  // namespace pemx::http_front
