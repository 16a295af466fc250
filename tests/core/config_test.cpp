// load_config_text / load_config with the real stage registry: a copy of pemx.toml loads
// cleanly; every kind of mistake in the common sections, roles, queues and overrides gives one
// precise error with its location, full key path and what to do. Each stage's own keys are
// tested in tests/plugins/<stage>/config_test.cpp.
#include "core/config.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "builtin_stages.hpp"
#include "support/config_fixture.hpp"

namespace pemx {
namespace {

using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using namespace test;  // kPemxToml, load, edited, at_line_of, error_lines, has_error

// --- the shipped configuration ----------------------------------------------------------

TEST_CASE("pemx.toml loads without errors", "[unit][config]") {
  auto r = load(kPemxToml);
  INFO(Catch::Detail::stringify(error_lines(r)));
  REQUIRE(r.errors.empty());
  REQUIRE(r.config);
  const Config& c = *r.config;

  CHECK(c.file == "pemx.toml");
  CHECK(c.common.kafka.brokers == "localhost:9092");
  CHECK(c.common.kafka.client_id == "pemx-platform");
  CHECK(c.common.kafka.properties.empty());
  CHECK(c.common.kafka.embedded.partitions == 3);
  CHECK(c.common.http.listen == "127.0.0.1:8080");
  CHECK(c.common.store.path == "pemx.db");
  CHECK(c.common.log_level == LogLevel::kInfo);
  CHECK(c.common.stats_interval == 30s);
  CHECK(c.common.drain_timeout == 30s);

  const Lines dist = {"dist_ingest", "router", "dist_sink"};
  CHECK(c.roles.size() == 2);
  CHECK(c.roles.at("dist") == dist);
  CHECK(c.roles.at("all") == dist);
  CHECK(c.queues == std::map<std::string, std::size_t>{
                        {"delivered", 65536}, {"events", 8192}, {"routed", 8192}});

  REQUIRE(c.stages.size() == 3);
  REQUIRE(c.stage("dist_ingest") != nullptr);
  CHECK(c.stage("dist_ingest")->type == "kafka_ingest");
  CHECK(c.stage("router")->type == "rules_router");
  CHECK(c.stage("dist_sink")->type == "kafka_sink");
  CHECK(c.stage("nope") == nullptr);
  for (const auto& s : c.stages) CHECK(s.spec != nullptr);
}

TEST_CASE("pemx.toml's stages use the queues of the reference pipeline", "[unit][config]") {
  auto r = load(kPemxToml);
  REQUIRE(r.config);
  auto ports = [&](const std::string& stage) {
    Lines out;
    for (const auto& p : r.config->stage(stage)->spec->ports()) {
      out.push_back((p.direction == PortDirection::kIn ? "in:" : "out:") + p.queue);
    }
    return out;
  };
  CHECK(ports("dist_ingest") == Lines{"out:events", "in:delivered"});
  CHECK(ports("router") == Lines{"in:events", "out:routed"});
  CHECK(ports("dist_sink") == Lines{"in:routed", "out:delivered"});
  CHECK(r.config->stage("dist_ingest")->spec->topics() == Lines{"product-event"});
}

// --- unknown keys -----------------------------------------------------------------------

TEST_CASE("an unknown key is refused with the nearest known key", "[unit][config]") {
  SECTION("in [kafka]") {
    auto text = edited(kPemxToml, "brokers = ", "brokerz = ");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "brokerz") + ": kafka.brokerz: unknown key; did you mean "
                                              "\"brokers\"?"});
  }
  SECTION("in a stage") {
    auto text = edited(kPemxToml, "group_id = ", "group_idd = ");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "group_idd") + ": stages.dist_ingest.group_idd: unknown key; "
                                                "did you mean \"group_id\"?"});
  }
  SECTION("in a rule") {
    auto text = edited(kPemxToml, "name = \"storage\"", "name = \"storage\"\ndefault = {}");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "default = {}") + ": stages.router.rules[3].default: unknown "
                                                   "key; did you mean \"defaults\"?"});
  }
  SECTION("a misspelt section") {
    auto text = std::string(kPemxToml) + "[kafak]\nbrokers = \"x\"\n";
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "[kafak]") + ": kafak: unknown key; did you mean \"kafka\"?"});
  }
  SECTION("nothing near: the known keys are listed") {
    auto text = edited(kPemxToml, "level = \"info\"", "level = \"info\"\ncolour = true");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "colour") +
                ": log.colour: unknown key; known keys here: level, stats_interval"});
  }
}

