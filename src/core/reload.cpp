#include "core/reload.hpp"

#include <algorithm>
#include <set>

#include "pemx/activity.hpp"  // epoch_ms_now

namespace pemx {

namespace {

std::string joined(const std::vector<std::string>& items, std::string_view sep = ", ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : std::string(sep)) + i;
  return out;
}

// "stages.router.rules" -> ("router", "rules"); empty names for keys outside [stages].
std::pair<std::string, std::string> stage_key(const std::string& key) {
  constexpr std::string_view kStages = "stages.";
  if (key.rfind(kStages, 0) != 0) return {};
  auto dot = key.find('.', kStages.size());
  if (dot == std::string::npos) return {};
  std::string rest = key.substr(dot + 1);
  return {key.substr(kStages.size(), dot - kStages.size()), rest.substr(0, rest.find('.'))};
}

}  // namespace

RulesReload::RulesReload(const Config& running, std::vector<std::string> role, Load load,
                         Logger log, Metrics& metrics,
                         std::shared_ptr<TopicDirectory>* directory,
                         std::function<bool()> give_up, ClusterDirectories* clusters)
    : role_(std::move(role)),
      load_(std::move(load)),
      log_(std::move(log)),
      metrics_(metrics),
      directory_(directory),
      cluster_directories_(clusters),
      give_up_(std::move(give_up)),
      reloads_(metrics.counter("pemx_rules_reloads_total",
                               "Reloads of the config applied (SIGHUP, POST /api/admin/reload)")),
      failures_(metrics.counter("pemx_rules_reload_failures_total",
                                "Reloads refused: invalid config or missing target topics; the "
                                "running rules stay")),
      texts_(running.key_texts) {
  for (const auto& c : running.common.clusters) clusters_.insert(c.name);
  for (const auto& inst : running.stages) {
    if (!inst.spec) continue;
    auto rules = inst.spec->live_rules();
    if (!rules) continue;
    Router& router = routers_[inst.name];
    router.type = inst.type;
    router.rules = rules;
    metrics_.gauge_fn("pemx_rules_loaded_timestamp_seconds",
                      "When the router's running rules were loaded, seconds since the epoch",
                      {{"stage", inst.name}}, [rules] {
                        return static_cast<double>(rules->current().loaded_at_ms) / 1000.0;
                      });
    publish_info(inst.name, router);
  }
}

RulesReload::~RulesReload() = default;

void RulesReload::publish_info(const std::string& stage, Router& router) {
  const std::string version = router.rules->current().version;
  if (!router.info_version.empty()) {
    metrics_.remove_gauge_fn("pemx_rules_info",
                             {{"stage", stage}, {"version", router.info_version}});
  }
  router.info_version = version;
  metrics_.gauge_fn("pemx_rules_info", "The version of the rules a router runs with (always 1)",
                    {{"stage", stage}, {"version", version}}, [] { return 1.0; });
}

std::vector<StageRules> RulesReload::rules_now() const {
  std::vector<StageRules> out;
  for (const auto& [name, router] : routers_) out.push_back({name, router.rules->current()});
  return out;
}

ReloadStatus RulesReload::status() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return {rules_now(), reloads_.value(), failures_.value()};
}

ReloadOutcome RulesReload::refuse(ReloadOutcome outcome, std::string_view origin,
                                  std::string error) {
  failures_.inc();
  log_.error("reload refused; the running rules stay",
             {{"origin", std::string(origin)}, {"error", error}});
  outcome.ok = false;
  outcome.error = std::move(error);
  std::lock_guard<std::mutex> lock(state_mutex_);
  outcome.rules = rules_now();
  return outcome;
}

std::shared_ptr<void> RulesReload::on_reload(Hook hook) {
  std::lock_guard<std::mutex> lock(hooks_mutex_);
  const std::uint64_t id = next_hook_++;
  hooks_.emplace(id, std::move(hook));
  // The handle's deleter removes the hook (this outlives every stage that holds one).
  return std::shared_ptr<void>(nullptr, [this, id](void*) {
    std::lock_guard<std::mutex> remove(hooks_mutex_);
    hooks_.erase(id);
  });
}

