#pragma once
// ReloadRunner: the supervisor's reloads (SIGHUP), on a thread of their own, so that a reload
// waiting for the cluster (the target check, up to missing_topics_timeout) never holds the
// supervisor's thread: SIGTERM starts the drain at once, and the drain cancels the check
// (RulesReload's give_up).
//
// One reload at a time. A request while a reload runs is coalesced: however many come, one
// more reload runs after the running one (it reads the file as it is then), so the last
// SIGHUP's file is the one applied. stop() drops a waiting request and waits for the running
// reload, which the caller has cancelled first.
//
// Threads: request() and stop() from any thread; `reload` runs on the runner's thread, through
// run_guarded (an exception is logged and reported to `owner.fatal`).
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "core/stage_thread.hpp"

namespace pemx {

class ReloadRunner {
 public:
  ReloadRunner(ThreadOwner owner, std::function<void()> reload);
  ~ReloadRunner();  // stop()
  ReloadRunner(const ReloadRunner&) = delete;
  ReloadRunner& operator=(const ReloadRunner&) = delete;

  enum class Requested {
    kStarts,     // nothing ran: a reload starts now
    kCoalesced,  // a reload runs: one more follows it (this request and any other since)
    kStopped,    // stop() was called: nothing runs
  };
  Requested request();
  // No reload starts from now on; waits for the running one. Idempotent, noexcept.
  void stop() noexcept;
  // No reload runs or waits to run (what a test waits for before it asks again).
  bool idle() const;

 private:
  void loop();

  ThreadOwner owner_;
  std::function<void()> reload_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool pending_ = false;
  bool running_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: it runs loop() on this
};

}  // namespace pemx