// --- types and ranges -------------------------------------------------------------------

TEST_CASE("a value of the wrong type is refused with what was expected", "[unit][config]") {
  struct Case {
    std::string from, to, key, message;
  };
  auto c = GENERATE(
      Case{"brokers = \"localhost:9092\"", "brokers = 9092", "kafka.brokers",
           "expected a string, got an integer"},
      Case{"capacity = 8192\n[queues.routed]", "capacity = \"8192\"\n[queues.routed]",
           "queues.events.capacity", "expected an integer, got a string"},
      Case{"validation = \"report\"", "validation = true", "stages.router.validation",
           "expected a string, got a boolean"},
      Case{"topics = [\"product-event\"]", "topics = \"product-event\"",
           "stages.dist_ingest.topics", "expected an array of strings, got a string"},
      Case{"\"ProductPriceUpdate\", \"Country\"", "\"ProductPriceUpdate\", 7",
           "stages.router.event_types[1]", "expected a string, got an integer"},
      Case{"dead_letter_topic = \"product-event-dlq-pemx\"", "dead_letter_topic = [\"dlq\"]",
           "stages.router.dead_letter_topic", "expected a string, got an array"});
  CAPTURE(c.to);
  auto text = edited(kPemxToml, c.from, c.to);
  auto first_line = c.to.substr(0, c.to.find('\n'));
  CHECK(error_lines(load(text)) ==
        Lines{at_line_of(text, first_line) + ": " + c.key + ": " + c.message});
}

TEST_CASE("a number out of range is refused with the range", "[unit][config]") {
  SECTION("a queue capacity") {
    auto text = edited(kPemxToml, "capacity = 65536", "capacity = 1");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "capacity = 1\n") +
                ": queues.delivered.capacity: value 1 is out of range; expected 2 to 1000000"});
  }
  SECTION("a stage setting") {
    auto text = edited(kPemxToml, "max_in_flight = 20000", "max_in_flight = 0");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "max_in_flight") +
                ": stages.dist_sink.max_in_flight: value 0 is out of range; expected 1 to "
                "1000000"});
  }
  SECTION("the embedded cluster's partitions") {
    auto text = edited(kPemxToml, "partitions = 3", "partitions = 1000");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "partitions") +
                ": kafka.embedded.partitions: value 1000 is out of range; expected 1 to 256"});
  }
}

TEST_CASE("a malformed duration is refused with the expected form", "[unit][config]") {
  auto value = GENERATE(as<std::string>{}, "\"30\"", "30", "\"1.5s\"", "\"30 seconds\"",
                        "\"-\"", "\"--5s\"", "\"\"");
  CAPTURE(value);
  auto text = edited(kPemxToml, "stats_interval = \"30s\"", "stats_interval = " + value);
  CHECK(error_lines(load(text)) ==
        Lines{at_line_of(text, "stats_interval") +
              ": log.stats_interval: expected a duration with a unit such as \"250ms\", "
              "\"5s\", \"2m\", \"1h\" or \"90d\""});
}

TEST_CASE("a negative duration is refused as negative", "[unit][config]") {
  auto value = GENERATE(as<std::string>{}, "-5s", "-50ms", "-1h");
  CAPTURE(value);
  auto text = edited(kPemxToml, "stats_interval = \"30s\"", "stats_interval = \"" + value + "\"");
  CHECK(error_lines(load(text)) ==
        Lines{at_line_of(text, "stats_interval") + ": log.stats_interval: a duration cannot be "
              "negative (got \"" + value + "\"); expected a duration with a unit such as "
              "\"250ms\", \"5s\", \"2m\", \"1h\" or \"90d\""});
}

