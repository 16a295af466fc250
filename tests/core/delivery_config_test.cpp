// `delivery` (at_least_once | exactly_once) and the transaction keys of kafka_ingest and
// kafka_sink, and the loader's rule that the stages of one pipeline (joined by queues) agree.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "support/config_fixture.hpp"

namespace pemx {
namespace {

using Catch::Matchers::Contains;
using namespace test;  // kPemxToml, load, load_text, error_lines, has_error

const std::vector<std::string> kExactlyOnce = {"stages.dist_ingest.delivery=exactly_once",
                                               "stages.dist_sink.delivery=exactly_once"};

TEST_CASE("delivery defaults to at_least_once and exactly_once loads on ingest and sink",
          "[unit][config][delivery]") {
  SECTION("the default") {
    auto loaded = load_text(std::string(kPemxToml));
    REQUIRE(loaded.errors.empty());
    CHECK_THAT(loaded.described["dist_ingest"], !Contains("exactly_once"));
    CHECK_THAT(loaded.described["dist_sink"], !Contains("exactly_once"));
  }
  SECTION("exactly_once on both, with the transaction keys") {
    auto overrides = kExactlyOnce;
    overrides.insert(overrides.end(), {"stages.dist_ingest.transaction_interval=250ms",
                                       "stages.dist_ingest.transaction_max_events=500",
                                       "stages.dist_sink.transactional_id=pemx-a",
                                       "stages.dist_sink.transaction_timeout=30s"});
    auto loaded = load_text(std::string(kPemxToml), overrides);
    INFO(Catch::Detail::stringify(loaded.errors));
    REQUIRE(loaded.errors.empty());
    CHECK_THAT(loaded.described["dist_ingest"],
               Contains("delivery exactly_once: batches of at most 500 records or 250 ms"));
    CHECK_THAT(loaded.described["dist_sink"],
               Contains("delivery exactly_once: transactional_id pemx-a, transaction timeout "
                        "30000 ms"));
  }
  SECTION("the default transactional_id names the host and the stage") {
    auto loaded = load_text(std::string(kPemxToml), kExactlyOnce);
    REQUIRE(loaded.errors.empty());
    CHECK_THAT(loaded.described["dist_sink"], Contains("transactional_id pemx-"));
    CHECK_THAT(loaded.described["dist_sink"], Contains("-dist_sink, transaction timeout"));
  }
}

TEST_CASE("delivery and the transaction keys refuse bad values", "[unit][config][delivery]") {
  SECTION("an unknown mode") {
    auto r = load(kPemxToml, {"stages.dist_sink.delivery=exactly-once"});
    REQUIRE(!r.errors.empty());
    CHECK(r.errors[0].key == "stages.dist_sink.delivery");
    CHECK_THAT(r.errors[0].message, Contains("exactly_once"));
  }
  SECTION("transaction keys without exactly_once") {
    auto r = load(kPemxToml, {"stages.dist_ingest.transaction_interval=50ms",
                              "stages.dist_sink.transactional_id=x"});
    CHECK(has_error(r, "stages.dist_ingest.transaction_interval",
                    "applies only with delivery = \"exactly_once\"; remove it or set delivery"));
    CHECK(has_error(r, "stages.dist_sink.transactional_id",
                    "applies only with delivery = \"exactly_once\"; remove it or set delivery"));
  }
  SECTION("librdkafka's own names of the keys") {
    auto overrides = kExactlyOnce;
    overrides.push_back("stages.dist_sink.properties.\"transactional.id\"=x");
    auto r = load(kPemxToml, overrides);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.dist_sink.properties");
    CHECK_THAT(r.errors[0].message, Contains("transactional_id"));
  }
  SECTION("an ingest reading uncommitted input") {
    auto overrides = kExactlyOnce;
    overrides.push_back("stages.dist_ingest.properties.\"isolation.level\"=read_uncommitted");
    auto r = load(kPemxToml, overrides);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.dist_ingest.properties");
    CHECK_THAT(r.errors[0].message, Contains("read_committed"));
  }
  SECTION("a zero interval") {
    auto overrides = kExactlyOnce;
    overrides.push_back("stages.dist_ingest.transaction_interval=0ms");
    auto r = load(kPemxToml, overrides);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.dist_ingest.transaction_interval");
  }
}

TEST_CASE("the stages of one pipeline must agree on delivery", "[unit][config][delivery]") {
  SECTION("an exactly_once ingest with an at_least_once sink, named both") {
    auto r = load(kPemxToml, {"stages.dist_ingest.delivery=exactly_once"});
    INFO(Catch::Detail::stringify(error_lines(r)));
    // Once per role that runs the pipeline (the fixture's dist and all).
    REQUIRE(r.errors.size() == 2);
    for (const auto& e : r.errors) {
      CHECK_THAT(e.message, Contains("stages.dist_sink.delivery is \"at_least_once\" but "
                                     "stages.dist_ingest.delivery = \"exactly_once\""));
    }
    CHECK(has_error(r, "roles.dist",
                    "stages.dist_sink.delivery is \"at_least_once\" but "
                    "stages.dist_ingest.delivery = \"exactly_once\", and they are one pipeline "
                    "(joined by queues): set stages.dist_sink.delivery = \"exactly_once\" too, "
                    "or neither"));
  }
  SECTION("an exactly_once sink with an at_least_once ingest") {
    auto r = load(kPemxToml, {"stages.dist_sink.delivery=exactly_once"});
    CHECK(has_error(r, "roles.dist",
                    "stages.dist_ingest.delivery is \"at_least_once\" but "
                    "stages.dist_sink.delivery = \"exactly_once\", and they are one pipeline "
                    "(joined by queues): set stages.dist_ingest.delivery = \"exactly_once\" too, "
                    "or neither"));
  }
  SECTION("a store cannot take part") {
    auto r = load(R"(
[kafka]
brokers = "localhost:9092"
[roles]
web = ["store_ingest", "store"]
[queues.to_store]
capacity = 16
[queues.stored]
capacity = 16
[stages.store_ingest]
type = "kafka_ingest"
topics = ["product-event-storage-pemx"]
output = "to_store"
acks = "stored"
delivery = "exactly_once"
[stages.store]
type = "sqlite_store"
path = "unused.db"
input = "to_store"
acks = "stored"
)");
    INFO(Catch::Detail::stringify(error_lines(r)));
    REQUIRE(r.errors.size() == 1);
    CHECK(has_error(r, "roles.web",
                    "stage \"store\" (sqlite_store) cannot take part in an exactly-once "
                    "pipeline, and stages.store_ingest.delivery = \"exactly_once\" puts it in "
                    "one (joined by queues); use delivery = \"at_least_once\" there"));
  }
  SECTION("the web pipeline of the same role stays at_least_once") {
    // role `all` runs both pipelines: only the dist one is exactly-once.
    auto r = load(kPemxToml, kExactlyOnce);
    INFO(Catch::Detail::stringify(error_lines(r)));
    CHECK(r.errors.empty());
  }
}

TEST_CASE("transactional_id expands ${NAME} as group_instance_id does",
          "[unit][config][delivery]") {
  // Taken literally, "${HOSTNAME}-dist" was one id on every host: the instances fenced each
  // other in turn.
  SECTION("expanded from the environment") {
    REQUIRE(setenv("PEMX_TEST_TXN_HOST", "node-7", 1) == 0);
    auto overrides = kExactlyOnce;
    overrides.push_back("stages.dist_sink.transactional_id=pemx-${PEMX_TEST_TXN_HOST}-dist");
    auto l = load_text(std::string(kPemxToml), overrides);
    unsetenv("PEMX_TEST_TXN_HOST");
    INFO(Catch::Detail::stringify(l.errors));
    REQUIRE(l.errors.empty());
    CHECK_THAT(l.described["dist_sink"], Contains("transactional_id pemx-node-7-dist,"));
  }
  SECTION("${HOSTNAME} always expands") {
    auto overrides = kExactlyOnce;
    overrides.push_back("stages.dist_sink.transactional_id=${HOSTNAME}-dist");
    auto l = load_text(std::string(kPemxToml), overrides);
    REQUIRE(l.errors.empty());
    CHECK_THAT(l.described["dist_sink"], !Contains("${"));
  }
  SECTION("an unset variable is an error naming the key") {
    unsetenv("PEMX_TEST_TXN_UNSET");
    auto overrides = kExactlyOnce;
    overrides.push_back("stages.dist_sink.transactional_id=x-${PEMX_TEST_TXN_UNSET}");
    auto r = load(kPemxToml, overrides);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.dist_sink.transactional_id");
    CHECK_THAT(r.errors[0].message, Contains("PEMX_TEST_TXN_UNSET is not set"));
  }
}

TEST_CASE("two sinks of one role may not share a transactional_id", "[unit][config][delivery]") {
  // Two exactly-once dist pipelines in one role, both sinks with one id: the second producer's
  // init_transactions fenced the first.
  auto r = load(R"(
[kafka]
brokers = "localhost:9092"
[roles]
twice = ["i1", "s1", "i2", "s2"]
[queues.q1]
capacity = 16
[queues.a1]
capacity = 16
[queues.q2]
capacity = 16
[queues.a2]
capacity = 16
[stages.i1]
type = "kafka_ingest"
topics = ["t1"]
output = "q1"
acks = "a1"
delivery = "exactly_once"
[stages.s1]
type = "kafka_sink"
input = "q1"
acks = "a1"
delivery = "exactly_once"
transactional_id = "same"
[stages.i2]
type = "kafka_ingest"
topics = ["t2"]
group_id = "other"
output = "q2"
acks = "a2"
delivery = "exactly_once"
[stages.s2]
type = "kafka_sink"
input = "q2"
acks = "a2"
delivery = "exactly_once"
transactional_id = "same"
)");
  INFO(Catch::Detail::stringify(error_lines(r)));
  CHECK(has_error(r, "roles.twice",
                  "stages.s1.transactional_id and stages.s2.transactional_id are both "
                  "transactional_id \"same\": in one process they would fence each other "
                  "(exit 1); give each stage its own"));
}

}  // namespace
}  // namespace pemx
