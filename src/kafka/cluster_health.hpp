#pragma once
// ClusterHealth: the bookkeeping of a client's watch (client.cpp) apart from its IO, so that
// tests reach it: given when each probe was asked and whether it got an answer, it decides
// when the cluster "does not answer" (a readiness problem, and a warning at most every
// kWarnEvery), and what to log when it answers again. Pure: the caller passes the time.
// Threads: the watch's thread only.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace pemx::kafka {

class ClusterHealth {
 public:
  using SteadyClock = std::chrono::steady_clock;
  // A standing "does not answer" warning is repeated this often at most.
  static constexpr std::chrono::seconds kWarnEvery{30};

  // brokers_key: the config key that lists the cluster's brokers ("kafka.brokers", or
  // "clusters.<name>.brokers" for a [clusters.<name>] producer), named in the warning.
  ClusterHealth(SteadyClock::time_point started, std::chrono::milliseconds no_answer_after,
                std::string brokers_key)
      : started_(started), no_answer_after_(no_answer_after),
        brokers_key_(std::move(brokers_key)) {}

  // What the watch reports after a probe.
  struct Report {
    // Set: the cluster does not answer; readiness carries this text.
    std::optional<std::string> problem;
    // Set: log this warning now (the first time, then every kWarnEvery).
    std::optional<std::string> warning;
    // Set after an answer that ends a reported outage: how long the cluster was silent
    // (since its last answer, or since the client started when it never answered).
    std::optional<std::int64_t> silent_ms_before_answer;
    // How long the cluster has been silent (with problem/warning).
    std::int64_t silent_ms = 0;
    // True: readiness is clear (the probe got an answer).
    bool answered = false;
  };

  // The probe asked at `asked` was answered; `now` is when the answer came.
  Report answered(SteadyClock::time_point asked, SteadyClock::time_point now) {
    Report r;
    r.answered = true;
    if (reported_) r.silent_ms_before_answer = ms(now - silent_since());
    reported_ = false;
    answered_ = true;
    last_answer_ = asked;
    return r;
  }

  // The probe got no answer (`error`); `now` is when it gave up.
  Report unanswered(SteadyClock::time_point now, const std::string& error) {
    Report r;
    const auto since = silent_since();
    if (now - since < no_answer_after_) return r;  // one slow answer is not an outage
    r.silent_ms = ms(now - since);
    r.problem = (answered_ ? "no answer from the cluster for " +
                                 std::to_string(r.silent_ms / 1000) + " s"
                           : std::string("no answer from the cluster yet")) +
                " (" + error + ")";
    if (!reported_ || now - warned_at_ >= kWarnEvery) {
      r.warning = "the Kafka cluster does not answer; check that the brokers of " +
                  brokers_key_ + " run and are reachable (the stage keeps retrying)";
      reported_ = true;
      warned_at_ = now;
    }
    return r;
  }

  const std::string& brokers_key() const { return brokers_key_; }

 private:
  // Since when the cluster has been silent: its last answer, or the client's start when it
  // has not answered yet (a default time point would be the clock's epoch: boot time).
  SteadyClock::time_point silent_since() const { return answered_ ? last_answer_ : started_; }
  static std::int64_t ms(SteadyClock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  }

  SteadyClock::time_point started_;
  std::chrono::milliseconds no_answer_after_;
  std::string brokers_key_;
  SteadyClock::time_point last_answer_{};
  SteadyClock::time_point warned_at_{};
  bool answered_ = false;
  bool reported_ = false;  // a "does not answer" warning is standing
};

}  // namespace pemx::kafka
