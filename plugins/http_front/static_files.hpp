#pragma once
// The web page's files (web/ in the source tree), embedded at build time by
// cmake/embed_dir.cmake: no files to deploy, nothing fetched from elsewhere.
#include <span>
#include <string_view>

namespace pemx::http_front {

struct StaticFile {
  std::string_view name;  // path under web/, e.g. "index.html", "app.js"
  std::string_view data;
};

std::span<const StaticFile> static_files();

// The file a request path names ("/" is index.html), or nullptr.
const StaticFile* find_static(std::string_view path);
// By extension; "application/octet-stream" for anything unknown.
std::string_view content_type_for(std::string_view name);

}  // namespace pemx::http_front
