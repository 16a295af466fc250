#include "core/stage_thread.hpp"

#include <cstdlib>

#include "pemx/stage.hpp"

namespace pemx {

ThreadOwner thread_owner(const StageContext& ctx) { return {ctx.name, ctx.log, ctx.fatal}; }

void report_thread_failure(const ThreadOwner& owner, std::string_view thread,
                           std::string_view what) noexcept {
  std::string reason = "thread " + std::string(thread) + " failed: " + std::string(what);
  owner.log.error("stage thread failed; this is a bug, please report it with this line",
                  {{"stage", owner.stage}, {"thread", thread}, {"error", what}});
  if (owner.fatal) {
    owner.fatal(reason);
    return;
  }
  // No supervisor to drain: stop here, loudly, rather than run on without the thread.
  std::abort();
}

}  // namespace pemx
