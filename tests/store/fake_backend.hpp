#pragma once
// A store::Backend in memory, for the shared store code's tests: rows kept by event_id, and a
// script of errors the next write_batch calls return (with the code's transient() answer), so
// the writer and the import can be tested against the contract without a database.
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/backend.hpp"

namespace pemx::store::test {

inline constexpr const char* kTransientCode = "flaky";  // transient(); anything else is not
inline constexpr const char* kRowFaultCode = "poison";   // row_fault() (a poisoned row's error)

class FakeBackend final : public Backend {
 public:
  // Errors the next write_batch calls return, in order (nothing is stored by those calls).
  void fail_next(std::vector<Error> errors) {
    std::lock_guard<std::mutex> lock(mutex_);
    failures_ = std::move(errors);
  }
  std::size_t rows() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return ids_.size();
  }
  int calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }
  // A batch holding one of these event ids fails with kRowFaultCode (nothing stored).
  void poison(std::set<std::string> ids) {
    std::lock_guard<std::mutex> lock(mutex_);
    poisoned_ = std::move(ids);
  }
  // refuse_row refuses these event ids.
  void refuse(std::set<std::string> ids) {
    std::lock_guard<std::mutex> lock(mutex_);
    refused_ = std::move(ids);
  }
  // The next write_batch blocks (a hung database) until interrupt() or 60 s, then fails
  // transiently with nothing stored.
  void hang_next() {
    std::lock_guard<std::mutex> lock(mutex_);
    hang_ = true;
  }
  bool hanging() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return hanging_;
  }
  bool interrupted() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return interrupted_;
  }
  int probes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return probes_;
  }
  // Retention: `n` rows older than any cutoff; each prune deletes up to its limit of them.
  void set_old_rows(std::size_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    old_rows_ = n;
  }
  std::vector<std::pair<std::int64_t, std::size_t>> prunes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return prunes_;
  }
  Result<std::size_t> prune(std::int64_t before_ms, std::size_t limit) override {
    std::lock_guard<std::mutex> lock(mutex_);
    prunes_.emplace_back(before_ms, limit);
    const std::size_t n = std::min(limit, old_rows_);
    old_rows_ -= n;
    return n;
  }

  Result<WriteStats> write_batch(std::span<const EventRow> rows) override {
    std::unique_lock<std::mutex> lock(mutex_);
    ++calls_;
    if (interrupted_) return Error{kTransientCode, "interrupted"};
    if (std::exchange(hang_, false)) {
      hanging_ = true;
      wake_.wait_for(lock, std::chrono::seconds(60), [this] { return interrupted_; });
      hanging_ = false;
      return Error{kTransientCode, "the fake database hung"};
    }
    for (const auto& row : rows) {
      if (poisoned_.count(row.event_id) != 0) {
        return Error{kRowFaultCode, "the fake database refuses " + row.event_id};
      }
    }
    if (!failures_.empty()) {
      Error e = failures_.front();
      failures_.erase(failures_.begin());
      return e;
    }
    WriteStats stats;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (ids_.insert(rows[i].event_id).second) {
        ++stats.stored;
        stats.inserted.push_back(i);
      } else {
        ++stats.duplicates;
      }
    }
    return stats;
  }
  bool transient(const Error& error) const override { return error.code == kTransientCode; }
  std::optional<std::string> refuse_row(const EventRow& row) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (refused_.count(row.event_id) == 0) return std::nullopt;
    return "the fake database cannot hold " + row.event_id;
  }
  bool row_fault(const Error& error) const override { return error.code == kRowFaultCode; }
  void probe() override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++probes_;
  }
  void interrupt() noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    interrupted_ = true;
    wake_.notify_all();
  }
  std::shared_ptr<EventReader> reader() const override { return nullptr; }
  const std::string& location() const override { return location_; }
  int schema_version() const override { return 7; }

 private:
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Error> failures_;
  std::set<std::string> ids_;
  std::set<std::string> poisoned_;
  std::set<std::string> refused_;
  bool hang_ = false;
  bool hanging_ = false;
  bool interrupted_ = false;
  int probes_ = 0;
  std::size_t old_rows_ = 0;
  std::vector<std::pair<std::int64_t, std::size_t>> prunes_;
  int calls_ = 0;
  std::string location_ = "fake://events";
};

}  // namespace pemx::store::test