ReloadOutcome RulesReload::reload(std::string_view origin) {
  std::lock_guard<std::mutex> one_at_a_time(reload_mutex_);
  {
    std::lock_guard<std::mutex> lock(hooks_mutex_);
    for (auto& [id, hook] : hooks_) hook();
  }
  ReloadOutcome out;
  out.at_ms = epoch_ms_now();
  LoadResult loaded = load_();
  if (!loaded.errors.empty() || !loaded.config) {
    std::vector<std::string> lines;
    for (const auto& e : loaded.errors) lines.push_back(e.str());
    return refuse(std::move(out), origin, "invalid config: " + joined(lines, "; "));
  }
  const Config& next = *loaded.config;

  // What changed, and whether it can change live.
  std::set<std::string> keys;
  for (const auto& [k, v] : texts_) {
    auto it = next.key_texts.find(k);
    if (it == next.key_texts.end() || it->second != v) keys.insert(k);
  }
  for (const auto& [k, v] : next.key_texts) {
    if (texts_.count(k) == 0) keys.insert(k);
  }
  std::vector<std::string> live_keys;
  std::set<std::string> live_stages;
  for (const auto& key : keys) {
    auto [stage, sub] = stage_key(key);
    auto router = routers_.find(stage);
    const StageInstance* inst = stage.empty() ? nullptr : next.stage(stage);
    bool live = router != routers_.end() && inst != nullptr && inst->spec &&
                inst->type == router->second.type && inst->spec->live_rules() != nullptr;
    if (live) {
      auto allowed = router->second.rules->live_keys();
      live = std::find(allowed.begin(), allowed.end(), sub) != allowed.end();
    }
    if (live) {
      live_keys.push_back(key);
      live_stages.insert(stage);
    } else {
      out.restart_keys.push_back(key);
    }
  }

  // A rule may move only among the clusters the process started with: their producers exist.
  for (const auto& stage : live_stages) {
    for (const auto& cluster : next.stage(stage)->spec->live_rules()->clusters()) {
      if (clusters_.count(cluster) != 0) continue;
      return refuse(std::move(out), origin,
                    "stages." + stage + ".rules: a rule sends to cluster \"" + cluster +
                        "\", which this process did not start with: [clusters." + cluster +
                        "] cannot be added live (a key that needs a restart: the sink makes "
                        "its producers at start-up); restart to use it, or keep the rule on a "
                        "cluster the process has");
    }
  }

  // The new rules' targets, as at start-up (each on its cluster), for the routers this
  // process runs.
  TopicDirectory* directory = directory_ != nullptr ? directory_->get() : nullptr;
  for (const auto& stage : live_stages) {
    if (std::find(role_.begin(), role_.end(), stage) == role_.end()) continue;
    auto targets = next.stage(stage)->spec->target_topics();
    if (!targets) continue;
    for (auto& one : targets_by_cluster(*targets, directory, cluster_directories_)) {
      const std::string cluster = one.cluster.empty() ? "kafka" : one.cluster;
      if (!one.cluster.empty() && one.targets.topics.empty()) continue;
      if (one.directory == nullptr) {
        log_.info("target topics not checked: no Kafka producer in this role to ask the cluster",
                  {{"stage", stage}, {"cluster", cluster}});
        continue;
      }
      auto checked = check_targets(one.targets, *one.directory, targets->timeout, give_up_);
      if (checked.error && give_up_ && give_up_()) {
        return refuse(std::move(out), origin,
                      "the target check of stages." + stage + " was cancelled: the process is "
                      "stopping");
      }
      if (checked.error && targets->on_missing == TargetTopics::OnMissing::kFail) {
        const std::string key = "stages." + stage + ".missing_topics";
        return refuse(std::move(out), origin,
                      "stages." + stage + ".rules: the new rules' target topics could not be "
                      "checked on cluster " + cluster + " (" + *checked.error + "), and " + key +
                      " = \"fail\" applies only rules whose topics are confirmed; reload "
                      "again when the cluster answers, or set " + key + " = \"warn\"");
      }
      if (checked.error) {
        log_.warn("target topics of the reloaded rules not checked: the cluster's topics could "
                  "not be read; applying them anyway",
                  {{"stage", stage}, {"cluster", cluster}, {"error", *checked.error}});
        continue;
      }
      if (checked.missing.empty()) continue;
      const std::string key = "stages." + stage + ".missing_topics";
      const std::string on = one.cluster.empty() ? "" : " on cluster " + one.cluster;
      if (targets->on_missing == TargetTopics::OnMissing::kFail) {
        return refuse(std::move(out), origin,
                      "stages." + stage + ".rules: the new rules send to topics the cluster" +
                          on + " lacks: " + listed_topics(checked.missing) + " (" + key +
                          " = \"fail\"); create them or fix the rules");
      }
      log_.warn("target topics of the reloaded rules missing: events routed to them will fail "
                "(or be created by the broker if it auto-creates topics)",
                {{"stage", stage},
                 {"cluster", cluster},
                 {"missing", listed_topics(checked.missing)},
                 {"missing_count", static_cast<std::int64_t>(checked.missing.size())},
                 {"fix", "create them" + on + ", or set " + key +
                             " = \"fail\" to refuse such a reload"}});
    }
  }

  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    for (const auto& stage : live_stages) {
      Router& router = routers_.at(stage);
      if (router.rules->replace(*next.stage(stage)->spec->live_rules())) {
        out.swapped.push_back(stage);
        publish_info(stage, router);
      }
    }
    for (const auto& key : live_keys) {
      auto it = next.key_texts.find(key);
      if (it == next.key_texts.end()) {
        texts_.erase(key);
      } else {
        texts_[key] = it->second;
      }
    }
    out.rules = rules_now();
  }
  reloads_.inc();
  out.ok = true;
  if (!out.restart_keys.empty()) {
    log_.warn("config changes ignored until a restart: needs a restart: " +
                  joined(out.restart_keys),
              {{"origin", std::string(origin)}, {"keys", joined(out.restart_keys)}});
  }
  std::string versions;
  for (const auto& r : out.rules) {
    versions += (versions.empty() ? "" : ", ") + r.stage + "=" + r.rules.version;
  }
  log_.info("config reloaded",
            {{"origin", std::string(origin)},
             {"swapped", out.swapped.empty() ? std::string("(no rules changed)")
                                             : joined(out.swapped)},
             {"rules", routers_.empty() ? std::string("(no router in the config)") : versions}});
  return out;
}

}  // namespace pemx
