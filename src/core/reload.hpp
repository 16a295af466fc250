#pragma once
// The reload of the routing rules (pemx/reload.hpp's Reloader): the supervisor makes one per
// run, SIGHUP calls it, and it is offered to the stages (StageContext::reloader) for
// POST /api/admin/reload.
//
// A reload re-reads the config the process started with through the same loader as start-up
// and `pemx check-config` (load_config, handed in as `load`), so an invalid file is refused
// with the same errors. It then compares the new file's keys with the running ones
// (Config::key_texts): the keys a router declares live (LiveRules::live_keys) are applied, the
// others are named once in a "needs a restart" warning and otherwise ignored. The new rules'
// target topics are checked as at start-up (missing_topics: "fail" refuses the reload, also
// when the cluster cannot be asked, "warn" applies it and warns). Only then are the rules
// replaced, every router's at once: a refused reload changes nothing. Which cluster a rule sends to ([clusters.<name>], its `cluster`)
// may change among the clusters the process started with; a rule naming a cluster added since
// refuses the reload ([clusters.*] needs a restart: the sink made its producers at start-up).
//
// Threads: reload() from any thread, one at a time (a mutex); it blocks while the cluster is
// asked for its topics (up to the check's timeout, missing_topics_timeout), so never on the
// supervisor's thread (core/reload_runner.hpp) nor an I/O thread. give_up() true (the process
// stops) ends a running check and refuses the reload. status() from any thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/target_check.hpp"
#include "pemx/log.hpp"
#include "pemx/metrics.hpp"
#include "pemx/reload.hpp"
#include "pemx/topic_directory.hpp"

namespace pemx {

class RulesReload final : public Reloader {
 public:
  using Load = std::function<LoadResult()>;
  // running: the start-up config (its routers' LiveRules are the ones replaced); role: the
  // names of the stages this process runs (their targets are checked); directory: the slot
  // a sink's client fills (may stay empty; null in tests); give_up: ends the target check
  // early and refuses the reload (the process stops, or a fatal error elsewhere); clusters:
  // the same slots for each [clusters.<name>].
  RulesReload(const Config& running, std::vector<std::string> role, Load load, Logger log,
              Metrics& metrics, std::shared_ptr<TopicDirectory>* directory = nullptr,
              std::function<bool()> give_up = {}, ClusterDirectories* clusters = nullptr);
  ~RulesReload() override;

  ReloadOutcome reload(std::string_view origin) override;
  ReloadStatus status() const override;
  std::shared_ptr<void> on_reload(Hook hook) override;

 private:
  struct Router {
    std::string type;
    std::shared_ptr<LiveRules> rules;
    std::string info_version;  // the version label of its pemx_rules_info series
  };
  ReloadOutcome refuse(ReloadOutcome outcome, std::string_view origin, std::string error);
  std::vector<StageRules> rules_now() const;
  void publish_info(const std::string& stage, Router& router);

  std::vector<std::string> role_;
  Load load_;
  Logger log_;
  Metrics& metrics_;
  std::shared_ptr<TopicDirectory>* directory_;
  ClusterDirectories* cluster_directories_;
  std::set<std::string> clusters_;  // the [clusters.*] the process started with
  std::function<bool()> give_up_;
  Counter& reloads_;
  Counter& failures_;

  std::mutex reload_mutex_;  // one reload at a time
  mutable std::mutex state_mutex_;
  std::map<std::string, std::string> texts_;  // the running keys (live ones as last applied)
  std::map<std::string, Router> routers_;     // every router of the config, by stage name

  // The hooks of on_reload, by id; hooks_mutex_ is held while they run, so that removing one
  // waits for its running call.
  std::mutex hooks_mutex_;
  std::map<std::uint64_t, Hook> hooks_;
  std::uint64_t next_hook_ = 0;
};

}  // namespace pemx
