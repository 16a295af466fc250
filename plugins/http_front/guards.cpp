#include "http_front/guards.hpp"

#include <boost/beast/core/string.hpp>

namespace pemx::http_front {

namespace beast = boost::beast;

bool host_allowed(std::string_view host_header, const std::string& listen_host,
                  const std::vector<std::string>& allowed) {
  if (host_header.empty()) return true;  // HTTP/1.0; browsers always send Host
  std::string_view name = host_header;
  if (name.front() == '[') {
    name = name.substr(1, name.find(']') == std::string_view::npos ? name.size() - 1
                                                                     : name.find(']') - 1);
  } else if (auto colon = name.find(':'); colon != std::string_view::npos &&
                                            name.find(':', colon + 1) == std::string_view::npos) {
    name = name.substr(0, colon);
  }
  // Host names are case-insensitive.
  const beast::string_view host(name.data(), name.size());
  for (const auto& a : allowed) {
    if (a == "*" || beast::iequals(a, host)) return true;
  }
  const bool loopback = listen_host.rfind("127.", 0) == 0 || listen_host == "::1";
  if (loopback) {
    const bool ipv4_loopback = name.rfind("127.", 0) == 0 &&
                               name.find_first_not_of("0123456789.") == std::string_view::npos;
    return beast::iequals(host, "localhost") || name == "::1" || ipv4_loopback;
  }
  return allowed.empty() || beast::iequals(host, listen_host);
}

bool origin_allowed(std::string_view origin, std::string_view host_header,
                    const std::vector<std::string>& cors_origins) {
  const std::string_view h = host_header;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (origin.size() == scheme.size() + h.size() && origin.substr(0, scheme.size()) == scheme &&
        origin.substr(scheme.size()) == h) {
      return true;
    }
  }
  for (const auto& allowed : cors_origins) {
    if (allowed == "*" || allowed == origin) return true;
  }
  return false;
}

std::optional<std::string_view> cors_allow_origin(std::string_view origin,
                                                  const std::vector<std::string>& cors_origins) {
  if (origin.empty()) return std::nullopt;
  for (const auto& allowed : cors_origins) {
    if (allowed == "*") return std::string_view("*");
    if (allowed == origin) return origin;
  }
  return std::nullopt;
}

}  // namespace pemx::http_front
