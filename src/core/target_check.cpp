#include "core/target_check.hpp"

#include "core/config.hpp"

namespace pemx {

namespace {
std::string joined(const std::vector<std::string>& names, const char* separator = ", ") {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : separator) + n;
  return out;
}
}  // namespace

std::vector<std::string> missing_topics(const std::vector<std::string>& wanted,
                                        const TopicSet& existing) {
  std::vector<std::string> out;
  for (const auto& t : wanted) {
    if (existing.count(t) == 0) out.push_back(t);
  }
  return out;
}

TargetCheckOutcome check_targets(const TargetTopics& targets, TopicDirectory& directory,
                                 std::chrono::milliseconds timeout) {
  TargetCheckOutcome out;
  if (targets.topics.empty()) return out;
  auto existing = directory.topics(timeout);
  if (!existing) {
    out.error = existing.error().message;
    return out;
  }
  out.missing = missing_topics(targets.topics, existing.value());
  return out;
}

int check_role_targets(const Config& config, const std::vector<std::string>& stages,
                       TopicDirectory* directory, const Logger& log,
                       std::chrono::milliseconds timeout) {
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
    if (directory == nullptr) {
      log.info("target topics not checked: no Kafka producer in this role to ask the cluster",
               {{"stage", name}});
      continue;
    }
    auto outcome = check_targets(*targets, *directory, timeout);
    if (outcome.error) {
      log.warn("target topics not checked: the cluster did not answer; starting anyway",
               {{"stage", name}, {"error", *outcome.error}});
      continue;
    }
    if (outcome.missing.empty()) {
      log.info("target topics exist",
               {{"stage", name}, {"checked", static_cast<std::int64_t>(targets->topics.size())}});
      continue;
    }
    const bool fail = targets->on_missing == TargetTopics::OnMissing::kFail;
    const std::string key = "stages." + name + ".missing_topics";
    if (fail) {
      log.error("target topics missing: start-up refused",
                {{"stage", name},
                 {"missing", joined(outcome.missing)},
                 {"fix", "create them (or remove them from the rules), or set " + key +
                             " = \"warn\" to start anyway"}});
      code = 2;
    } else {
      log.warn("target topics missing: events routed to them will fail (or be created by "
               "the broker if it auto-creates topics)",
               {{"stage", name},
                {"missing", joined(outcome.missing)},
                {"fix", "create them, or set " + key + " = \"fail\" to refuse start-up"}});
    }
  }
  return code;
}

}  // namespace pemx