TEST_CASE("a duration out of range is refused with the range", "[unit][config]") {
  SECTION("too long") {
    auto text = edited(kPemxToml, "drain_timeout = \"30s\"", "drain_timeout = \"2h\"");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "drain_timeout") +
                ": shutdown.drain_timeout: duration 7200000ms is out of range; expected 100ms "
                "to 3600000ms"});
  }
  SECTION("too short") {
    auto text = edited(kPemxToml, "commit_interval = \"1s\"", "commit_interval = \"5ms\"");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "commit_interval") +
                ": stages.dist_ingest.commit_interval: duration 5ms is out of range; expected "
                "10ms to 600000ms"});
  }
}

TEST_CASE("a duration too large for the clock is refused, not wrapped",
          "[unit][config]") {
  // 2^57 + 1 hours overflows the milliseconds count and wraps to exactly 1 hour.
  auto text = edited(kPemxToml, "stats_interval = \"30s\"",
                     "stats_interval = \"144115188075855873h\"");
  auto r = load(text);
  CHECK(r.errors.size() == 1);
  if (r.config) CHECK(r.config->common.stats_interval != 1h);
}

TEST_CASE("common settings are checked", "[unit][config]") {
  SECTION("an empty broker list") {
    auto text = edited(kPemxToml, "brokers = \"localhost:9092\"", "brokers = \"\"");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "brokers") + ": kafka.brokers: must not be empty: a broker "
                                              "list or \"embedded\""});
  }
  SECTION("an HTTP address without a port") {
    auto text = edited(kPemxToml, "listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1\"");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "listen") + ": http.listen: \"127.0.0.1\" is not host:port "
                                             "(e.g. 127.0.0.1:8080)"});
  }
  SECTION("an unknown log level") {
    auto text = edited(kPemxToml, "level = \"info\"", "level = \"verbose\"");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "level = ") +
                ": log.level: \"verbose\" is not one of debug, info, warn, error, off"});
  }
}

// --- stages, roles and queues -----------------------------------------------------------

TEST_CASE("an unknown stage type is refused with the nearest and the compiled-in types",
          "[unit][config]") {
  auto text = edited(kPemxToml, "type = \"rules_router\"", "type = \"rules_routr\"");
  auto r = load(text);
  CHECK_FALSE(r.config);
  REQUIRE_FALSE(r.errors.empty());
  std::string compiled;
  for (const auto& t : builtin_stages().types()) compiled += " " + t;
  CHECK(compiled.find(" kafka_ingest kafka_sink") != std::string::npos);
  CHECK(r.errors[0].str() ==
        at_line_of(text, "rules_routr") +
            ": stages.router.type: unknown stage type \"rules_routr\"; did you mean "
            "\"rules_router\"? (compiled in:" + compiled + ")");
  // One error, not a cascade: the roles that name the stage do not report it again.
  CHECK(r.errors.size() == 1);
}

TEST_CASE("a stage without a type is refused", "[unit][config]") {
  auto text = std::string(kPemxToml) + "[stages.spare]\ninput = \"events\"\n";
  CHECK(error_lines(load(text)) ==
        Lines{at_line_of(text, "[stages.spare]") +
              ": stages.spare: missing type = \"<stage type>\""});
}

TEST_CASE("a role naming a stage that does not exist is refused", "[unit][config]") {
  auto text = edited(kPemxToml, "dist = [\"dist_ingest\", \"router\", \"dist_sink\"]",
                     "dist = [\"dist_ingest\", \"router\", \"dist_sinc\"]");
  auto r = load(text);
  auto where = at_line_of(text, "dist = [");
  CHECK(error_lines(r) ==
        Lines{
            where + ": roles.dist: no stage named \"dist_sinc\"; declare [stages.dist_sinc] "
                    "with a type",
            where + ": roles.dist: queue \"delivered\" has 0 writer(s) and 1 reader(s) in this "
                    "role; each queue needs exactly one of each (a stage that reads it must be "
                    "enabled with the stage that writes it)",
            where + ": roles.dist: queue \"routed\" has 1 writer(s) and 0 reader(s) in this "
                    "role; each queue needs exactly one of each (a stage that reads it must be "
                    "enabled with the stage that writes it)",
        });
}

TEST_CASE("a stage listed twice in a role is refused", "[unit][config]") {
  auto text = edited(kPemxToml, "all = [\"dist_ingest\", \"router\", \"dist_sink\"]",
                     "all = [\"dist_ingest\", \"router\", \"dist_sink\", \"router\"]");
  CHECK(error_lines(load(text)) ==
        Lines{at_line_of(text, "all = [") +
              ": roles.all: stage \"router\" is listed twice"});
}

