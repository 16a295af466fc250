#pragma once
// PEMX_CHECK(cond, msg): an invariant that holds unless PEMX has a bug (STYLE.md, rule 12,
// third tier). Always on (also in release builds, unlike assert): when cond is false, one
// JSON line with the condition, the message, the file and the line goes to stderr, and the
// process aborts (a core dump, when enabled, keeps the state). Never use it for input,
// configuration or network failures: those are handled where they happen.
#include <string_view>

namespace pemx::detail {
[[noreturn]] void check_failed(const char* condition, std::string_view message, const char* file,
                               int line) noexcept;
}  // namespace pemx::detail

#define PEMX_CHECK(cond, msg)                                               \
  do {                                                                      \
    if (!(cond)) [[unlikely]] {                                             \
      ::pemx::detail::check_failed(#cond, (msg), __FILE__, __LINE__);       \
    }                                                                       \
  } while (false)
