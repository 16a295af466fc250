#pragma once
// The topics of the Kafka cluster, asked through a client a stage already owns (the sink's
// producer): the target check at start-up, and on reload, compares them with what the rules
// can send to (StageSpec::target_topics).
#include <chrono>
#include <functional>
#include <memory>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "pemx/result.hpp"

namespace pemx {

using TopicSet = std::set<std::string, std::less<>>;

class TopicDirectory {
 public:
  virtual ~TopicDirectory() = default;
  // Every topic name of the cluster (asking creates none), or an error: code "timeout" when
  // the cluster does not answer within `timeout` (asking again may help), another code for a
  // failure. Thread-safe; blocks the caller up to `timeout`.
  virtual Result<TopicSet> topics(std::chrono::milliseconds timeout) = 0;
};

// The [clusters.<name>]' directories, by cluster name (the sink's producer on each).
using ClusterDirectories = std::map<std::string, std::shared_ptr<TopicDirectory>>;

// What a stage sends to, for the target check (StageSpec::target_topics).
struct TargetTopics {
  enum class OnMissing { kFail, kWarn };
  std::vector<std::string> topics;     // each must exist on [kafka]; sorted, no duplicates
  std::vector<std::string> unchecked;  // what cannot be known before the events, one line each
  OnMissing on_missing = OnMissing::kWarn;  // start-up refused (exit 2), or one warning
  // How long the check waits for each cluster's answer (the router's missing_topics_timeout).
  std::chrono::milliseconds timeout{10000};
  // Topics on a [clusters.<name>], by its name, each checked on that cluster (an entry for
  // every cluster the stage sends to, even with no topic to check).
  std::map<std::string, std::vector<std::string>> cluster_topics;
};

}  // namespace pemx
