#pragma once
// BoundedQueue<T>: single-producer single-consumer, bounded, lock-free on the data path
// (boost::lockfree::spsc_queue of owning pointers). Only a thread that has to wait parks on a
// condition variable; the other side takes that lock only when somebody is parked.
//
// Contract: try_push/try_pop never block. push/pop block until done, the queue is closed,
// the stop token fires or the deadline passes. close() ends input: a pop on a closed, empty
// queue answers kClosed, which means "done". A full queue makes the writer wait: nothing is
// dropped and memory stays bounded.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>

#include <boost/lockfree/spsc_queue.hpp>

namespace pemx {

using Clock = std::chrono::steady_clock;

enum class QueueStatus { kOk, kClosed, kTimeout };

// Parks waiters; notify() is cheap when nobody waits.
class Parking {
 public:
  void notify() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (waiters_.load(std::memory_order_seq_cst) > 0) {
      // Taking the lock orders this notify after a waiter's check of ready() (it either saw
      // the new state or is already waiting); notifying after releasing it lets the woken
      // thread take the lock at once instead of waking only to block on it (a second context
      // switch per hand-off; docs/benchmarks.md, "Latency").
      { std::lock_guard<std::mutex> lock(mutex_); }
      cv_.notify_all();
    }
  }
  // Waits until ready() holds; false on stop or deadline.
  template <class Ready>
  bool wait(Ready ready, Clock::time_point deadline, const std::stop_token& stop) {
    for (int spin = 0; spin < 64; ++spin) {
      if (ready()) return true;
    }
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    std::unique_lock<std::mutex> lock(mutex_);
    bool ok = true;
    while (!ready()) {
      auto now = Clock::now();
      if (stop.stop_requested() || now >= deadline) {
        ok = false;
        break;
      }
      // Bounded sleep so a stop request is seen even without a notify.
      cv_.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(50)));
    }
    waiters_.fetch_sub(1, std::memory_order_seq_cst);
    return ok;
  }

 private:
  std::atomic<int> waiters_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
};

inline constexpr std::size_t kCacheLine = 64;

template <class T>
class BoundedQueue {
 public:
  BoundedQueue(std::string name, std::size_t capacity)
      : name_(std::move(name)),
        capacity_(capacity),
        resume_room_(std::max<std::size_t>(1, capacity / kResumeRoomDivisor)),
        ring_(capacity) {}
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;
  ~BoundedQueue() {
    T* p = nullptr;
    while (ring_.pop(p)) delete p;
  }

  const std::string& name() const { return name_; }
  std::size_t capacity() const { return capacity_; }
  std::size_t depth() const { return ring_.read_available(); }
  std::uint64_t pushes() const { return pushes_.load(std::memory_order_relaxed); }
  std::uint64_t pops() const { return pops_.load(std::memory_order_relaxed); }
  bool closed() const { return closed_.load(std::memory_order_acquire); }

  // On success the item is moved in (item becomes empty). Fails when full or closed.
  bool try_push(std::unique_ptr<T>& item) {
    if (closed()) return false;
    if (!ring_.push(item.get())) return false;
    item.release();
    pushes_.store(pushes_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    not_empty_.notify();
    return true;
  }

  std::unique_ptr<T> try_pop() {
    T* p = nullptr;
    if (!ring_.pop(p)) return nullptr;
    pops_.store(pops_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    // A writer parked on a full queue is woken once resume_room_ slots are free, not at every
    // slot (see resume_room_). The reader's view of the writer's index can only be behind, so
    // the room it sees is never less than the writer will: no wake-up is missed, at worst one
    // comes early and the writer parks again.
    if (ring_.write_available() >= resume_room_) not_full_.notify();
    return std::unique_ptr<T>(p);
  }

  QueueStatus push(std::unique_ptr<T>& item, Clock::time_point deadline,
                   const std::stop_token& stop = {}) {
    for (;;) {
      if (closed()) return QueueStatus::kClosed;
      if (try_push(item)) return QueueStatus::kOk;
      if (!not_full_.wait([&] { return closed() || ring_.write_available() >= resume_room_; },
                          deadline, stop)) {
        // Stopped, or the deadline passed before resume_room_ slots were free: fewer may be.
        return try_push(item) ? QueueStatus::kOk : QueueStatus::kTimeout;
      }
    }
  }

  QueueStatus pop(std::unique_ptr<T>& out, Clock::time_point deadline,
                  const std::stop_token& stop = {}) {
    for (;;) {
      out = try_pop();
      if (out) return QueueStatus::kOk;
      // Closed is checked after a failed pop, and pop once more: a push that raced with
      // close() is never lost.
      if (closed()) {
        out = try_pop();
        return out ? QueueStatus::kOk : QueueStatus::kClosed;
      }
      if (!not_empty_.wait([&] { return closed() || ring_.read_available() > 0; }, deadline,
                           stop)) {
        return QueueStatus::kTimeout;
      }
    }
  }

  // Ends input. Idempotent. Items already queued can still be popped.
  void close() {
    closed_.store(true, std::memory_order_release);
    not_empty_.notify();
    not_full_.notify();
  }

 private:
  // A writer that found the queue full waits until this many slots are free (an eighth of
  // the queue) before it is woken: a reader that frees one slot at a time would otherwise
  // wake it for every record, and the writer would park again after one push (on a backlog
  // the ingest thread did so about once per 15 events: a futex wake, two context switches
  // each). Nothing waits longer for it: the records already queued are ahead of the writer's
  // either way, and the reader still has the other seven eighths to work through.
  static constexpr std::size_t kResumeRoomDivisor = 8;
  std::string name_;
  std::size_t capacity_;
  std::size_t resume_room_;
  boost::lockfree::spsc_queue<T*> ring_;
  std::atomic<bool> closed_{false};
  // Every hand-off writes one counter and reads one Parking's waiters on each side: the
  // writer's (pushes_, not_empty_) and the reader's (pops_, not_full_) on cache lines of
  // their own, so that the two threads do not take the same line from each other per record.
  // One writer each (single producer, single consumer): a plain increment, not a locked one.
  alignas(kCacheLine) std::atomic<std::uint64_t> pushes_{0};
  Parking not_empty_;
  alignas(kCacheLine) std::atomic<std::uint64_t> pops_{0};
  Parking not_full_;
};

}  // namespace pemx