TEST_CASE("a queue without a reader or a writer in a role is refused", "[unit][config]") {
  auto text = edited(kPemxToml, "dist = [\"dist_ingest\", \"router\", \"dist_sink\"]",
                     "dist = [\"dist_ingest\", \"router\"]");
  auto where = at_line_of(text, "dist = [");
  const std::string rule = " in this role; each queue needs exactly one of each (a stage that "
                           "reads it must be enabled with the stage that writes it)";
  CHECK(error_lines(load(text)) ==
        Lines{
            where + ": roles.dist: queue \"delivered\" has 0 writer(s) and 1 reader(s)" + rule,
            where + ": roles.dist: queue \"routed\" has 1 writer(s) and 0 reader(s)" + rule,
        });
}

TEST_CASE("a queue with two writers in a role is refused", "[unit][config]") {
  auto text = std::string(kPemxToml) +
              "[stages.router2]\ntype = \"rules_router\"\ninput = \"events\"\n"
              "output = \"routed\"\nrules = [{ match = \"*\", topic = \"copy\" }]\n";
  text = edited(text, "dist = [\"dist_ingest\", \"router\", \"dist_sink\"]",
                "dist = [\"dist_ingest\", \"router\", \"router2\", \"dist_sink\"]");
  auto r = load(text);
  CHECK(has_error(r, "roles.dist",
                  "queue \"events\" has 1 writer(s) and 2 reader(s) in this role; each queue "
                  "needs exactly one of each (a stage that reads it must be enabled with the "
                  "stage that writes it)"));
  CHECK(has_error(r, "roles.dist",
                  "queue \"routed\" has 2 writer(s) and 1 reader(s) in this role; each queue "
                  "needs exactly one of each (a stage that reads it must be enabled with the "
                  "stage that writes it)"));
  CHECK(r.errors.size() == 2);
}

TEST_CASE("a stage using an undeclared queue is refused", "[unit][config]") {
  auto text = edited(kPemxToml, "output = \"routed\"", "output = \"routd\"");
  const std::string undeclared = "stage \"router\" uses queue \"routd\", which is not declared; "
                                 "add [queues.routd] with a capacity";
  const std::string no_writer = "queue \"routed\" has 0 writer(s) and 1 reader(s) in this role; "
                                "each queue needs exactly one of each (a stage that reads it "
                                "must be enabled with the stage that writes it)";
  auto all = at_line_of(text, "all = [");
  auto dist = at_line_of(text, "dist = [");
  CHECK(error_lines(load(text)) == Lines{
                                       all + ": roles.all: " + undeclared,
                                       all + ": roles.all: " + no_writer,
                                       dist + ": roles.dist: " + undeclared,
                                       dist + ": roles.dist: " + no_writer,
                                   });
}

TEST_CASE("a configuration without roles is refused", "[unit][config]") {
  auto text = edited(kPemxToml,
                     "[roles]\ndist = [\"dist_ingest\", \"router\", \"dist_sink\"]\n"
                     "all = [\"dist_ingest\", \"router\", \"dist_sink\"]\n",
                     "");
  auto r = load(text);
  REQUIRE(r.errors.size() == 1);
  CHECK_THAT(r.errors[0].message, StartsWith("missing [roles]: declare at least one role"));
}

// --- Kafka properties -------------------------------------------------------------------

TEST_CASE("librdkafka properties are passed through when valid", "[unit][config]") {
  auto text = edited(kPemxToml, "[kafka.properties]\n",
                     "[kafka.properties]\n\"socket.timeout.ms\" = 30000\n"
                     "\"security.protocol\" = \"plaintext\"\n\"socket.keepalive.enable\" = true\n");
  auto r = load(text);
  INFO(Catch::Detail::stringify(error_lines(r)));
  REQUIRE(r.config);
  auto props = r.config->common.kafka.properties;
  std::sort(props.begin(), props.end());
  CHECK(props == kafka::Properties{{"security.protocol", "plaintext"},
                                   {"socket.keepalive.enable", "true"},
                                   {"socket.timeout.ms", "30000"}});
}

