#include "core/target_check.hpp"

#include <algorithm>
#include <thread>

#include "core/config.hpp"
#include "kafka/kafka_config.hpp"

namespace pemx {

namespace {
std::string joined(const std::vector<std::string>& names, const char* separator = ", ") {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : separator) + n;
  return out;
}

}  // namespace

std::string listed_topics(const std::vector<std::string>& names) {
  if (names.size() <= kMissingListed) return joined(names);
  std::vector<std::string> first(names.begin(), names.begin() + kMissingListed);
  return joined(first) + " and " + std::to_string(names.size() - kMissingListed) + " more";
}

std::vector<std::string> missing_topics(const std::vector<std::string>& wanted,
                                        const TopicSet& existing) {
  std::vector<std::string> out;
  for (const auto& t : wanted) {
    if (existing.count(t) == 0) out.push_back(t);
  }
  return out;
}

TargetCheckOutcome check_targets(const TargetTopics& targets, TopicDirectory& directory,
                                 std::chrono::milliseconds timeout,
                                 const std::function<bool()>& give_up) {
  TargetCheckOutcome out;
  if (targets.topics.empty()) return out;
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    const auto asked = std::chrono::steady_clock::now();
    auto existing = directory.topics(std::clamp(left, std::chrono::milliseconds(1),
                                                kTargetCheckSlice));
    if (existing) {
      out.missing = missing_topics(targets.topics, existing.value());
      return out;
    }
    const std::string& code = existing.error().code;
    if (code != "timeout" && code != "unreachable") {
      out.error = existing.error().message;
      return out;
    }
    if (std::chrono::steady_clock::now() >= until || (give_up && give_up())) {
      auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - (until - timeout));
      out.error = "the cluster did not answer a metadata request in " +
                  std::to_string(waited.count()) + " ms (last: " + existing.error().message +
                  ")";
      return out;
    }
    // An answer that came back at once (no broker known at all) is asked again after a
    // pause, not in a busy loop.
    if (std::chrono::steady_clock::now() < asked + kTargetCheckPause) {
      std::this_thread::sleep_for(kTargetCheckPause);
    }
  }
}

std::vector<ClusterTargets> targets_by_cluster(const TargetTopics& targets, TopicDirectory* main,
                                               const ClusterDirectories* clusters) {
  std::vector<ClusterTargets> out;
  out.push_back({"", targets, main});
  out.back().targets.cluster_topics.clear();
  for (const auto& [cluster, topics] : targets.cluster_topics) {
    ClusterTargets one{cluster, {}, nullptr};
    one.targets.topics = topics;
    one.targets.on_missing = targets.on_missing;
    if (clusters != nullptr) {
      if (auto it = clusters->find(cluster); it != clusters->end()) one.directory = it->second.get();
    }
    out.push_back(std::move(one));
  }
  return out;
}

int check_role_targets(const Config& config, const std::vector<std::string>& stages,
                       TopicDirectory* directory, const Logger& log,
                       const std::function<bool()>& give_up,
                       const ClusterDirectories* clusters) {
  int code = 0;
  for (const auto& name : stages) {
    const StageInstance* inst = config.stage(name);
    if (inst == nullptr || !inst->spec) continue;
    auto targets = inst->spec->target_topics();
    if (!targets) continue;
    if (!targets->unchecked.empty()) {
      log.info("target topics that cannot be checked at start-up (rendered from event fields)",
               {{"stage", name}, {"rules", joined(targets->unchecked, "; ")}});
    }
    for (auto& one : targets_by_cluster(*targets, directory, clusters)) {
      const std::string cluster = one.cluster.empty() ? std::string(kafka::kMainCluster)
                                                       : one.cluster;
      if (!one.cluster.empty() && one.targets.topics.empty()) continue;
      if (one.directory == nullptr) {
        log.info("target topics not checked: no Kafka producer in this role to ask the cluster",
                 {{"stage", name}, {"cluster", cluster}});
        continue;
      }
      auto outcome = check_targets(one.targets, *one.directory, targets->timeout, give_up);
      if (outcome.error) {
        log.warn("target topics not checked: the cluster's topics could not be read; starting "
                 "anyway",
                 {{"stage", name}, {"cluster", cluster}, {"error", *outcome.error}});
        continue;
      }
      if (outcome.missing.empty()) {
        log.info("target topics exist",
                 {{"stage", name},
                  {"cluster", cluster},
                  {"checked", static_cast<std::int64_t>(one.targets.topics.size())}});
        continue;
      }
      const bool fail = targets->on_missing == TargetTopics::OnMissing::kFail;
      const std::string key = "stages." + name + ".missing_topics";
      const std::string on = one.cluster.empty() ? "" : " on cluster " + one.cluster;
      if (fail) {
        log.error("target topics missing: start-up refused",
                  {{"stage", name},
                   {"cluster", cluster},
                   {"missing", listed_topics(outcome.missing)},
                   {"missing_count", static_cast<std::int64_t>(outcome.missing.size())},
                   {"fix", "create them" + on + " (or remove them from the rules), or set " +
                               key + " = \"warn\" to start anyway"}});
        code = 2;
      } else {
        log.warn("target topics missing: events routed to them will fail (or be created by "
                 "the broker if it auto-creates topics)",
                 {{"stage", name},
                  {"cluster", cluster},
                  {"missing", listed_topics(outcome.missing)},
                  {"missing_count", static_cast<std::int64_t>(outcome.missing.size())},
                  {"fix", "create them" + on + ", or set " + key +
                              " = \"fail\" to refuse start-up"}});
      }
    }
  }
  return code;
}

}  // namespace pemx
