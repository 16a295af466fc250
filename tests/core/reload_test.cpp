// The reload of the routing rules (core/reload.hpp): the re-read config through the loader,
// the routers' rules replaced only when the whole config is valid, keys that need a restart
// named, the target check, and what /metrics shows.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "core/reload.hpp"
#include "support/config_fixture.hpp"

namespace pemx {
namespace {

using Catch::Matchers::Contains;
using namespace test;  // kPemxToml, load, edited

// A config "file" the test rewrites; the reload reads it with the real loader and registry.
struct Harness {
  explicit Harness(std::string text, std::shared_ptr<TopicDirectory> directory = nullptr,
                   std::function<bool()> give_up = {})
      : file(std::move(text)), running(load(file)), slot(std::move(directory)) {
    INFO(Catch::Detail::stringify(error_lines(running)));
    REQUIRE(running.config);
    reload = std::make_unique<RulesReload>(
        *running.config, running.config->roles.at("dist"),
        [this] { return load_config_text(file, "pemx.toml", {}, registry); },
        Logger(make_stderr_sink(LogLevel::kError), "reload"), metrics, &slot,
        std::move(give_up));
  }
  std::string version() const {
    return running.config->stage("router")->spec->live_rules()->current().version;
  }

  std::string file;
  Registry registry = builtin_stages();
  LoadResult running;
  Metrics metrics;
  std::shared_ptr<TopicDirectory> slot;
  std::unique_ptr<RulesReload> reload;
};

const std::string kCountry = R"(topic = "country-{data.country}")";

TEST_CASE("a reload swaps the router's rules and counts it", "[unit][reload]") {
  Harness h{std::string(kPemxToml)};
  const std::string before = h.version();
  CHECK_THAT(h.metrics.render_prometheus(),
             Contains("pemx_rules_info{stage=\"router\",version=\"" + before + "\"} 1"));

  // Unchanged: applied, nothing swapped.
  auto same = h.reload->reload("test");
  CHECK(same.ok);
  CHECK(same.swapped.empty());
  CHECK(same.restart_keys.empty());
  CHECK(h.version() == before);

  h.file = edited(h.file, kCountry, R"(topic = "countries-{data.country}")");
  auto changed = h.reload->reload("test");
  REQUIRE(changed.ok);
  CHECK(changed.swapped == std::vector<std::string>{"router"});
  CHECK(changed.restart_keys.empty());
  REQUIRE(changed.rules.size() == 1);
  CHECK(changed.rules[0].rules.version == h.version());
  CHECK(h.version() != before);
  auto status = h.reload->status();
  CHECK(status.reloads == 2);
  CHECK(status.failures == 0);
  const std::string metrics = h.metrics.render_prometheus();
  CHECK_THAT(metrics, Contains("pemx_rules_info{stage=\"router\",version=\"" + h.version() +
                               "\"} 1"));
  CHECK_THAT(metrics, !Contains("version=\"" + before + "\""));
  CHECK_THAT(metrics, Contains("pemx_rules_reloads_total 2"));
  CHECK_THAT(metrics, Contains("pemx_rules_loaded_timestamp_seconds{stage=\"router\"}"));
}

TEST_CASE("an invalid config on reload keeps the running rules and names the key",
          "[unit][reload]") {
  Harness h{std::string(kPemxToml)};
  const std::string before = h.version();
  h.file = edited(h.file, kCountry, R"(topic = "country-{data.country")");
  auto refused = h.reload->reload("test");
  CHECK_FALSE(refused.ok);
  CHECK_THAT(refused.error, Contains("stages.router.rules[1].topic"));
  REQUIRE(refused.rules.size() == 1);
  CHECK(refused.rules[0].rules.version == before);
  CHECK(h.version() == before);
  CHECK(h.reload->status().failures == 1);
  CHECK_THAT(h.metrics.render_prometheus(), Contains("pemx_rules_reload_failures_total 1"));

  // A TOML syntax error too.
  h.file += "\n[broken\n";
  auto syntax = h.reload->reload("test");
  CHECK_FALSE(syntax.ok);
  CHECK_THAT(syntax.error, Contains("TOML syntax error"));
  CHECK(h.version() == before);
  CHECK(h.reload->status().failures == 2);
}

// A schema whose $ref leads back to itself overflowed RapidJSON's stack when compiled: the
// reload of a running process died. It is refused by the loader, so the reload keeps the
// running config and names the file and the $ref.
TEST_CASE("a reload with a recursive schema is refused and the running rules stay",
          "[unit][reload][schema]") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("pemx-reload-schema-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "self.json").string();
  std::ofstream(file) << R"({"definitions": {"a": {"$ref": "#/definitions/b"},
                                              "b": {"$ref": "#/definitions/a"}},
                            "$ref": "#/definitions/a"})";
  Harness h{std::string(kPemxToml)};
  const std::string before = h.version();
  h.file = edited(h.file, kCountry, R"(topic = "countries-{data.country}")") +
           "\n[schemas]\nCountry = \"" + file + "\"\n";
  auto refused = h.reload->reload("test");
  std::filesystem::remove_all(dir);
  CHECK_FALSE(refused.ok);
  CHECK_THAT(refused.error, Contains(file));
  CHECK_THAT(refused.error, Contains(R"(/definitions/b/$ref: "#/definitions/a" leads back)"));
  CHECK(h.version() == before);
  CHECK(h.reload->status().failures == 1);
}

TEST_CASE("a reload names an edited schema file among the keys that need a restart",
          "[unit][reload][schema]") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("pemx-reload-edited-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "country.json").string();
  std::ofstream(file) << R"({"type": "object"})";
  Harness h{std::string(kPemxToml) + "\n[schemas]\nCountry = \"" + file + "\"\n"};
  CHECK(h.reload->reload("test").restart_keys.empty());  // nothing changed
  std::ofstream(file) << R"({"type": "object", "required": ["data"]})";
  auto out = h.reload->reload("test");
  std::filesystem::remove_all(dir);
  REQUIRE(out.ok);
  CHECK(out.restart_keys == std::vector<std::string>{"schemas.Country (file content)"});
}

TEST_CASE("on_reload hooks run at every reload, valid config or not, while their handle lives",
          "[unit][reload]") {
  Harness h{std::string(kPemxToml)};
  int a = 0, b = 0;
  auto hook_a = h.reload->on_reload([&] { ++a; });
  {
    auto hook_b = h.reload->on_reload([&] { ++b; });
    CHECK(h.reload->reload("test").ok);
    CHECK((a == 1 && b == 1));
  }  // b's handle gone: b is no longer called
  h.file += "\n[broken\n";  // the token files do not depend on the config being valid
  CHECK_FALSE(h.reload->reload("test").ok);
  CHECK((a == 2 && b == 1));
  hook_a.reset();
  h.reload->reload("test");
  CHECK(a == 2);
}

TEST_CASE("a reload names the changed keys that need a restart and applies the rest",
          "[unit][reload]") {
  Harness h{std::string(kPemxToml)};
  const std::string before = h.version();
  h.file = edited(h.file, R"(brokers = "localhost:9092")", R"(brokers = "otherhost:9092")");
  h.file = edited(h.file, "input = \"events\"\noutput = \"routed\"\ndead_letter_topic",
                  "input = \"events\"\noutput = \"routed2\"\ndead_letter_topic");
  h.file = edited(h.file, "[queues.routed]", "[queues.routed2]\ncapacity = 8\n[queues.routed]");
  h.file = edited(h.file, "input = \"routed\"", "input = \"routed2\"");
  h.file = edited(h.file, kCountry, R"(topic = "countries-{data.country}")");
  auto out = h.reload->reload("test");
  REQUIRE(out.ok);
  CHECK(out.restart_keys == std::vector<std::string>{"kafka.brokers", "queues.routed2.capacity",
                                                     "stages.dist_sink.input",
                                                     "stages.router.output"});
  CHECK(out.swapped == std::vector<std::string>{"router"});
  CHECK(h.version() != before);
  // Still not applied: named again on the next reload.
  auto again = h.reload->reload("test");
  CHECK(again.restart_keys.size() == 4);
  CHECK(again.swapped.empty());
}

// A cluster that has only the topics it is given.
class FixedTopics final : public TopicDirectory {
 public:
  explicit FixedTopics(TopicSet topics) : topics_(std::move(topics)) {}
  Result<TopicSet> topics(std::chrono::milliseconds) override { return topics_; }

 private:
  TopicSet topics_;
};

// kPemxToml with every topic fixed (so that the check sees them all) and missing_topics =
// "fail", and the topics it sends to.
std::string fixed_targets_config() {
  std::string text(kPemxToml);
  text = edited(text,
                "topic = \"country-{data.country}\"\ndefaults = { \"data.country\" = \"US\" }",
                R"(topic = "country-all")");
  text = edited(text, R"(topic = "product-price-update-v1-{region}")",
                R"(topic = "product-price-update-v1-US")");
  text = edited(text, R"(topic = "specific-product-discount-update-{region}")",
                R"(topic = "product-event-storage-pemx")");
  text = edited(text, R"(key_field = "productId")",
                "key_field = \"productId\"\nmissing_topics = \"fail\"");
  return text;
}
const TopicSet kFixedTargets = {"product-price-update-v1-US", "product-event-storage-pemx",
                                "product-event-dlq-pemx", "country-all"};

TEST_CASE("a reload runs the target check: fail refuses rules with missing topics, warn applies",
          "[unit][reload]") {
  Harness h{fixed_targets_config(), std::make_shared<FixedTopics>(kFixedTargets)};
  const std::string before = h.version();

  h.file = edited(h.file, R"(topic = "country-all")", R"(topic = "country-none")");
  auto refused = h.reload->reload("test");
  CHECK_FALSE(refused.ok);
  CHECK_THAT(refused.error, Contains("country-none"));
  CHECK_THAT(refused.error, Contains("stages.router.missing_topics = \"fail\""));
  CHECK(h.version() == before);
  CHECK(h.reload->status().failures == 1);

  h.file = edited(h.file, R"(missing_topics = "fail")", R"(missing_topics = "warn")");
  auto applied = h.reload->reload("test");
  CHECK(applied.ok);
  CHECK(applied.swapped == std::vector<std::string>{"router"});
  CHECK(h.version() != before);
}

// A cluster that never answers (a paused broker): each ask ends as a timeout.
class SilentCluster final : public TopicDirectory {
 public:
  Result<TopicSet> topics(std::chrono::milliseconds) override {
    return Error{"timeout", "Local: Timed out"};
  }
};

// The attack: a broker that did not answer made the reload say "applying them anyway" even
// with missing_topics = "fail". With fail, rules whose topics could not be confirmed are refused.
TEST_CASE("with missing_topics = fail, a reload whose targets cannot be checked is refused",
          "[unit][reload]") {
  std::string text = edited(fixed_targets_config(), R"(missing_topics = "fail")",
                            "missing_topics = \"fail\"\nmissing_topics_timeout = \"100ms\"");
  Harness h{text, std::make_shared<SilentCluster>()};
  const std::string before = h.version();
  h.file = edited(h.file, R"(topic = "country-all")", R"(topic = "country-new")");
  auto refused = h.reload->reload("test");
  CHECK_FALSE(refused.ok);
  CHECK_THAT(refused.error, Contains("could not be checked"));
  CHECK_THAT(refused.error, Contains("Local: Timed out"));
  CHECK_THAT(refused.error, Contains("stages.router.missing_topics = \"fail\""));
  CHECK(h.version() == before);
  CHECK(h.reload->status().failures == 1);
  CHECK(h.reload->status().reloads == 0);
  CHECK_THAT(h.metrics.render_prometheus(), Contains("pemx_rules_reload_failures_total 1"));

  // warn: applied without the check, as before.
  h.file = edited(h.file, R"(missing_topics = "fail")", R"(missing_topics = "warn")");
  auto applied = h.reload->reload("test");
  CHECK(applied.ok);
  CHECK(h.version() != before);
}

// SIGTERM during a reload's target check: give_up ends the check and the reload is refused,
// whatever missing_topics says (the rules are not applied unchecked while the process stops).
TEST_CASE("a reload whose target check is cancelled by give_up is refused", "[unit][reload]") {
  std::string text = edited(fixed_targets_config(), R"(missing_topics = "fail")",
                            "missing_topics = \"warn\"\nmissing_topics_timeout = \"10m\"");
  bool stopping = false;
  Harness h{text, std::make_shared<SilentCluster>(), [&] { return stopping; }};
  const std::string before = h.version();
  h.file = edited(h.file, R"(topic = "country-all")", R"(topic = "country-new")");
  stopping = true;  // the check would otherwise wait ten minutes
  auto refused = h.reload->reload("test");
  CHECK_FALSE(refused.ok);
  CHECK_THAT(refused.error, Contains("cancelled: the process is stopping"));
  CHECK(h.version() == before);
  CHECK(h.reload->status().failures == 1);
}

}  // namespace
}  // namespace pemx
