// Several clusters: [clusters.<name>] sections through the loader, a rule's `cluster` key (an
// unknown one refused at the rule's key, naming the rule), the routing decision's cluster per
// topic (Decision::clusters, empty when every topic is on [kafka]), `pemx route` and
// check-config naming each topic's cluster, the target check per cluster, and a reload that
// may move a rule only among the clusters the process started with.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "core/reload.hpp"
#include "core/target_check.hpp"
#include "rules_router/routing.hpp"
#include "support/config_fixture.hpp"

namespace pemx {
namespace {

using Catch::Matchers::Contains;
using namespace test;  // kPemxToml, load, edited, error_lines, route_lines, reference_event

// pemx.toml's dist part with two more clusters and a rule per region: EU price updates to
// cluster "eu", US ones to the main cluster (no `cluster` key).
std::string clustered_toml() {
  std::string text(kPemxToml);
  text = edited(text, "[kafka.properties]\n",
                "[kafka.properties]\n\n"
                "[clusters.eu]\nbrokers = \"eu-kafka:9092\"\n"
                "[clusters.eu.properties]\n\"socket.timeout.ms\" = \"30000\"\n\n"
                "[clusters.ap]\nbrokers = \"ap-kafka:9092\"\nclient_id = \"pemx-ap\"\n");
  text = edited(text,
                "name = \"price-update\"\n"
                "match = { field = \"eventType\", equals = \"ProductPriceUpdate\" }\n"
                "topic = \"product-price-update-v1-{region}\"\n",
                "name = \"price-eu\"\n"
                "match = [{ field = \"eventType\", equals = \"ProductPriceUpdate\" },"
                " { field = \"region\", equals = \"EU\" }]\n"
                "topic = \"product-price-update-v1-{region}\"\n"
                "cluster = \"eu\"\n\n"
                "[[stages.router.rules]]\n"
                "name = \"price-us\"\n"
                "match = [{ field = \"eventType\", equals = \"ProductPriceUpdate\" },"
                " { field = \"region\", equals = \"US\" }]\n"
                "topic = \"product-price-update-v1-{region}\"\n");
  return text;
}

TEST_CASE("[clusters.<name>] is parsed into CommonConfig, sorted by name",
          "[unit][config][clusters]") {
  ::setenv("PEMX_TEST_EU_PASSWORD", "s3cret", 1);
  std::string text = edited(clustered_toml(), "\"socket.timeout.ms\" = \"30000\"\n",
                            "\"socket.timeout.ms\" = \"30000\"\n"
                            "\"sasl.password\" = \"${PEMX_TEST_EU_PASSWORD}\"\n");
  auto r = load(text);
  INFO(Catch::Detail::stringify(error_lines(r)));
  REQUIRE(r.config);
  const auto& clusters = r.config->common.clusters;
  REQUIRE(clusters.size() == 2);
  CHECK(clusters[0].name == "ap");
  CHECK(clusters[0].brokers == "ap-kafka:9092");
  CHECK(clusters[0].client_id == "pemx-ap");
  CHECK(clusters[1].name == "eu");
  CHECK(clusters[1].client_id == "pemx-platform");  // kafka.client_id
  const kafka::Properties expected = {{"sasl.password", "s3cret"},
                                      {"socket.timeout.ms", "30000"}};
  CHECK(clusters[1].properties == expected);  // ${NAME} expanded, as in [kafka.properties]
  ::unsetenv("PEMX_TEST_EU_PASSWORD");
}

TEST_CASE("[clusters.*] mistakes are config errors at their keys", "[unit][config][clusters]") {
  std::string base(kPemxToml);
  auto errors_of = [](const std::string& text) { return error_lines(load(text)); };

  auto missing = errors_of(edited(base, "[kafka.properties]\n",
                                  "[kafka.properties]\n[clusters.eu]\nclient_id = \"x\"\n"));
  REQUIRE(missing.size() == 1);
  CHECK_THAT(missing[0], Contains("clusters.eu.brokers: missing"));

  auto reserved = errors_of(edited(base, "[kafka.properties]\n",
                                   "[kafka.properties]\n[clusters.kafka]\nbrokers = \"b:1\"\n"));
  REQUIRE(reserved.size() == 1);
  CHECK_THAT(reserved[0], Contains("names the [kafka] cluster"));

  auto unknown_key = errors_of(edited(base, "[kafka.properties]\n",
                                      "[kafka.properties]\n[clusters.eu]\nbrokers = \"b:1\"\n"
                                      "broker = \"typo\"\n"));
  REQUIRE(unknown_key.size() == 1);
  CHECK_THAT(unknown_key[0], Contains("clusters.eu.broker"));

  auto bootstrap = errors_of(edited(base, "[kafka.properties]\n",
                                    "[kafka.properties]\n[clusters.eu]\nbrokers = \"b:1\"\n"
                                    "properties = { \"bootstrap.servers\" = \"c:1\" }\n"));
  REQUIRE(bootstrap.size() == 1);
  CHECK_THAT(bootstrap[0], Contains("set the brokers with clusters.eu.brokers"));

  ::unsetenv("PEMX_TEST_UNSET_SECRET");
  auto unset = errors_of(edited(base, "[kafka.properties]\n",
                                "[kafka.properties]\n[clusters.eu]\nbrokers = \"b:1\"\n"
                                "properties = { \"sasl.password\" = "
                                "\"${PEMX_TEST_UNSET_SECRET}\" }\n"));
  REQUIRE(unset.size() == 1);
  CHECK_THAT(unset[0], Contains("clusters.eu.properties"));
  CHECK_THAT(unset[0], Contains("not set"));

  // The main cluster under another name: its rules could loop unseen (attack finding).
  auto same = errors_of(edited(base, "[kafka.properties]\n",
                               "[kafka.properties]\n[clusters.eu]\n"
                               "brokers = \"other:9092, LOCALHOST:9092\"\n"));
  REQUIRE(same.size() == 1);
  CHECK_THAT(same[0], Contains("clusters.eu.brokers"));
  CHECK_THAT(same[0], Contains("\"localhost:9092\" is also in kafka.brokers"));
}

TEST_CASE("a rule naming an undeclared cluster is an error naming the rule",
          "[unit][config][clusters]") {
  std::string text = edited(clustered_toml(), "cluster = \"eu\"\n", "cluster = \"eux\"\n");
  auto r = load(text);
  REQUIRE_FALSE(r.config);
  auto lines = error_lines(r);
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], Contains("stages.router.rules[0].cluster"));
  CHECK_THAT(lines[0], Contains("rule \"price-eu\""));
  CHECK_THAT(lines[0], Contains("no cluster \"eux\""));
  CHECK_THAT(lines[0], Contains("did you mean \"eu\"?"));
  CHECK_THAT(lines[0], Contains("add [clusters.eux]"));

