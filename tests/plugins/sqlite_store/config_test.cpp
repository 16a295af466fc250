// sqlite_store's config through the loader: store.path, the old name of the stage's path, is
// still its fallback and still takes --set; both given and different is an error.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "builtin_stages.hpp"
#include "core/config.hpp"

namespace pemx {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

struct Loaded {
  std::vector<std::string> errors;
  std::map<std::string, std::string> described;  // stage -> describe()
};

Loaded load_text(const std::string& text, const std::vector<std::string>& overrides = {}) {
  auto r = load_config_text(text, "pemx.toml", overrides, builtin_stages());
  Loaded out;
  for (const auto& e : r.errors) out.errors.push_back(e.str());
  if (r.config) {
    for (const auto& s : r.config->stages) out.described[s.name] = s.spec->describe();
  }
  return out;
}

// One store stage (in no role: it is parsed all the same) with `keys`, after `common`.
std::string store_config(const std::string& common, const std::string& keys) {
  return common + "[roles]\nnone = []\n[stages.store]\ntype = \"sqlite_store\"\n" + keys;
}

TEST_CASE("store.path still sets the path of a store stage that names none",
          "[unit][sqlite_store][config][alias]") {
  auto l = load_text(store_config("[store]\npath = \"old.db\"\n", ""));
  REQUIRE(l.errors.empty());
  CHECK_THAT(l.described["store"], StartsWith("SQLite store old.db ("));
  CHECK(load_text(store_config("[store]\npath = \"old.db\"\n", "path = \"old.db\"\n"))
            .errors.empty());
  auto own = load_text(store_config("", "path = \"own.db\"\n"));
  REQUIRE(own.errors.empty());
  CHECK_THAT(own.described["store"], StartsWith("SQLite store own.db ("));
}

TEST_CASE("store.path and a store's path, both given and different, are an error naming both",
          "[unit][sqlite_store][config][alias]") {
  auto l = load_text(store_config("[store]\npath = \"old.db\"\n", "path = \"own.db\"\n"));
  CHECK(l.errors == std::vector<std::string>{
                        "pemx.toml:2: store.path: \"old.db\" is used by no sqlite_store stage: "
                        "each names its own path (stages.store.path = \"own.db\"); store.path "
                        "is the old name of that key: keep one of the two"});
}

TEST_CASE("--set store.path sets the path of a store that followed it",
          "[unit][sqlite_store][config][alias][set]") {
  SECTION("a store naming the old default") {
    auto l = load_text(store_config("", "path = \"pemx.db\"\n"), {"store.path=/tmp/x.db"});
    REQUIRE(l.errors.empty());
    CHECK_THAT(l.described["store"], StartsWith("SQLite store /tmp/x.db ("));
  }
  SECTION("a store naming no path") {
    auto l = load_text(store_config("[store]\npath = \"old.db\"\n", ""), {"store.path=/tmp/x.db"});
    REQUIRE(l.errors.empty());
    CHECK_THAT(l.described["store"], StartsWith("SQLite store /tmp/x.db ("));
  }
  SECTION("a store with a path of its own keeps it, so the old key is refused") {
    auto l = load_text(store_config("", "path = \"own.db\"\n"), {"store.path=/tmp/x.db"});
    REQUIRE(l.errors.size() == 1);
    CHECK_THAT(l.errors[0], StartsWith("--set: store.path: \"/tmp/x.db\" is used by no "
                                       "sqlite_store stage") &&
                                Contains("stages.store.path = \"own.db\""));
  }
}

TEST_CASE("pemx.toml: --set store.path sets the web role's store",
          "[unit][sqlite_store][config][alias][set]") {
  std::ifstream in(PEMX_SOURCE_DIR "/pemx.toml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE_FALSE(text.empty());
  auto shipped = load_text(text);
  REQUIRE(shipped.errors.empty());
  CHECK_THAT(shipped.described["store"], StartsWith("SQLite store pemx.db ("));
  auto l = load_text(text, {"store.path=/var/lib/pemx/pemx.db"});
  REQUIRE(l.errors.empty());
  CHECK_THAT(l.described["store"], StartsWith("SQLite store /var/lib/pemx/pemx.db ("));
}

}  // namespace
}  // namespace pemx
