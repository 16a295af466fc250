#pragma once
// What a stage reports through StageContext::fatal, collected for a stage test: the stage's
// threads report, the test's thread reads.
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace pemx::test {

class FatalReports {
 public:
  // For StageContext::fatal; `this` must outlive the stage.
  std::function<void(const std::string&)> reporter() {
    return [this](const std::string& reason) {
      std::lock_guard<std::mutex> lock(mutex_);
      reasons_.push_back(reason);
    };
  }
  std::vector<std::string> reasons() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return reasons_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> reasons_;
};

}  // namespace pemx::test
