// postgres_store's config through its factory alone: defaults, every key, errors with their key
// paths, unknown keys, and no password in any error or description.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "core/config.hpp"
#include "core/config_section.hpp"
#include "postgres_store/postgres_store.hpp"

namespace pemx::postgres_store {
namespace {

using Catch::Matchers::Contains;

struct Parsed {
  std::unique_ptr<StageSpec> spec;
  std::vector<std::string> errors;
  bool has(const std::string& part) const {
    for (const auto& e : errors) {
      if (e.find(part) != std::string::npos) return true;
    }
    return false;
  }
};

Parsed parse(const std::string& text) {
  toml::table root = toml::parse(text, std::string_view("pemx.toml"));
  std::vector<ConfigError> errors;
  ConfigSection section(&root, "stages.store", "pemx.toml", &errors);
  CommonConfig common;
  Parsed out;
  out.spec = factory().parse(section, common);
  section.reject_unknown();
  for (const auto& e : errors) out.errors.push_back(e.str());
  return out;
}

constexpr const char* kConnection =
    "connection = \"postgresql://pemx:hunter2@db.example:5432/pemx\"\n";

TEST_CASE("postgres_store: the factory's name, its defaults and its one required key",
          "[unit][postgres_store][config]") {
  CHECK(factory().type == "postgres_store");
  auto p = parse(kConnection);
  INFO(Catch::Detail::stringify(p.errors));
  REQUIRE(p.errors.empty());
  REQUIRE(p.spec);
  auto ports = p.spec->ports();
  REQUIRE(ports.size() == 2);
  CHECK(ports[0].queue == "events");
  CHECK(ports[1].queue == "acks");
  CHECK(p.spec->topics() == std::vector<std::string>{"product-event-dlq-pemx"});
  const std::string d = p.spec->describe();
  CHECK_THAT(d, Contains("PostgreSQL store pemx@db.example:5432/pemx ("));
  CHECK_THAT(d, Contains("500 rows or 20 ms"));
  CHECK_THAT(d, Contains("4 reader connections"));
  CHECK_THAT(d, !Contains("hunter2"));

  auto missing = parse("");
  CHECK(missing.has("stages.store.connection: missing: a libpq connection string"));
}

TEST_CASE("postgres_store: every key is read", "[unit][postgres_store][config]") {
  auto p = parse(std::string(kConnection) + R"(
read_connection = "host=replica.example user=reader password=readerpw dbname=pemx"
readers = 8
statement_timeout = "5s"
connect_timeout = "3s"
reader_wait = "500ms"
input = "to_store"
acks = "stored"
batch_size = 1000
batch_linger = "5ms"
dead_letter_topic = "store-dlq"
give_up_after = "5m"
)");
  INFO(Catch::Detail::stringify(p.errors));
  REQUIRE(p.errors.empty());
  CHECK(p.spec->ports()[0].queue == "to_store");
  CHECK(p.spec->topics() == std::vector<std::string>{"store-dlq"});
  const std::string d = p.spec->describe();
  CHECK_THAT(d, Contains("1000 rows or 5 ms"));
  CHECK_THAT(d, Contains("8 reader connections to reader@replica.example/pemx"));
  CHECK_THAT(d, !Contains("readerpw"));
  CHECK_THAT(d, !Contains("hunter2"));
}

TEST_CASE("postgres_store: bad values are reported with their key path, never with a password",
          "[unit][postgres_store][config]") {
  auto p = parse(R"(
connection = "host=db password=hunter2 nosuchoption=1"
read_connection = ""
readers = 0
statement_timeout = "2h"
connect_timeout = "0s"
path = "pemx.db"
)");
  INFO(Catch::Detail::stringify(p.errors));
  CHECK(p.has("stages.store.connection: not a valid libpq connection string"));
  CHECK(p.has("nosuchoption"));
  CHECK(p.has("stages.store.read_connection: must not be empty"));
  CHECK(p.has("stages.store.readers"));
  CHECK(p.has("stages.store.statement_timeout"));
  CHECK(p.has("stages.store.connect_timeout"));
  CHECK(p.has("stages.store.path"));  // a SQLite key: unknown here
  for (const auto& e : p.errors) CHECK_THAT(e, !Contains("hunter2"));
}

}  // namespace
}  // namespace pemx::postgres_store
