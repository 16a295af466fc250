#pragma once
// The process configuration: pemx.toml plus --set overrides, parsed once into typed structs.
// Stage sections are handed to their factories (the registry) and come back as StageSpecs.
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config_section.hpp"
#include "event/json.hpp"
#include "event/schema.hpp"
#include "kafka/kafka_config.hpp"
#include "pemx/log.hpp"
#include "pemx/registry.hpp"

namespace pemx {

// [http] listen and [store] path: the old names of the http_front stage's `listen` and the
// sqlite_store stage's `path`, kept as aliases (ConfigAlias): the stages' fallbacks.
struct HttpConfig {
  std::string listen = "127.0.0.1:8080";  // host:port, used by the HTTP stage
};

struct StoreConfig {
  std::string path = "pemx.db";  // the SQLite file, used by the store stage
};

struct CommonConfig {
  kafka::KafkaConfig kafka;
  // [clusters.<name>], sorted by name: cluster number i + 1 (0 is [kafka]).
  std::vector<kafka::ClusterConfig> clusters;
  HttpConfig http;
  StoreConfig store;
  event::JsonLimits events;  // [events]: bounds on every event read from Kafka or HTTP
  // [schemas]: a JSON Schema per eventType, compiled; null when the section names none.
  std::shared_ptr<const event::SchemaSet> schemas;
  LogLevel log_level = LogLevel::kInfo;
  std::chrono::milliseconds stats_interval{std::chrono::seconds(30)};
  std::chrono::milliseconds drain_timeout{std::chrono::seconds(30)};
};

struct StageInstance {
  std::string name;  // [stages.<name>]
  std::string type;  // its factory
  std::unique_ptr<StageSpec> spec;
};

struct Config {
  std::string file;
  CommonConfig common;
  std::map<std::string, std::vector<std::string>> roles;
  std::map<std::string, std::size_t> queues;  // name -> capacity
  std::vector<StageInstance> stages;
  // Every key of the file after the --set overrides, flattened to dotted paths down to the
  // first value that is not a table ("kafka.brokers", "stages.router.rules"), with its value
  // as TOML text: a reload compares them to name what changed (core/reload.hpp).
  std::map<std::string, std::string> key_texts;

  const StageInstance* stage(const std::string& name) const;
};

struct LoadResult {
  std::unique_ptr<Config> config;  // null when errors is not empty
  std::vector<ConfigError> errors;
  // Every integer and duration key the loader read (set or not), with its range: the source
  // of docs/configuration.md's ranges (tests/core/config_ranges_doc_test.cpp).
  std::vector<KeyRange> ranges;
};

// Reads the file, applies each "KEY=VALUE" override (VALUE is TOML, or else a plain string),
// parses every section, and validates every role's queue graph. Touches nothing outside.
LoadResult load_config(const std::string& file, const std::vector<std::string>& overrides,
                       const Registry& registry);
// Same, from text (tests).
LoadResult load_config_text(const std::string& text, const std::string& file_name,
                            const std::vector<std::string>& overrides,
                            const Registry& registry);

// Why `role` cannot run with this config (not in [roles], or it lists no stages); nullopt
// when it can. Start-up (Supervisor::run) and `pemx check-config --role` ask alike.
std::optional<std::string> role_problem(const Config& config, const std::string& role);

}  // namespace pemx
