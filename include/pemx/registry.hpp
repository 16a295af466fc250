#pragma once
// Registry: stage type name -> factory. A value built in main (src/builtin_stages.cpp.in,
// generated from CMake's list of the stages built, registers every compiled-in stage); never a
// global, never self-registration.
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "pemx/event_store.hpp"
#include "pemx/reload.hpp"
#include "pemx/result.hpp"
#include "pemx/stage.hpp"
#include "pemx/topic_directory.hpp"

namespace pemx {

class ConfigSection;  // src/core/config_section.hpp
struct CommonConfig;  // src/core/config.hpp

enum class PortDirection { kIn, kOut };
struct QueuePort {
  std::string queue;
  PortDirection direction;
};

// An offline command with operands (`pemx import FILE`): its name, its operands and the
// process's streams.
struct ToolCall {
  std::string tool;
  std::vector<std::string> operands;
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

// How a stage takes part in its pipeline's delivery mode (docs/configuration.md, `delivery`).
// The stages of one pipeline (joined by queues) must agree; the loader checks it per role.
enum class DeliveryRole {
  kNone,         // at-least-once only (a store, an HTTP front)
  kForwards,     // passes every record on in order, transaction markers untouched (a router)
  kAtLeastOnce,  // its `delivery` key says "at_least_once"
  kExactlyOnce,  // its `delivery` key says "exactly_once"
};

class StageSpec;

// What a stage may see of the others when the config is checked (StageSpec::check_references).
struct StageRef {
  std::string name;  // [stages.<name>]
  const StageSpec* spec;
};
struct StageNeighbours {
  std::vector<StageRef> before;  // the stages before this one in the role being checked
  std::vector<StageRef> all;     // every parsed stage of the config, whatever its roles
};
struct ReferenceProblem {
  std::string key;      // the stage's key that names the other stage ("store")
  std::string message;  // what is wrong and the fix
};

// A stage's parsed, validated config: what the factory made of its TOML section.
class StageSpec {
 public:
  virtual ~StageSpec() = default;
  virtual std::vector<QueuePort> ports() const = 0;
  // Kafka topics with fixed names the stage reads or writes (pre-created on the embedded
  // cluster).
  virtual std::vector<std::string> topics() const { return {}; }
  // The topics the stage sends to, checked against the cluster at start-up (and on reload);
  // nullopt: no check.
  virtual std::optional<TargetTopics> target_topics() const { return std::nullopt; }
  // A human summary for `pemx check-config`.
  virtual std::string describe() const { return {}; }
  // Offline tools (e.g. "route"): the exit code, or -1 when this stage has no such tool.
  virtual int run_tool(const std::string& /*tool*/, std::istream& /*in*/,
                       std::ostream& /*out*/) const {
    return -1;
  }
  // Offline commands with operands (e.g. "import"): the exit code, or -1 when this stage has
  // no such command.
  virtual int run_command(const ToolCall& /*call*/) const { return -1; }
  // A store's reader, opened offline (`pemx replay`): the database is opened and migrated as
  // the stage would, and only the reader is kept. Error "not_a_store" for other stages.
  virtual Result<std::shared_ptr<EventReader>> open_reader() const {
    return Error{"not_a_store", "not a store stage"};
  }
  // A router's decision, for other stages (the push) to apply; null for other stages.
  virtual std::shared_ptr<EventCheck> event_check() const { return nullptr; }
  // A router's rules, which a reload replaces while the stage runs (pemx/reload.hpp); null for
  // stages with nothing to change live.
  virtual std::shared_ptr<LiveRules> live_rules() const { return nullptr; }
  virtual DeliveryRole delivery() const { return DeliveryRole::kNone; }
  // Identities that two stages of one process must not share, as (key, identity): a Kafka
  // static member (its group and group.instance.id), a transactional.id. Two of them would
  // fence each other at run time; the loader refuses a role where two stages claim one.
  virtual std::vector<std::pair<std::string, std::string>> exclusive_ids() const { return {}; }
  // Whether the stage offers a history reader to the stages built after it in its role
  // (StageContext::readers, under the stage's name): a store.
  virtual bool offers_reader() const { return false; }
  // The other stages this one's keys name (a store to read from, a router whose rules the push
  // applies), checked by the loader for each role that lists the stage, so that check-config
  // refuses what the stage would refuse when it is built at start-up.
  virtual std::vector<ReferenceProblem> check_references(const StageNeighbours& /*n*/) const {
    return {};
  }
  virtual std::unique_ptr<Stage> create(StageContext& context) const = 0;
};

// A key that moved from a common section into the stage's own (http.listen -> listen). The
// old key stays an alias: the factory takes it as the fallback of its own key; the loader
// refuses an old key that every stage of the type overrides with a different value (both
// given, the old one unused), and makes `--set OLD=VALUE` reach every stage of the type whose
// own key holds what the old key held (the stages that follow it).
struct ConfigAlias {
  std::string old_key;   // dotted path from the top, e.g. "http.listen"
  std::string key;       // the stage's own key, e.g. "listen"
  std::string fallback;  // the old key's default
};

struct StageFactory {
  std::string type;
  std::string summary;
  // Reads the stage's section; reports errors into the section (never throws for bad config).
  std::function<std::unique_ptr<StageSpec>(ConfigSection&, const CommonConfig&)> parse;
  std::vector<ConfigAlias> aliases = {};
};

class Registry {
 public:
  void add(StageFactory factory) {
    auto type = factory.type;
    if (!factories_.emplace(type, std::move(factory)).second) {
      throw std::logic_error("stage type registered twice: " + type);
    }
  }
  const StageFactory* find(const std::string& type) const {
    auto it = factories_.find(type);
    return it == factories_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> types() const {
    std::vector<std::string> out;
    for (const auto& [name, f] : factories_) out.push_back(name);
    return out;
  }

 private:
  std::map<std::string, StageFactory> factories_;
};

}  // namespace pemx