  // cluster = "kafka" names the main one explicitly.
  auto main = load(edited(clustered_toml(), "cluster = \"eu\"\n", "cluster = \"kafka\"\n"));
  CHECK(main.config);
}

TEST_CASE("exactly-once cannot span clusters", "[unit][config][clusters]") {
  std::string text = edited(clustered_toml(), "max_in_flight = 20000\n",
                            "max_in_flight = 20000\ndelivery = \"exactly_once\"\n");
  text = edited(text, "commit_interval = \"1s\"\n", "delivery = \"exactly_once\"\n");
  auto lines = error_lines(load(text));
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], Contains("stages.dist_sink.delivery"));
  CHECK_THAT(lines[0], Contains("cannot span clusters"));
}

TEST_CASE("the decision names each topic's cluster; none when every topic is on [kafka]",
          "[unit][routing][clusters]") {
  using rules_router::Decision;
  using rules_router::Router;
  using rules_router::RoutingConfig;
  auto r = load(clustered_toml());
  REQUIRE(r.config);
  // The pure core, from the loaded config's pure rules: pemx route prints the same.
  const auto lines = route_lines(
      *r.config,
      reference_event("ProductPriceUpdate", "EU", "{}", "PRICE00001") + "\n" +
          reference_event("ProductPriceUpdate", "US", "{}", "PRICE00002") + "\n" +
          reference_event("Country", "EU", R"({"country":"Sweden"})", "COUNTRY001") + "\n");
  REQUIRE(lines.size() == 3);
  CHECK_THAT(lines[0], Contains(R"("topics":["product-price-update-v1-EU",)"
                                R"("product-event-storage-pemx"],"clusters":["eu","kafka"]})"));
  CHECK_THAT(lines[1], Contains(R"("topics":["product-price-update-v1-US",)"
                                R"("product-event-storage-pemx"],"clusters":["kafka","kafka"]})"));
  CHECK_THAT(lines[2], Contains(R"("clusters":["kafka","kafka"]})"));

  RoutingConfig config;
  config.clusters = {"ap", "eu"};
  rules_router::Rule eu;
  eu.name = "eu";
  REQUIRE_FALSE(rules_router::TopicTemplate::parse("t", eu.topic));
  eu.cluster = "eu";
  rules_router::Rule main = eu;
  main.name = "main";
  main.cluster.clear();
  rules_router::Rule again = eu;  // the same topic on the same cluster: one output
  again.name = "again";
  config.rules = {eu, main, again};
  Router router(config);
  Decision d = router.route(reference_event("Country", "EU", "{}", "P1"));
  REQUIRE_FALSE(d.dead_letter());
  // The same topic on two clusters is two outputs.
  CHECK(d.topics == std::vector<std::string>{"t", "t"});
  CHECK(d.clusters == std::vector<std::uint8_t>{2, 0});

  config.rules = {main};
  Router plain(config);
  d = plain.route(reference_event("Country", "EU", "{}", "P1"));
  CHECK(d.topics == std::vector<std::string>{"t"});
  CHECK(d.clusters.empty());

  // Unknown cluster: check_routing names the rule.
  config.rules = {eu};
  config.rules[0].cluster = "us";
  auto problems = rules_router::check_routing(config);
  REQUIRE(problems.size() == 1);
  CHECK_THAT(problems[0], Contains("rule \"eu\": cluster \"us\" is not declared"));
}

