#include "core/check.hpp"

#include <cstdio>
#include <cstdlib>

#include "pemx/log.hpp"

namespace pemx::detail {

void check_failed(const char* condition, std::string_view message, const char* file,
                  int line) noexcept {
  // The process's own sink is not reachable from here (no globals): a sink of our own writes
  // the same JSON line format to stderr.
  Logger log(make_stderr_sink(LogLevel::kError), "check");
  log.error("invariant violated; this is a bug, please report it with this line",
            {{"condition", condition}, {"detail", message}, {"file", file}, {"line", line}});
  std::fflush(stderr);
  std::abort();
}

}  // namespace pemx::detail
