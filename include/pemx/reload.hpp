#pragma once
// Reload of the routing rules while the process runs (SIGHUP, POST /api/admin/reload): two
// small contracts.
//   LiveRules: offered by a router's spec (StageSpec::live_rules), shared by its stage and its
//     push check; the supervisor hands it the rules of the re-read config, and the stage's
//     thread picks them up between two events.
//   Reloader: offered by the supervisor to the stages (StageContext::reloader), so that the
//     HTTP stage can reload the process it is served by, and re-read its own files with it.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pemx {

// The rules a router runs with: a short hash of its canonical rules and when they were loaded.
struct RulesVersion {
  std::string version;
  std::int64_t loaded_at_ms = 0;  // since the epoch
};

class LiveRules {
 public:
  virtual ~LiveRules() = default;
  // The keys of the stage's section that may change while it runs ("rules", ...); a change to
  // any other key needs a restart.
  virtual std::vector<std::string> live_keys() const = 0;
  virtual RulesVersion current() const = 0;
  // The [clusters.<name>] the rules send to (sorted; not the main one): a reload may move a
  // rule only among the clusters the process started with (their producers exist).
  virtual std::vector<std::string> clusters() const { return {}; }
  // Takes the rules `next` holds (the same stage in the re-read, validated config) unless they
  // are the running ones; true when they changed. Thread-safe; never blocks the stage's thread
  // beyond one atomic load per event.
  virtual bool replace(const LiveRules& next) = 0;
};

struct StageRules {
  std::string stage;  // the router stage's name
  RulesVersion rules;
};

struct ReloadOutcome {
  bool ok = false;
  // Why the reload was refused (the running rules stay): the config errors, one per key, or
  // the target topics the new rules lack (missing_topics = "fail").
  std::string error;
  std::vector<StageRules> rules;          // the rules running after the reload
  std::vector<std::string> swapped;       // the routers whose rules changed
  std::vector<std::string> restart_keys;  // changed keys that need a restart (ignored)
  std::int64_t at_ms = 0;                 // when the reload ran
};

struct ReloadStatus {
  std::vector<StageRules> rules;  // every router of the config, by stage name
  std::uint64_t reloads = 0;      // reloads applied (whether or not the rules changed)
  std::uint64_t failures = 0;     // reloads refused
};

class Reloader {
 public:
  virtual ~Reloader() = default;
  // Re-reads the config file the process started with (and its --set overrides), validates it
  // as start-up does and swaps the routers' rules. Blocks up to the target check's timeout:
  // never call it on an I/O thread. One reload at a time; `origin` ("SIGHUP", "http") is logged.
  virtual ReloadOutcome reload(std::string_view origin) = 0;
  // Thread-safe, does not block.
  virtual ReloadStatus status() const = 0;
  // What else a reload re-reads besides the config (the HTTP stage's token files and TLS
  // certificate): `hook` runs at the start of every reload, on the reloading thread, whatever
  // becomes of the rules (those files do not depend on the config being valid). It stays
  // registered while the returned handle lives; destroying the handle waits for a running call.
  using Hook = std::function<void()>;
  virtual std::shared_ptr<void> on_reload(Hook hook) = 0;
};

}  // namespace pemx