TEST_CASE("check-config shows each rule's cluster and the sink's producers",
          "[unit][config][clusters]") {
  auto loaded = load_text(clustered_toml());
  INFO(Catch::Detail::stringify(loaded.errors));
  REQUIRE(loaded.errors.empty());
  CHECK_THAT(loaded.described.at("router"),
             Contains("price-eu: eventType = ProductPriceUpdate and region = EU -> "
                      "product-price-update-v1-{region} on cluster eu\n"));
  CHECK_THAT(loaded.described.at("router"), Contains("declared: ap eu"));
  CHECK_THAT(loaded.described.at("dist_sink"),
             Contains("a producer per cluster: kafka (localhost:9092), ap (ap-kafka:9092), "
                      "eu (eu-kafka:9092)"));
}

TEST_CASE("a rule's cluster is in its version; rules without one keep theirs",
          "[unit][config][clusters]") {
  auto plain = load(kPemxToml);
  auto declared = load(edited(kPemxToml, "[kafka.properties]\n",
                              "[kafka.properties]\n[clusters.eu]\nbrokers = \"b:1\"\n"));
  REQUIRE(plain.config);
  REQUIRE(declared.config);
  auto version = [](const LoadResult& r) {
    return r.config->stage("router")->spec->live_rules()->current().version;
  };
  CHECK(version(plain) == version(declared));
  auto moved = load(clustered_toml());
  auto stayed = load(edited(clustered_toml(), "cluster = \"eu\"\n", ""));
  REQUIRE(moved.config);
  REQUIRE(stayed.config);
  CHECK(version(moved) != version(stayed));
}