TEST_CASE("librdkafka properties take ${NAME} from the environment", "[unit][config]") {
  // A secret such as sasl.password comes from a Kubernetes Secret or an EnvironmentFile.
  REQUIRE(setenv("PEMX_TEST_SASL_PASSWORD", "s3cr$t-from-env", 1) == 0);
  auto text = edited(kPemxToml, "[kafka.properties]\n",
                     "[kafka.properties]\n\"sasl.username\" = \"pemx\"\n"
                     "\"sasl.password\" = \"${PEMX_TEST_SASL_PASSWORD}\"\n"
                     "\"client.rack\" = \"$${literal}\"\n");
  SECTION("set: the value is the variable's, \"$${\" a literal \"${\"") {
    auto r = load(text);
    INFO(Catch::Detail::stringify(error_lines(r)));
    REQUIRE(r.config);
    auto props = r.config->common.kafka.properties;
    std::sort(props.begin(), props.end());
    CHECK(props == kafka::Properties{{"client.rack", "${literal}"},
                                     {"sasl.password", "s3cr$t-from-env"},
                                     {"sasl.username", "pemx"}});
  }
  SECTION("unset: one error naming the property, not the secret's text") {
    unsetenv("PEMX_TEST_SASL_PASSWORD");
    auto r = load(text);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "kafka.properties");
    CHECK_THAT(r.errors[0].message,
               StartsWith("\"sasl.password\": a ${NAME} in it names an environment variable") &&
                   Contains("not shown"));
    // A literal password that happens to hold "${...}" is not quoted either.
    auto literal = edited(text, "${PEMX_TEST_SASL_PASSWORD}", "Secr3t${Hunter2}tail");
    auto l = load(literal);
    REQUIRE(l.errors.size() == 1);
    CHECK(l.errors[0].message.find("Hunter2") == std::string::npos);
  }
  SECTION("unset, in a property that is no secret: the variable is named") {
    unsetenv("PEMX_TEST_RACK");
    auto r = load(edited(text, "$${literal}", "${PEMX_TEST_RACK}"));
    REQUIRE(r.errors.size() == 1);
    CHECK_THAT(r.errors[0].message,
               StartsWith("\"client.rack\": ${PEMX_TEST_RACK} expands to nothing") &&
                   Contains("PEMX_TEST_RACK is not set"));
  }
  SECTION("a stage's own properties take them too") {
    auto stage = edited(text, "[stages.dist_sink]\n",
                        "[stages.dist_sink]\n"
                        "properties = { \"linger.ms\" = \"${PEMX_TEST_LINGER}\" }\n");
    unsetenv("PEMX_TEST_LINGER");
    auto r = load(stage);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.dist_sink.properties");
    CHECK_THAT(r.errors[0].message, StartsWith("\"linger.ms\": ${PEMX_TEST_LINGER}"));
  }
  unsetenv("PEMX_TEST_SASL_PASSWORD");
}

TEST_CASE("a bad librdkafka property in kafka.properties is refused", "[unit][config]") {
  SECTION("an unknown property") {
    auto text = edited(kPemxToml, "[kafka.properties]\n",
                       "[kafka.properties]\n\"no.such.property\" = \"1\"\n");
    auto r = load(text);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "kafka.properties");
    CHECK_THAT(r.errors[0].message, StartsWith("librdkafka property \"no.such.property\": ") &&
                                        Contains("No such configuration property"));
  }
  SECTION("a value librdkafka refuses") {
    auto text = edited(kPemxToml, "[kafka.properties]\n",
                       "[kafka.properties]\n\"socket.timeout.ms\" = \"soon\"\n");
    auto r = load(text);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "kafka.properties");
    CHECK_THAT(r.errors[0].message, StartsWith("librdkafka property \"socket.timeout.ms\": "));
  }
  SECTION("a value that is not a scalar") {
    auto text = edited(kPemxToml, "[kafka.properties]\n",
                       "[kafka.properties]\n\"socket.timeout.ms\" = [1, 2]\n");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "socket.timeout.ms") +
                ": kafka.properties.socket.timeout.ms: expected a string, integer or boolean, "
                "got an array"});
  }
  SECTION("the broker list, which has its own key") {
    auto text = edited(kPemxToml, "[kafka.properties]\n",
                       "[kafka.properties]\n\"bootstrap.servers\" = \"other:9092\"\n");
    auto r = load(text);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "kafka.properties");
    CHECK(r.errors[0].message == "set the brokers with kafka.brokers, not bootstrap.servers");
  }
}

