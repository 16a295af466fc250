#pragma once
// TLS on the HTTP listener: the server's certificate chain and private key (PEM files), loaded
// into an OpenSSL context by Boost.Asio's ssl::context. Loaded at start-up (a bad file is a
// start-up error naming it) and again by Server::reload_tls (SIGHUP): a new context serves the
// connections accepted after it; open ones keep theirs.
//
// TLS 1.2 and 1.3 only; the cipher choice is OpenSSL's default (Debian's system policy).
#include <memory>
#include <optional>
#include <string>

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace pemx::http_front {

struct TlsFiles {
  std::string cert_file;  // PEM: the certificate, then its intermediates
  std::string key_file;   // PEM: its private key, unencrypted
  bool enabled() const { return !cert_file.empty(); }
};

struct LoadedTls {
  std::shared_ptr<boost::asio::ssl::context> context;  // null on an error
  std::string error;  // names the file and the problem; the key's content never appears
  std::string key;    // the config key at fault: "tls_cert_file" or "tls_key_file"
};
LoadedTls load_tls(const TlsFiles& files);

}  // namespace pemx::http_front
