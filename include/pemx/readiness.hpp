#pragma once
// Readiness: whether the process's Kafka clients hear from the cluster, for /readyz. Each
// client's watch (src/kafka/client.cpp) sets or clears a problem under its stage's name, from
// its own thread; /readyz lists every current problem under "kafka". One per process, made by
// the supervisor before the stages and destroyed after them.
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace pemx {

class Readiness {
 public:
  // nullopt clears `who`'s problem.
  void set(const std::string& who, std::optional<std::string> problem) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (problem) problems_[who] = std::move(*problem);
    else problems_.erase(who);
  }
  // "who: problem; who: problem", or nullopt when nothing is wrong.
  std::optional<std::string> problems() const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (problems_.empty()) return std::nullopt;
    std::string out;
    for (const auto& [who, problem] : problems_) {
      out += (out.empty() ? "" : "; ") + who + ": " + problem;
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string> problems_;
};

}  // namespace pemx