// --- TOML syntax ------------------------------------------------------------------------

TEST_CASE("a TOML syntax error is reported with its line", "[unit][config]") {
  SECTION("an unquoted string") {
    auto text = edited(kPemxToml, "brokers = \"localhost:9092\"", "brokers = localhost:9092");
    auto r = load(text);
    CHECK_FALSE(r.config);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].location == at_line_of(text, "brokers ="));
    CHECK(r.errors[0].key.empty());
    CHECK_THAT(r.errors[0].message, StartsWith("TOML syntax error: "));
  }
  SECTION("an unclosed table header") {
    auto text = edited(kPemxToml, "[stages.dist_sink]", "[stages.dist_sink");
    auto r = load(text);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].location == at_line_of(text, "[stages.dist_sink"));
    CHECK_THAT(r.errors[0].message, StartsWith("TOML syntax error: "));
  }
  SECTION("a key defined twice") {
    auto text = edited(kPemxToml, "max_in_flight = 20000",
                       "max_in_flight = 20000\nmax_in_flight = 10");
    auto r = load(text);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].location == at_line_of(text, "max_in_flight = 10"));
  }
}

TEST_CASE("every error is reported, not just the first", "[unit][config]") {
  auto text = edited(kPemxToml, "brokers = ", "brokerz = ");
  text = edited(text, "stats_interval = \"30s\"", "stats_interval = \"30\"");
  text = edited(text, "max_in_flight = 20000", "max_in_flight = 0");
  auto r = load(text);
  CHECK_FALSE(r.config);
  CHECK(r.errors.size() == 3);
  CHECK(has_error(r, "kafka.brokerz", "unknown key; did you mean \"brokers\"?"));
  CHECK(has_error(r, "log.stats_interval",
                  "expected a duration with a unit such as \"250ms\", \"5s\", \"2m\", \"1h\" or \"90d\""));
  CHECK(has_error(r, "stages.dist_sink.max_in_flight",
                  "value 0 is out of range; expected 1 to 1000000"));
}

// --- --set overrides --------------------------------------------------------------------

TEST_CASE("an override (--set) takes a TOML value", "[unit][config][set]") {
  auto r = load(kPemxToml, {"queues.events.capacity=16", "kafka.embedded.partitions=12",
                            "log.stats_interval=\"5s\"", "kafka.client_id=\"my client\"",
                            "roles.web=[\"dist_ingest\", \"router\", \"dist_sink\"]",
                            "kafka.properties.\"socket.timeout.ms\"=30000"});
  INFO(Catch::Detail::stringify(error_lines(r)));
  REQUIRE(r.config);
  CHECK(r.config->queues.at("events") == 16);
  CHECK(r.config->queues.at("routed") == 8192);  // the rest of the table is kept
  CHECK(r.config->common.kafka.embedded.partitions == 12);
  CHECK(r.config->common.stats_interval == 5s);
  CHECK(r.config->common.kafka.client_id == "my client");
  CHECK(r.config->roles.at("web") == Lines{"dist_ingest", "router", "dist_sink"});
  CHECK(r.config->common.kafka.properties ==
        kafka::Properties{{"socket.timeout.ms", "30000"}});
}

TEST_CASE("an override (--set) reaches stage settings", "[unit][config][set]") {
  auto r = load(kPemxToml, {"stages.router.validation=off"});
  REQUIRE(r.config);
  CHECK_THAT(r.config->stage("router")->spec->describe(), Contains("validation: off"));
  auto lines = route_lines(*r.config, R"({"eventType":"Country","data":{}})");
  CHECK(lines ==
        Lines{R"({"line":1,"key":"","topics":["country-US","product-event-storage-pemx"]})"});
}

