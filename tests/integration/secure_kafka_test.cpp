// The dist and web roles against a broker that requires SASL/SCRAM-SHA-512 over TLS
// (tests/broker/kafka.sh start-secure; scripts/test.sh exports its line as
// PEMX_TEST_SECURE_KAFKA: "127.0.0.1:PORT ca=CA_FILE user=USER password=PASSWORD"). PEMX is
// given only the client properties docs/deploying.md documents, in [kafka.properties].
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <optional>
#include <sstream>

#include "integration/pemx_runner.hpp"
#include "integration/web_util.hpp"
#include "support/http_client.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

struct SecureKafka {
  std::string brokers;
  std::string ca;
  std::string user;
  std::string password;
};

// The secure broker of PEMX_TEST_SECURE_KAFKA; nullopt when unset (the test skips).
std::optional<SecureKafka> secure_kafka() {
  const char* env = std::getenv("PEMX_TEST_SECURE_KAFKA");
  if (env == nullptr || *env == '\0') return std::nullopt;
  SecureKafka k;
  std::istringstream in(env);
  in >> k.brokers;
  for (std::string word; in >> word;) {
    auto eq = word.find('=');
    if (eq == std::string::npos) continue;
    std::string key = word.substr(0, eq);
    std::string value = word.substr(eq + 1);
    if (key == "ca") k.ca = value;
    if (key == "user") k.user = value;
    if (key == "password") k.password = value;
  }
  if (k.brokers.empty() || k.ca.empty() || k.user.empty() || k.password.empty()) {
    FAIL("PEMX_TEST_SECURE_KAFKA is not what tests/broker/kafka.sh start-secure prints: " << env);
  }
  return k;
}

#define PEMX_SECURE_KAFKA_OR_SKIP(k)                                                       \
  auto k##_found = secure_kafka();                                                         \
  if (!k##_found) {                                                                        \
    WARN("SKIPPED: PEMX_TEST_SECURE_KAFKA is not set (scripts/test.sh starts the secure " \
         "broker with tests/broker/kafka.sh start-secure)");                               \
    return;                                                                                \
  }                                                                                        \
  const SecureKafka k = *k##_found

std::vector<std::pair<std::string, std::string>> client_properties(const SecureKafka& k) {
  return {{"security.protocol", "SASL_SSL"},
          {"sasl.mechanisms", "SCRAM-SHA-512"},
          {"sasl.username", k.user},
          {"sasl.password", k.password},
          {"ssl.ca.location", k.ca}};
}

// The shipped config (topics and groups prefixed) with the documented client properties of
// docs/deploying.md ("Kafka with SASL/SCRAM over TLS") in [kafka.properties].
std::string secure_config(const std::string& prefix, const SecureKafka& k,
                          const std::string& password) {
  std::string config = prefixed_config(prefix);
  const std::string section = "[kafka.properties]\n";
  auto pos = config.find(section);
  REQUIRE(pos != std::string::npos);
  config.insert(pos + section.size(), "\"security.protocol\" = \"SASL_SSL\"\n"
                                      "\"sasl.mechanisms\" = \"SCRAM-SHA-512\"\n"
                                      "\"sasl.username\" = \"" + k.user + "\"\n"
                                      "\"sasl.password\" = \"" + password + "\"\n"
                                      "\"ssl.ca.location\" = \"" + k.ca + "\"\n");
  return config;
}

}  // namespace

TEST_CASE("dist and web route and store a pushed event on a SASL_SSL SCRAM-SHA-512 broker",
          "[integration][secure]") {
  PEMX_SECURE_KAFKA_OR_SKIP(k);
  const std::string p = unique_prefix();
  create_topic(k.brokers, p + "-product-event", 3, 1, client_properties(k));
  // dist takes the password from its environment, as docs/deploying.md advises; web from
  // the file.
  REQUIRE(setenv("PEMX_TEST_KAFKA_PASSWORD", k.password.c_str(), 1) == 0);
  PemxRunner dist_runner(secure_config(p, k, "${PEMX_TEST_KAFKA_PASSWORD}"));
  PemxRunner web_runner(secure_config(p, k, k.password));
  auto& dist = dist_runner.start("dist", {"--set", "kafka.brokers=" + k.brokers});
  auto& web = web_runner.start("web", {"--set", "kafka.brokers=" + k.brokers});
  auto web_port = wait_port(web);
  auto dist_port = wait_port(dist);
  // web's push producer -> the input topic -> dist's router -> the storage topic -> web's store.
  auto pushed = http_post(web_port, "/event", push_body(1, 1, "SECURE001"));
  REQUIRE(pushed.status == 201);
  auto d = wait_history(web_port, "SECURE001", 1, 60s);
  REQUIRE(d.Size() == 1);
  CHECK(d[0]["eventId"].GetString() == event_id(1));
  CHECK(http_get(web_port, "/readyz").status == 200);
  CHECK(http_get(dist_port, "/readyz").status == 200);
  dist.signal(SIGTERM);
  web.signal(SIGTERM);
  CHECK(dist.wait(60s) == 0);
  CHECK(web.wait(60s) == 0);
  // The secret is in the config only, never in a log line, nor in what check-config prints.
  CHECK(dist.log().find(k.password) == std::string::npos);
  CHECK(web.log().find(k.password) == std::string::npos);
  auto checked = run(PEMX_BINARY, {"check-config", "--config", dist_runner.dir().file("pemx.toml"),
                                   "--set", "kafka.brokers=" + k.brokers});
  CHECK(checked.code == 0);
  CHECK(checked.out.find(k.password) == std::string::npos);
  CHECK(checked.err.find(k.password) == std::string::npos);
}

TEST_CASE("a wrong SASL password stops dist and web quickly with an authentication error",
          "[integration][secure]") {
  PEMX_SECURE_KAFKA_OR_SKIP(k);
  const std::string p = unique_prefix();
  const std::string wrong = "Wrong" + p + "Secret";
  PemxRunner dist_runner(secure_config(p, k, wrong));
  PemxRunner web_runner(secure_config(p, k, wrong));
  auto& dist = dist_runner.start("dist", {"--set", "kafka.brokers=" + k.brokers});
  auto& web = web_runner.start("web", {"--set", "kafka.brokers=" + k.brokers});
  // Well within a generous bound: librdkafka alone would retry these credentials forever.
  auto dist_code = dist.wait(30s);
  auto web_code = web.wait(30s);
  for (auto* proc : {&dist, &web}) {
    INFO(proc->log());
    CHECK(proc->log().find("\"msg\":\"Kafka authentication failed\"") != std::string::npos);
    CHECK(proc->log().find("sasl.password") != std::string::npos);  // the hint names the keys
    CHECK(proc->log().find(wrong) == std::string::npos);
  }
  REQUIRE(dist_code.has_value());
  REQUIRE(web_code.has_value());
  CHECK(*dist_code != 0);
  CHECK(*web_code != 0);
}
