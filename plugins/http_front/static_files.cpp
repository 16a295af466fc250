#include "http_front/static_files.hpp"

#include <array>
#include <utility>

namespace pemx::http_front {

const StaticFile* find_static(std::string_view path) {
  if (path.empty() || path.front() != '/') return nullptr;
  std::string_view name = path == "/" ? std::string_view("index.html") : path.substr(1);
  for (const auto& f : static_files()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string_view content_type_for(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kTypes = {{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".json", "application/json"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
  }};
  for (const auto& [ext, type] : kTypes) {
    if (name.size() > ext.size() && name.substr(name.size() - ext.size()) == ext) return type;
  }
  return "application/octet-stream";
}

}  // namespace pemx::http_front
