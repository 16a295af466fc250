#pragma once
// Worker: the one thread a stage owns, with the waiting that drain(deadline) and stop() need.
// Its body runs guarded (core/stage_thread.hpp): an exception that escapes it is logged with
// the stage's name and reported to the supervisor, and the worker counts as done.
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>

#include "core/check.hpp"
#include "core/stage_thread.hpp"
#include "pemx/stage.hpp"

namespace pemx {

class Worker {
 public:
  explicit Worker(ThreadOwner owner) : owner_(std::move(owner)) {}
  ~Worker() { stop(); }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Once per Worker.
  void start(std::function<void(std::stop_token)> body) {
    PEMX_CHECK(!thread_.joinable(), "Worker::start called twice for stage " + owner_.stage);
    thread_ = std::jthread([this, body = std::move(body)](std::stop_token st) {
      run_guarded(owner_, "worker", [&] { body(st); });
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
      cv_.notify_all();
    });
  }
  // True once the body has returned; false if the deadline passed first.
  bool wait_done(const Deadline& deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!thread_.joinable()) return true;
    while (!done_) {
      if (deadline.passed()) return false;
      cv_.wait_for(lock, std::chrono::milliseconds(20));
    }
    return true;
  }
  // Asks the body to stop (its stop_token fires) and joins. Idempotent.
  void stop() noexcept {
    if (thread_.joinable()) {
      thread_.request_stop();
      thread_.join();
    }
  }

 private:
  ThreadOwner owner_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::jthread thread_;  // last: its body calls back into this
};

}  // namespace pemx
