#include "http_front/tls.hpp"

#include <fstream>

#include <boost/asio/ssl/context.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace pemx::http_front {

namespace ssl = boost::asio::ssl;

LoadedTls load_tls(const TlsFiles& files) {
  LoadedTls out;
  for (const auto& [key, path] : {std::pair<const char*, const std::string&>{"tls_cert_file",
                                                                             files.cert_file},
                                  {"tls_key_file", files.key_file}}) {
    if (!std::ifstream(path)) {
      out.key = key;
      out.error = "cannot read \"" + path + "\"";
      return out;
    }
  }
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  // An encrypted key fails to load instead of OpenSSL asking for its passphrase on the terminal.
  ctx->set_password_callback(
      [](std::size_t, ssl::context::password_purpose) { return std::string(); });
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(files.cert_file, ec);
  if (ec) {
    out.key = "tls_cert_file";
    out.error = "\"" + files.cert_file + "\" is not a PEM certificate chain (" + ec.message() +
                ")";
    return out;
  }
  ctx->use_private_key_file(files.key_file, ssl::context::pem, ec);
  // OpenSSL checks the key against the certificate as it loads it.
  if (ec && ec.category() == boost::asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
    out.key = "tls_key_file";
    out.error = "\"" + files.key_file + "\" is not the private key of the certificate in \"" +
                files.cert_file + "\"";
    return out;
  }
  if (ec) {
    out.key = "tls_key_file";
    out.error = "\"" + files.key_file + "\" is not an unencrypted PEM private key (" +
                ec.message() + ")";
    return out;
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    out.key = "tls_key_file";
    out.error = "\"" + files.key_file + "\" is not the private key of the certificate in \"" +
                files.cert_file + "\"";
    return out;
  }
  out.context = std::move(ctx);
  return out;
}

}  // namespace pemx::http_front