TEST_CASE("an override (--set) falls back to a plain string", "[unit][config][set]") {
  auto r = load(kPemxToml, {"kafka.brokers=broker-1:9092,broker-2:9092", "log.level=debug"});
  INFO(Catch::Detail::stringify(error_lines(r)));
  REQUIRE(r.config);
  CHECK(r.config->common.kafka.brokers == "broker-1:9092,broker-2:9092");
  CHECK(r.config->common.log_level == LogLevel::kDebug);

  auto embedded = load(kPemxToml, {"kafka.brokers=embedded"});
  REQUIRE(embedded.config);
  CHECK(embedded.config->common.kafka.is_embedded());
}

TEST_CASE("the last --set of a key wins", "[unit][config][set]") {
  auto r = load(kPemxToml, {"queues.events.capacity=16", "queues.events.capacity=32"});
  REQUIRE(r.config);
  CHECK(r.config->queues.at("events") == 32);
}

TEST_CASE("a malformed --set is refused", "[unit][config][set]") {
  const std::string expected_form = "expected KEY=VALUE, e.g. --set kafka.brokers=embedded";
  CHECK(error_lines(load(kPemxToml, {"kafka.brokers"})) ==
        Lines{"--set: kafka.brokers: " + expected_form});
  CHECK(error_lines(load(kPemxToml, {"=embedded"})) ==
        Lines{"--set: =embedded: " + expected_form});
  CHECK(error_lines(load(kPemxToml, {"kafka brokers=x"})) ==
        Lines{"--set: kafka brokers: cannot read this key; use dotted names such as "
              "stages.router.dead_letter_topic or kafka.properties.\"socket.timeout.ms\""});
}

TEST_CASE("a bad value given with --set is reported at --set", "[unit][config][set]") {
  SECTION("out of range") {
    CHECK(error_lines(load(kPemxToml, {"queues.events.capacity=1"})) ==
          Lines{"--set: queues.events.capacity: value 1 is out of range; expected 2 to "
                "1000000"});
  }
  SECTION("an unknown key") {
    CHECK(error_lines(load(kPemxToml, {"kafka.brokerz=host:9092"})) ==
          Lines{"--set: kafka.brokerz: unknown key; did you mean \"brokers\"?"});
  }
  SECTION("a duration without a unit") {
    CHECK(error_lines(load(kPemxToml, {"shutdown.drain_timeout=30"})) ==
          Lines{"--set: shutdown.drain_timeout: expected a duration with a unit such as "
                "\"250ms\", \"5s\", \"2m\", \"1h\" or \"90d\""});
  }
}

// --- load_config (from a file) ----------------------------------------------------------

TEST_CASE("load_config reads a file", "[unit][config]") {
  auto path = std::filesystem::temp_directory_path() /
              ("pemx_config_test_" + std::to_string(::getpid()) + ".toml");
  {
    std::ofstream out(path);
    out << kPemxToml;
  }
  Registry registry = builtin_stages();
  auto r = load_config(path.string(), {}, registry);
  std::filesystem::remove(path);
  INFO(Catch::Detail::stringify(error_lines(r)));
  REQUIRE(r.config);
  CHECK(r.config->file == path.string());
  CHECK(r.config->stages.size() == 3);

  auto missing = load_config(path.string(), {}, registry);  // removed above
  CHECK(error_lines(missing) ==
        Lines{path.string() + ": cannot read the config file; pass --config FILE"});
}

// --- [events]: the limits on every event -------------------------------------------------

TEST_CASE("[events] sets the nesting and size limits of every stage", "[unit][config]") {
  auto r = load(kPemxToml, {"events.max_depth=3", "events.max_bytes=4096"});
  REQUIRE(r.errors.empty());
  CHECK(r.config->common.events.max_depth == 3);
  CHECK(r.config->common.events.max_bytes == 4096);
  // The router reads them: data holding an array is level 3, an object inside it level 4.
  auto lines = route_lines(*r.config, reference_event("Country", "US", R"({"a":[1]})", "P1") +
                                          "\n" +
                                          reference_event("Country", "US", R"({"a":[{}]})", "P1") +
                                          "\n");
  REQUIRE(lines.size() == 2);
  CHECK_THAT(lines[0], !Catch::Matchers::Contains("dead_letter"));
  CHECK_THAT(lines[1], Catch::Matchers::Contains(R"("dead_letter":"nesting_too_deep")"));
  // And the push's check is the same router.
  auto check = r.config->stage("router")->spec->event_check();
  REQUIRE(check);
  auto refusal = check->check(reference_event("Country", "US", R"({"a":[{}]})", "P1"));
  REQUIRE(refusal);
  CHECK(refusal->reason == "nesting_too_deep");
}

