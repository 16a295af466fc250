// sqlite_store's config: through its factory (defaults, every key, errors with key paths), and
// through the loader (store.path, the old name of the stage's path, is still its fallback and
// still takes --set; both given and different is an error).
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "builtin_stages.hpp"
#include "core/config.hpp"
#include "support/config_fixture.hpp"
#include "plugins/sqlite_store/stage_config.hpp"

namespace pemx {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

using test::Loaded;
using test::load_text;


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

TEST_CASE("overriding store.path with --set sets the path of a store that followed it",
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

namespace pemx::sqlite_store {
namespace {

using Catch::Matchers::Contains;
using test::parse;

TEST_CASE("the factory's name and defaults", "[unit][sqlite_store]") {
  CHECK(factory().type == "sqlite_store");
  auto p = parse("");
  REQUIRE(p.errors.empty());
  REQUIRE(p.spec);
  auto ports = p.spec->ports();
  REQUIRE(ports.size() == 2);
  CHECK(ports[0].queue == "events");
  CHECK(ports[0].direction == PortDirection::kIn);
  CHECK(ports[1].queue == "acks");
  CHECK(ports[1].direction == PortDirection::kOut);
  CHECK(p.spec->topics() == std::vector<std::string>{"product-event-dlq-pemx"});
  std::string d = p.spec->describe();
  CHECK_THAT(d, Contains("common.db"));  // store.path
  CHECK_THAT(d, Contains("synchronous=full"));
  CHECK_THAT(d, Contains("500 rows or 20 ms"));
}

TEST_CASE("every key is read, and path overrides store.path", "[unit][sqlite_store]") {
  auto p = parse(R"(
input = "to_store"
acks = "stored"
path = "/var/lib/pemx/events.db"
batch_size = 1000
batch_linger = "5ms"
synchronous = "normal"
busy_timeout = "2s"
readers = 8
dead_letter_topic = "store-dlq"
retry_initial = "50ms"
retry_max = "2s"
give_up_after = "5m"
properties = { "linger.ms" = 5 }
)");
  CHECK(p.errors.empty());
  REQUIRE(p.spec);
  CHECK(p.spec->ports()[0].queue == "to_store");
  CHECK(p.spec->ports()[1].queue == "stored");
  CHECK(p.spec->topics() == std::vector<std::string>{"store-dlq"});
  std::string d = p.spec->describe();
  CHECK_THAT(d, Contains("/var/lib/pemx/events.db"));
  CHECK_THAT(d, Contains("synchronous=normal"));
  CHECK_THAT(d, Contains("1000 rows or 5 ms"));
  CHECK_THAT(d, Contains("8 reader connections"));
}

TEST_CASE("bad values are reported with their key path and what is expected",
          "[unit][sqlite_store]") {
  auto p = parse(R"(
path = ":memory:"
batch_size = 0
synchronous = "sometimes"
dead_letter_topic = "bad topic"
batch_linger = "1 hour"
readers = 0
properties = { "acks" = "1", "enable.idempotence" = "false" }
batchsize = 3
)");
  auto has = [&](const std::string& part) {
    for (const auto& e : p.errors) {
      if (e.find(part) != std::string::npos) return true;
    }
    return false;
  };
  INFO(Catch::Detail::stringify(p.errors));
  CHECK(has("stages.store.path: \":memory:\""));
  CHECK(has("stages.store.batch_size"));
  CHECK(has("stages.store.synchronous: \"sometimes\": expected \"full\" or \"normal\""));
  CHECK(has("stages.store.dead_letter_topic"));
  CHECK(has("stages.store.batch_linger"));
  CHECK(has("stages.store.readers"));
  CHECK(has("acks = 1 would break at-least-once delivery"));
  CHECK(has("enable.idempotence = false would break at-least-once delivery"));
  CHECK(has("stages.store.batchsize"));  // unknown key
}

TEST_CASE("validation is report by default, and one of report, strict, off",
          "[unit][sqlite_store]") {
  CHECK_THAT(parse("").spec->describe(), Contains("validation report"));
  CHECK_THAT(parse("validation = \"strict\"").spec->describe(), Contains("validation strict"));
  CHECK_THAT(parse("validation = \"off\"").spec->describe(), Contains("validation off"));
  auto p = parse("validation = \"reports\"");
  CHECK(p.errors == std::vector<std::string>{
                        "pemx.toml:1: stages.store.validation: \"reports\": expected \"off\", "
                        "\"report\" or \"strict\"; did you mean \"report\"?"});
}

}  // namespace
}  // namespace pemx::sqlite_store
