#pragma once
// Stage threads never die silently. Every thread a stage starts runs its body through
// run_guarded: an exception that escapes the body is caught on that thread, logged as one
// JSON error line naming the stage and the thread, and reported to the supervisor through the
// stage's fatal callback (the supervisor then drains what it can and exits 1). Without the
// guard the exception would reach std::terminate and the process would die without a word.
// Worker (core/worker.hpp) uses it for the one thread most stages own; threads a stage starts
// itself (http_front's I/O threads, its push poller, a Kafka client's watch) call it directly.
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "pemx/log.hpp"

namespace pemx {

struct StageContext;

// Who a thread works for, and whom it tells when its body fails.
struct ThreadOwner {
  std::string stage;  // the stage instance's name ([stages.<name>]), or the tool's
  Logger log;
  // Told "thread <name> failed: <what>" (the supervisor drains and exits 1). Null: there is no
  // one to tell (a tool's helper thread): the failure is logged and the process aborts.
  std::function<void(const std::string&)> fatal;
};

// The owner of a stage's threads: its name, logger and fatal callback.
ThreadOwner thread_owner(const StageContext& ctx);

// Logs a thread's failure and reports it (see ThreadOwner::fatal). Called by run_guarded.
void report_thread_failure(const ThreadOwner& owner, std::string_view thread,
                           std::string_view what) noexcept;

// Runs body() on the calling thread; true when it returned, false when it threw (then the
// failure has been logged and reported). Never throws.
template <class Body>
bool run_guarded(const ThreadOwner& owner, std::string_view thread, Body&& body) noexcept {
  try {
    std::forward<Body>(body)();
    return true;
  } catch (const std::exception& e) {
    report_thread_failure(owner, thread, e.what());
  } catch (...) {
    report_thread_failure(owner, thread, "an exception that is not a std::exception");
  }
  return false;
}

}  // namespace pemx
