#include "core/reload_runner.hpp"

namespace pemx {

ReloadRunner::ReloadRunner(ThreadOwner owner, std::function<void()> reload)
    : owner_(std::move(owner)), reload_(std::move(reload)), thread_([this] { loop(); }) {}

ReloadRunner::~ReloadRunner() { stop(); }

ReloadRunner::Requested ReloadRunner::request() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return Requested::kStopped;
  const bool coalesced = running_ || pending_;
  pending_ = true;
  wake_.notify_one();
  return coalesced ? Requested::kCoalesced : Requested::kStarts;
}

void ReloadRunner::stop() noexcept {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    pending_ = false;
  }
  wake_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

bool ReloadRunner::idle() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return !running_ && !pending_;
}

void ReloadRunner::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return pending_ || stopping_; });
    if (stopping_) return;
    pending_ = false;
    running_ = true;
    lock.unlock();
    run_guarded(owner_, "reload", [this] { reload_(); });
    lock.lock();
    running_ = false;
  }
}

}  // namespace pemx
