// `pemx simulate` and the simulator stage, end to end: against the dist role on the real
// broker (what --watch reports must match what a plain consumer finds), through the HTTP
// push of the all role, with nobody routing (exit 1, every event missing), bad usage (exit 2),
// and the demo role on the embedded cluster (generated events get stored).
#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include <csignal>
#include <map>
#include <set>
#include <thread>

#include "integration/pemx_runner.hpp"
#include "integration/web_util.hpp"
#include "support/http_client.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

rapidjson::Document parse_summary(const RunResult& r) {
  INFO("stdout: " << r.out << "\nstderr: " << r.err.substr(0, 4000));
  rapidjson::Document d = parse_json(r.out);
  REQUIRE(d.IsObject());
  return d;
}

// Runs `pemx simulate` on the runner's config and the test broker, with `args`.
RunResult simulate(const PemxRunner& pemx, const std::string& brokers,
                   const std::vector<std::string>& args) {
  std::vector<std::string> all = {"simulate", "--config", pemx.dir().file("pemx.toml"), "--set",
                                  "kafka.brokers=" + brokers};
  all.insert(all.end(), args.begin(), args.end());
  return run(PEMX_BINARY, all);
}

// The value of a counter series in a Prometheus text page (summed over its label sets).
double metric(const std::string& page, const std::string& name) {
  double total = 0;
  std::size_t pos = 0;
  while ((pos = page.find("\n" + name, pos)) != std::string::npos) {
    auto end = page.find('\n', pos + 1);
    std::string line = page.substr(pos + 1, end - pos - 1);
    pos = end;
    auto rest = line.substr(name.size());
    if (rest.empty() || (rest[0] != '{' && rest[0] != ' ')) continue;  // a longer name
    total += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

// Checks --watch's per-topic figures against what a plain consumer reads from each topic
// (the topics carry the test's prefix, so everything on them is this run's).
void check_against_plain_consumer(const std::string& brokers, const std::string& prefix,
                                  const rapidjson::Value& per_topic, std::uint64_t events) {
  std::uint64_t storage = 0, routed = 0;
  std::set<std::string> storage_ids, routed_ids;
  for (const auto& m : per_topic.GetObject()) {
    std::string topic = m.name.GetString();
    INFO("topic " << topic);
    CHECK(topic.rfind(prefix + "-", 0) == 0);
    auto arrived = m.value["arrived"].GetUint64();
    auto total = arrived + m.value["duplicates"].GetUint64() + m.value["unexpected"].GetUint64() +
                 m.value["untracked"].GetUint64();
    CHECK(m.value["missing"].GetUint64() == 0);
    CHECK(m.value["expected"].GetUint64() == arrived);
    auto msgs = consume_all(brokers, topic, total, 60s, 1s);
    std::set<std::string> ids;
    for (const auto& msg : msgs) ids.insert(json_field(msg.value, "eventId"));
    CHECK(msgs.size() == total);
    CHECK(ids.size() == arrived);
    bool is_storage = topic == prefix + "-product-event-storage-pemx";
    (is_storage ? storage : routed) += arrived;
    (is_storage ? storage_ids : routed_ids).insert(ids.begin(), ids.end());
  }
  CHECK(storage == events);  // every event once in storage
  CHECK(routed == events);   // and once in its type topic
  CHECK(storage_ids == routed_ids);
}

}  // namespace

TEST_CASE(
    "simulate --watch against the dist role: nothing missing, counts as a plain "
    "consumer sees them",
    "[sim]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 3);
  PemxRunner pemx(prefixed_config(p));
  auto& dist = pemx.start_on(brokers);

  auto r = simulate(
      pemx, brokers,
      {"--count", "10000", "--rate", "4000", "--watch", "--watch-timeout", "120s", "--json"});
  auto s = parse_summary(r);
  CHECK(r.code == 0);
  CHECK(s["sent"].GetUint64() == 10000);
  CHECK(s["acked"].GetUint64() == 10000);
  CHECK(s["failed"].GetUint64() == 0);
  CHECK(s["missing"].GetUint64() == 0);
  CHECK(s["unexpected"].GetUint64() == 0);
  CHECK(s["untracked"].GetUint64() == 0);
  CHECK(s["latency_ms"]["count"].GetUint64() == 20000);  // one arrival per event and topic
  CHECK(s["latency_ms"]["p50"].GetDouble() > 0);
  CHECK(s["latency_ms"]["p50"].GetDouble() <= s["latency_ms"]["p99"].GetDouble());
  CHECK(s["latency_ms"]["p99"].GetDouble() <= s["latency_ms"]["max"].GetDouble());
  CHECK(s["rate"].GetDouble() > 0);
  CHECK(s["duration_s"].GetDouble() > 0);
  // The reference types and regions: 4 type topics for 2 regions + 2 countries + storage.
  CHECK(s["per_topic"].MemberCount() == 7);
  check_against_plain_consumer(brokers, p, s["per_topic"], 10000);
  CHECK(committed_total(brokers, p + "-product-event-consumer-pemx", p + "-product-event") <=
        10000);

  // A second run reads the topics from their end: the first run's 20,000 messages are not
  // even seen (foreign counts messages that are not this run's).
  auto again = simulate(
      pemx, brokers,
      {"--count", "500", "--rate", "1000", "--watch", "--watch-timeout", "120s", "--json"});
  auto s2 = parse_summary(again);
  CHECK(again.code == 0);
  CHECK(s2["missing"].GetUint64() == 0);
  CHECK(s2["foreign"].GetUint64() == 0);
  CHECK(s2["per_topic"][(p + "-product-event-storage-pemx").c_str()]["arrived"].GetUint64() == 500);

  dist.signal(SIGTERM);
  CHECK(dist.wait(60s) == 0);
}

TEST_CASE("simulate --via pushes through POST /event and --watch sees every event arrive",
          "[sim]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 3);
  PemxRunner pemx(prefixed_config(p));
  auto& all = pemx.start("all", {"--set", "kafka.brokers=" + brokers});
  auto port = wait_port(all);

  auto r =
      simulate(pemx, brokers,
               {"--via", "http://127.0.0.1:" + std::to_string(port), "--count", "1000", "--rate",
                "500", "--mix", "country=1", "--watch", "--watch-timeout", "120s", "--json"});
  auto s = parse_summary(r);
  CHECK(r.code == 0);
  CHECK(s["sent"].GetUint64() == 1000);
  CHECK(s["acked"].GetUint64() == 1000);
  CHECK(s["missing"].GetUint64() == 0);
  for (const auto& m : s["per_topic"].GetObject()) {  // only Country events were made
    std::string topic = m.name.GetString();
    CHECK((topic.find("-country-") != std::string::npos ||
           topic.find("-storage-") != std::string::npos));
  }
  check_against_plain_consumer(brokers, p, s["per_topic"], 1000);
  // The push really went through the server.
  auto metrics = http_get(port, "/metrics").body;
  CHECK(metric(metrics, "pemx_http_front_pushed_total") == 1000);
  all.signal(SIGTERM);
  CHECK(all.wait(60s) == 0);
}

TEST_CASE("simulate --watch with nobody routing reports every event missing and exits 1", "[sim]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  PemxRunner pemx(prefixed_config(p));  // its config only: no pemx runs
  auto r = simulate(
      pemx, brokers,
      {"--count", "50", "--rate", "max", "--seed", "7", "--watch", "--watch-timeout", "2s"});
  CHECK(r.code == 1);
  CHECK(r.out.find("sent 50 events to " + p + "-product-event") != std::string::npos);
  CHECK(r.out.find("acked 50, failed 0") != std::string::npos);
  CHECK(r.out.find("missing 50 events") != std::string::npos);
  CHECK(r.out.find("seed 7") != std::string::npos);
  CHECK(r.out.find("FAILED") != std::string::npos);
  // The events really were produced, keyed by product id.
  auto msgs = consume_all(brokers, p + "-product-event", 50, 30s);
  REQUIRE(msgs.size() == 50);
  for (const auto& m : msgs) CHECK(m.key == json_field(m.value, "productId"));
}

TEST_CASE("SIGINT stops sending and the summary is still printed", "[sim]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  PemxRunner pemx(prefixed_config(p));
  Process sim(PEMX_BINARY,
              {"simulate", "--config", pemx.dir().file("pemx.toml"), "--brokers", brokers, "--rate",
               "200", "--duration", "5m", "--json"},
              pemx.dir().file("simulate.log"));
  REQUIRE(sim.wait_for_log("simulate: sent", 60s));  // the first progress line
  sim.signal(SIGINT);
  REQUIRE(sim.wait(30s) == 0);
  rapidjson::Document d = parse_json(sim.stdout_text());
  CHECK(d["interrupted"].GetBool());
  CHECK(d["sent"].GetUint64() > 0);
  CHECK(d["sent"].GetUint64() < 200 * 60);  // well before the 5 minutes
  CHECK(d["acked"].GetUint64() == d["sent"].GetUint64());
  CHECK(d["duration_s"].GetDouble() < 60);
  auto msgs = consume_all(brokers, p + "-product-event", d["sent"].GetUint64(), 30s);
  CHECK(msgs.size() == d["sent"].GetUint64());
}

TEST_CASE("simulate: bad usage exits 2 naming the option", "[sim][cli]") {
  const std::string config = std::string(PEMX_SOURCE_DIR) + "/pemx.toml";
  auto rate = run(PEMX_BINARY, {"simulate", "--config", config, "--rate", "fast"});
  CHECK(rate.code == 2);
  CHECK(rate.err.find("--rate: \"fast\" is not a number") != std::string::npos);
  auto mix = run(PEMX_BINARY, {"simulate", "--mix", "price=1,bogus=2"});
  CHECK(mix.code == 2);
  CHECK(mix.err.find("--mix: unknown event type \"bogus\"") != std::string::npos);
  auto unknown = run(PEMX_BINARY, {"simulate", "--frobnicate"});
  CHECK(unknown.code == 2);
  CHECK(unknown.err.find("unknown option \"--frobnicate\"") != std::string::npos);
  auto embedded = run(PEMX_BINARY, {"simulate", "--config", config, "--set",
                                    "kafka.brokers=embedded", "--count", "1"});
  CHECK(embedded.code == 2);
  CHECK(embedded.err.find("kafka.brokers is \"embedded\"") != std::string::npos);
  auto role = run(PEMX_BINARY, {"simulate", "--config", config, "--role", "web", "--watch",
                                "--brokers", "127.0.0.1:1", "--count", "1"});
  CHECK(role.code == 2);
  CHECK(role.err.find("role \"web\" has no routing stage") != std::string::npos);
  auto bad_config =
      run(PEMX_BINARY, {"simulate", "--config", config, "--set", "stages.simulator.rate=0"});
  CHECK(bad_config.code == 2);
  CHECK(bad_config.err.find("stages.simulator.rate") != std::string::npos);
  auto help = run(PEMX_BINARY, {"simulate", "--help"});
  CHECK(help.code == 0);
  CHECK(help.out.find("--watch-timeout") != std::string::npos);
}

TEST_CASE("the demo role on the embedded cluster stores generated events at once",
          "[sim][embedded]") {
  PemxRunner pemx(prefixed_config(""));
  auto& demo =
      pemx.start("demo", {"--set", "kafka.brokers=embedded", "--set", "stages.simulator.rate=50"});
  auto port = wait_port(demo);
  double stored = 0, produced = 0;
  auto until = std::chrono::steady_clock::now() + 90s;
  while (std::chrono::steady_clock::now() < until && stored < 20) {
    auto page = http_get(port, "/metrics").body;
    stored = metric(page, "pemx_sqlite_store_stored_total");
    produced = metric(page, "pemx_simulator_produced_total");
    std::this_thread::sleep_for(500ms);
  }
  CHECK(produced > 0);
  CHECK(stored >= 20);
  demo.signal(SIGTERM);
  CHECK(demo.wait(60s) == 0);
}
