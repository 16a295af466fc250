#pragma once
#include <string_view>

namespace pemx::http_front {
// docs/openapi.json, embedded at build time.
std::string_view openapi_json();
}  // namespace pemx::http_front
