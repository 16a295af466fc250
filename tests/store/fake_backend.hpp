#pragma once
// A store::Backend in memory, for the shared store code's tests: rows kept by event_id, and a
// script of errors the next write_batch calls return (with the code's transient() answer), so
// the writer and the import can be tested against the contract without a database.
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "store/backend.hpp"

namespace pemx::store::test {

inline constexpr const char* kTransientCode = "flaky";  // transient(); anything else is not

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

  Result<WriteStats> write_batch(std::span<const EventRow> rows) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++calls_;
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
  std::shared_ptr<EventReader> reader() const override { return nullptr; }
  const std::string& location() const override { return location_; }
  int schema_version() const override { return 7; }

 private:
  mutable std::mutex mutex_;
  std::vector<Error> failures_;
  std::set<std::string> ids_;
  int calls_ = 0;
  std::string location_ = "fake://events";
};

}  // namespace pemx::store::test
