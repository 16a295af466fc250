// Fuzz target config_load: a config file and --set overrides through the loader `pemx
// check-config` runs (load_config_text with the registry of src/builtin_stages.cpp.in, so every
// stage's factory parses its section), then what check-config prints of the result.
//
// Input: TOML text, then optionally "--set KEY=VALUE" lines. The first line starting with
// "--set " ends the TOML; every line from there on is one override (its "--set " prefix, if
// any, removed), as main gets them from argv.
//
// Inputs naming keys that reach outside the process at parse time are skipped (return -1, kept
// out of the corpus): write_tokens_file, tokens_file, token_file (http_front reads the files)
// and librdkafka's plugin.library.paths (loads shared libraries when set).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "builtin_stages.hpp"
#include "core/config.hpp"

namespace {

using namespace pemx;

const Registry& registry() {
  static const Registry r = builtin_stages();
  return r;
}

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "config_load: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.find("tokens_file") != std::string_view::npos ||  // write_tokens_file too
      input.find("token_file") != std::string_view::npos ||
      input.find("plugin.library") != std::string_view::npos) {
    return -1;
  }

  std::string_view toml = input;
  std::vector<std::string> sets;
  std::size_t split = input.rfind("--set ", 0) == 0 ? 0 : input.find("\n--set ");
  if (split != std::string_view::npos) {
    toml = input.substr(0, split);
    std::string_view rest = input.substr(split == 0 ? 0 : split + 1);
    while (!rest.empty()) {
      std::size_t end = rest.find('\n');
      std::string_view line = rest.substr(0, end);
      if (line.rfind("--set ", 0) == 0) line.remove_prefix(6);
      sets.emplace_back(line);
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
  }

  LoadResult loaded = load_config_text(std::string(toml), "fuzz.toml", sets, registry());
  if (loaded.config && !loaded.errors.empty()) fail("result", "a config and errors");
  if (!loaded.config) {
    if (loaded.errors.empty()) fail("result", "neither a config nor an error");
    for (const auto& e : loaded.errors) (void)e.str();
    return 0;
  }
  // What check-config prints, and what the supervisor asks of every spec before creating.
  const Config& config = *loaded.config;
  for (const auto& [role, stages] : config.roles) {
    for (const auto& name : stages) {
      if (config.stage(name) == nullptr) fail("role names an unknown stage", role + ": " + name);
    }
  }
  for (const auto& st : config.stages) {
    if (!st.spec) fail("stage without a spec", st.name);
    (void)st.spec->describe();
    (void)st.spec->ports();
    (void)st.spec->topics();
  }
  return 0;
}
