#pragma once
// Parses a [stages.store] section through sqlite_store's factory alone (no loader), as the
// config tests and the stage tests that build a stage both need.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "core/config.hpp"
#include "core/config_section.hpp"
#include "sqlite_store/sqlite_store.hpp"

namespace pemx::sqlite_store::test {

struct Parsed {
  std::unique_ptr<StageSpec> spec;
  std::vector<std::string> errors;
};

inline Parsed parse(const std::string& text, const std::string& store_path = "common.db") {
  toml::table root = toml::parse(text, std::string_view("pemx.toml"));
  std::vector<ConfigError> errors;
  ConfigSection section(&root, "stages.store", "pemx.toml", &errors);
  CommonConfig common;
  common.store.path = store_path;
  Parsed out;
  out.spec = factory().parse(section, common);
  section.reject_unknown();
  for (const auto& e : errors) out.errors.push_back(e.str());
  return out;
}

}  // namespace pemx::sqlite_store::test
