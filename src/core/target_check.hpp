#pragma once
// The target check: the topics a role's stages send to (StageSpec::target_topics) against the
// cluster's (TopicDirectory), so that a missing topic is named once at start-up instead of
// failing event by event later. Called by the supervisor before any stage starts; reload
// calls check_targets with the new rules' topics.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pemx/log.hpp"
#include "pemx/topic_directory.hpp"

namespace pemx {

struct Config;

// How long the check waits for the cluster's answer, unless the stage says otherwise
// (TargetTopics::timeout). A cluster that does not answer in time is a warning and start-up
// goes on: the stages wait for the cluster as they do today (readiness says so), and a
// restart during a broker outage does not crash-loop.
inline constexpr std::chrono::milliseconds kTargetCheckTimeout{10000};  // TargetTopics's default

struct TargetCheckOutcome {
  std::vector<std::string> missing;  // the wanted topics the cluster lacks, in wanted order
  std::optional<std::string> error;  // the cluster did not answer: nothing was checked
};

// The first kMissingListed names and how many more ("a, b and 3 more"): one log line or
// answer stays readable whatever the rules render. Pure.
std::string listed_topics(const std::vector<std::string>& names);

// The names of `wanted` that are not in `existing`, in `wanted`'s order. Pure.
std::vector<std::string> missing_topics(const std::vector<std::string>& wanted,
                                        const TopicSet& existing);

// Asks `directory` for the cluster's topics, again after each "timeout" or "unreachable"
// answer (slices of at most kTargetCheckSlice: a broker that accepted the connection and has
// not answered) until it answers, `timeout` has passed or `give_up()`
// says so (a client that reported a fatal error, a refused login say, does not hold start-up
// for the whole timeout); any other error ends the check at once. The names of
// `targets.topics` the cluster lacks, or the error.
inline constexpr std::chrono::milliseconds kTargetCheckSlice{1000};
inline constexpr std::chrono::milliseconds kTargetCheckPause{100};
// A log line names at most this many missing topics, then how many more.
inline constexpr std::size_t kMissingListed = 20;
TargetCheckOutcome check_targets(const TargetTopics& targets, TopicDirectory& directory,
                                 std::chrono::milliseconds timeout = kTargetCheckTimeout,
                                 const std::function<bool()>& give_up = {});

// A stage's targets split by the cluster they are on, each with the directory that asks it:
// [kafka] (cluster "") through `main`, each cluster of TargetTopics::cluster_topics through
// its entry of `clusters` (null when the role has no client on it).
struct ClusterTargets {
  std::string cluster;  // "" for [kafka]
  TargetTopics targets;
  TopicDirectory* directory = nullptr;
};
std::vector<ClusterTargets> targets_by_cluster(const TargetTopics& targets, TopicDirectory* main,
                                               const ClusterDirectories* clusters);

// Runs the check of every stage of `stages` (names of `config`'s stages) that has targets,
// logs its outcome (one error or one warning naming the missing topics, one info line for
// what cannot be checked) and returns 2 when a stage's on_missing is kFail and a topic is
// missing (start-up refused, as for a config error), 0 otherwise. `directory` null: no
// client in the role can ask, which is said once at info. Topics a rule sends to a
// [clusters.<name>] are checked on that cluster, through `clusters`. Each stage's check
// waits up to its TargetTopics::timeout.
int check_role_targets(const Config& config, const std::vector<std::string>& stages,
                       TopicDirectory* directory, const Logger& log,
                       const std::function<bool()>& give_up = {},
                       const ClusterDirectories* clusters = nullptr);

}  // namespace pemx