TEST_CASE("the router's targets are split by cluster for the target check",
          "[unit][target_check][clusters]") {
  std::string text = edited(clustered_toml(), "topic = \"product-price-update-v1-{region}\"\n"
                                              "cluster = \"eu\"\n",
                            "topic = \"product-price-update-v1-EU\"\ncluster = \"eu\"\n");
  auto r = load(text);
  REQUIRE(r.config);
  auto targets = r.config->stage("router")->spec->target_topics();
  REQUIRE(targets);
  REQUIRE(targets->cluster_topics.count("eu") == 1);
  CHECK(targets->cluster_topics.at("eu") == std::vector<std::string>{"product-price-update-v1-EU"});
  // The main cluster's list keeps the dead-letter and storage topics, not the EU one.
  CHECK(std::find(targets->topics.begin(), targets->topics.end(), "product-price-update-v1-EU") ==
        targets->topics.end());
  CHECK(std::find(targets->topics.begin(), targets->topics.end(), "product-event-dlq-pemx") !=
        targets->topics.end());

  struct Fixed final : TopicDirectory {
    explicit Fixed(TopicSet t) : t_(std::move(t)) {}
    Result<TopicSet> topics(std::chrono::milliseconds) override { return t_; }
    TopicSet t_;
  };
  // Every topic on the main cluster, none on eu: the EU topic is missing there only.
  TopicSet all(targets->topics.begin(), targets->topics.end());
  all.insert("product-price-update-v1-EU");
  auto main = std::make_shared<Fixed>(all);
  ClusterDirectories dirs = {{"eu", std::make_shared<Fixed>(TopicSet{})}};
  auto split = targets_by_cluster(*targets, main.get(), &dirs);
  REQUIRE(split.size() == 2);
  CHECK(split[0].cluster.empty());
  CHECK(check_targets(split[0].targets, *split[0].directory).missing.empty());
  CHECK(split[1].cluster == "eu");
  CHECK(check_targets(split[1].targets, *split[1].directory).missing ==
        std::vector<std::string>{"product-price-update-v1-EU"});

  // check_role_targets: missing_topics = "fail" refuses because of the eu cluster only.
  text = edited(text, "key_field = \"productId\"\n",
                "key_field = \"productId\"\nmissing_topics = \"fail\"\n");
  auto failing = load(text);
  REQUIRE(failing.config);
  Logger quiet;
  CHECK(check_role_targets(*failing.config, failing.config->roles.at("dist"), main.get(), quiet, {},
                           &dirs) == 2);
  ClusterDirectories eu_has_it = {
      {"eu", std::make_shared<Fixed>(TopicSet{"product-price-update-v1-EU"})}};
  CHECK(check_role_targets(*failing.config, failing.config->roles.at("dist"), main.get(), quiet, {},
                           &eu_has_it) == 0);
}

TEST_CASE("a reload may move a rule among the clusters it started with, never to a new one",
          "[unit][reload][clusters]") {
  std::string file = clustered_toml();
  Registry registry = builtin_stages();
  auto running = load(file);
  REQUIRE(running.config);
  Metrics metrics;
  RulesReload reload(*running.config, running.config->roles.at("dist"),
                     [&] { return load_config_text(file, "pemx.toml", {}, registry); },
                     Logger(), metrics);
  auto live = running.config->stage("router")->spec->live_rules();
  CHECK(live->clusters() == std::vector<std::string>{"eu"});

  // eu -> ap: both existed at start.
  file = edited(file, "cluster = \"eu\"\n", "cluster = \"ap\"\n");
  auto moved = reload.reload("test");
  INFO(moved.error);
  REQUIRE(moved.ok);
  CHECK(moved.swapped == std::vector<std::string>{"router"});
  CHECK(live->clusters() == std::vector<std::string>{"ap"});

  // A new [clusters.us] named by a rule: refused, the running rules stay.
  const std::string before = live->current().version;
  file = edited(file, "[clusters.ap]\n", "[clusters.us]\nbrokers = \"us-kafka:9092\"\n\n"
                                         "[clusters.ap]\n");
  file = edited(file, "cluster = \"ap\"\n", "cluster = \"us\"\n");
  auto refused = reload.reload("test");
  CHECK_FALSE(refused.ok);
  CHECK_THAT(refused.error, Contains("stages.router.rules"));
  CHECK_THAT(refused.error, Contains("cluster \"us\", which this process did not start with"));
  CHECK_THAT(refused.error, Contains("needs a restart"));
  CHECK(live->current().version == before);

  // The new cluster declared but unused: applied, and named as needing a restart.
  file = edited(file, "cluster = \"us\"\n", "cluster = \"eu\"\n");
  auto declared = reload.reload("test");
  REQUIRE(declared.ok);
  CHECK(std::find(declared.restart_keys.begin(), declared.restart_keys.end(),
                  "clusters.us.brokers") != declared.restart_keys.end());
  CHECK(live->clusters() == std::vector<std::string>{"eu"});

}

}  // namespace
}  // namespace pemx
