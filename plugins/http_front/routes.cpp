#include "http_front/routes.hpp"

#include <string>
#include <vector>

namespace pemx::http_front {

namespace http = boost::beast::http;

namespace {

bool takes(const Route& r, http::verb method) {
  switch (method) {
    case http::verb::get:
    case http::verb::head:
      return (r.methods & kGet) != 0;
    case http::verb::post:
      return (r.methods & kPost) != 0;
    default:
      return r.methods == kAnyMethod;
  }
}

std::vector<std::string_view> method_names(unsigned methods) {
  std::vector<std::string_view> names;
  if ((methods & kGet) != 0) {
    names.emplace_back("GET");
    names.emplace_back("HEAD");
  }
  if ((methods & kPost) != 0) names.emplace_back("POST");
  return names;
}

// 405: "use GET, HEAD or POST on /event", Allow: GET, HEAD, POST, OPTIONS.
Answer not_allowed(std::string_view path, unsigned methods) {
  const auto names = method_names(methods);
  std::string list;
  std::string allow;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) list += i + 1 == names.size() ? " or " : ", ";
    list += names[i];
    allow.append(names[i]).append(", ");
  }
  Answer a = error_answer(405, "use " + list + " on " + std::string(path));
  a.headers.emplace_back("Allow", allow + "OPTIONS");
  return a;
}

}  // namespace

RouteMatch match_route(std::span<const Route> table, http::verb method, std::string_view path) {
  if (method == http::verb::options) return {nullptr, Answer{204, "", {}}, "preflight"};
  // The routes of this path that answer other methods with a 405, and the methods they take.
  const Route* refusing = nullptr;
  unsigned methods = 0;
  for (const Route& r : table) {
    const bool path_matches =
        r.path.empty() ? r.matches != nullptr && r.matches(path) : r.path == path;
    if (!path_matches) continue;
    if (takes(r, method)) return {&r, {}, r.name};
    if (r.other_methods == OtherMethods::kNotAllowed) {
      if (refusing == nullptr) refusing = &r;
      methods |= r.methods;
    }
  }
  if (refusing != nullptr) return {nullptr, not_allowed(path, methods), refusing->name};
  return {nullptr, error_answer(404, "no such route: " + std::string(path.substr(0, 200))),
          "other"};
}

}  // namespace pemx::http_front