TEST_CASE("the push's check of scanned text skips only the encoding and duplicate-key checks",
          "[unit][config][push_check]") {
  auto r = load(kPemxToml, {"events.max_depth=3"});
  REQUIRE(r.errors.empty());
  auto check = r.config->stage("router")->spec->event_check();
  REQUIRE(check);
  const std::string ok = reference_event("Country", "US", R"({"a":1})", "P1");
  CHECK_FALSE(check->check(ok));
  CHECK_FALSE(check->check_scanned(ok));
  // The push's scan refused these already (push_scan.cpp), so check_scanned does not look:
  // a duplicate key, and bytes that are not UTF-8.
  const std::string duplicate = reference_event("Country", "US", R"({"a":1,"a":2})", "P1");
  REQUIRE(check->check(duplicate));
  CHECK(check->check(duplicate)->reason == "duplicate_key");
  CHECK_FALSE(check->check_scanned(duplicate));
  const std::string latin1 = reference_event("Country", "US", "{\"a\":\"caf\xe9\"}", "P1");
  REQUIRE(check->check(latin1));
  CHECK_FALSE(check->check_scanned(latin1));
  // Everything else is checked as before: depth, syntax, an escaped lone surrogate, routing.
  const std::string deep = reference_event("Country", "US", R"({"a":[{}]})", "P1");
  REQUIRE(check->check_scanned(deep));
  CHECK(check->check_scanned(deep)->reason == "nesting_too_deep");
  const std::string surrogate = reference_event("Country", "US", R"({"a":"\udc00"})", "P1");
  REQUIRE(check->check_scanned(surrogate));
  CHECK(check->check_scanned(surrogate)->reason == check->check(surrogate)->reason);
  CHECK(check->check_scanned(R"({"eventType":"Nope"})")->reason == "unknown_event_type");
  const std::string cut = R"({"eventType":)";
  CHECK(check->check_scanned(cut)->reason == check->check(cut)->reason);
}

TEST_CASE("[events] max_bytes must fit the producers' message.max.bytes", "[unit][config]") {
  auto r = load(kPemxToml, {"events.max_bytes=990000"});
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].key == "events.max_bytes");
  CHECK_THAT(r.errors[0].message,
             Catch::Matchers::Contains("do not fit the producers' message.max.bytes (1000000)"));
  // Raised together, it is fine.
  CHECK(load(kPemxToml, {"events.max_bytes=990000",
                         R"(kafka.properties."message.max.bytes"=2000000)"})
            .errors.empty());
  // Lowering the producers' limit alone is caught too, in the shared properties and in a
  // producing stage's own (the sink, the store's dead-letter producer).
  CHECK_FALSE(load(kPemxToml, {R"(kafka.properties."message.max.bytes"=500000)"}).errors.empty());
  auto sink = load(kPemxToml, {R"(stages.dist_sink.properties."message.max.bytes"=500000)"});
  REQUIRE(sink.errors.size() == 1);
  CHECK(sink.errors[0].key == "stages.dist_sink.properties");
  CHECK_THAT(sink.errors[0].message, Catch::Matchers::StartsWith(
                                         "message.max.bytes = 500000 is smaller than the largest "
                                         "message PEMX makes (916384 bytes"));
  CHECK(load(kPemxToml, {R"(stages.dist_sink.properties."message.max.bytes"=500000)",
                         "events.max_bytes=400000"})
            .errors.empty());
}

TEST_CASE("[events] limits out of range are refused", "[unit][config]") {
  auto r = load(kPemxToml, {"events.max_depth=1", "events.max_bytes=100"});
  CHECK(has_error(r, "events.max_depth", "value 1 is out of range; expected 2 to 1000"));
  CHECK(has_error(r, "events.max_bytes", "value 100 is out of range; expected 256 to 67108864"));
  CHECK(has_error(load(kPemxToml, {"events.max_dept=10"}), "events.max_dept",
                  "unknown key; did you mean \"max_depth\"?"));
}

}  // namespace
}  // namespace pemx
