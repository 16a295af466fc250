#pragma once
// A fixed pool of database connections for a store's reader: filled once at open, then leased
// one call at a time by any thread (HTTP workers, readiness probes). A lease returns its
// connection when it ends. Used by every backend's EventReader.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace pemx::store {

template <typename Connection>
class ConnectionPool {
 public:
  // A connection taken from the pool for one call (or none: operator bool).
  class Lease {
   public:
    Lease(ConnectionPool* pool, Connection* conn) : pool_(pool), conn_(conn) {}
    Lease(Lease&& other) noexcept
        : pool_(other.pool_), conn_(std::exchange(other.conn_, nullptr)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (conn_ != nullptr) pool_->give_back(conn_);
    }
    Connection* get() const { return conn_; }
    explicit operator bool() const { return conn_ != nullptr; }

   private:
    ConnectionPool* pool_;
    Connection* conn_;
  };

  // While the reader is being opened, before any lease.
  void add(std::unique_ptr<Connection> conn) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(conn.get());
    all_.push_back(std::move(conn));
  }
  // A free connection within `wait`, or none; a zero wait tests once (wait_for checks the
  // predicate before it would wait).
  Lease acquire(std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!available_.wait_for(lock, wait, [this] { return !free_.empty(); })) {
      return Lease(this, nullptr);
    }
    Connection* conn = free_.back();
    free_.pop_back();
    return Lease(this, conn);
  }
  std::size_t size() const { return all_.size(); }  // fixed after open

 private:
  void give_back(Connection* conn) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      free_.push_back(conn);
    }
    available_.notify_one();
  }

  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<Connection*> free_;                 // guarded by mutex_
  std::vector<std::unique_ptr<Connection>> all_;  // fixed after open
};

}  // namespace pemx::store
