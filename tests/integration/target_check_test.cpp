// The target check at start-up (core/target_check.hpp, [stages.router] missing_topics) on the
// real broker (PEMX_TEST_BROKERS): a missing target topic is named in one line and, with
// "fail", start-up is refused with exit code 2; with "warn" the role starts; with every topic
// present it starts as before. The test broker auto-creates topics, so the check must not
// create the topics it asks about: the "fail" test asks twice and sees the topic still missing.
#include <catch2/catch.hpp>

#include <csignal>

#include "integration/pemx_runner.hpp"

using Catch::Matchers::Contains;
using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

// pemx.toml, prefixed, with the price rule bounded to US and EU: the router's targets are its
// dead-letter topic, the storage topic and the two price topics; the country and discount
// rules render free event fields and cannot be checked.
std::string bounded_config(const std::string& p) {
  std::string text = prefixed_config(p);
  const std::string from = R"(# allowed = { region = ["US", "EU"] })";
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), R"(allowed = { region = ["US", "EU"] })");
}

// Every target but the EU price topic.
void create_all_but_eu(const std::string& brokers, const std::string& p) {
  create_topic(brokers, p + "-product-event", 1);
  for (const char* t : {"-product-event-dlq-pemx", "-product-event-storage-pemx",
                        "-product-price-update-v1-US"}) {
    create_topic(brokers, p + t, 1);
  }
}

}  // namespace

TEST_CASE("missing_topics = fail: a missing target topic refuses start-up with exit 2, "
          "named once, and is not created",
          "[integration][targets]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_all_but_eu(brokers, p);
  PemxRunner pemx(bounded_config(p));
  for (int run = 0; run < 2; ++run) {
    auto& proc = pemx.start("dist", {"--set", "kafka.brokers=" + brokers, "--set",
                                     "stages.router.missing_topics=fail"});
    auto code = proc.wait(60s);
    INFO(proc.log());
    REQUIRE(code);
    CHECK(*code == 2);
    const std::string log = proc.log();
    CHECK_THAT(log, Contains("target topics missing: start-up refused"));
    CHECK_THAT(log, Contains("\"missing\":\"" + p + "-product-price-update-v1-EU\""));
    CHECK_THAT(log, Contains("stages.router.missing_topics"));
    CHECK_THAT(log, Contains("cannot be checked") && Contains("{data.country}"));
    CHECK_THAT(log, !Contains("role starting"));
  }
}

TEST_CASE("missing_topics = warn: a missing target topic is one warning and the role starts",
          "[integration][targets]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_all_but_eu(brokers, p);
  PemxRunner pemx(bounded_config(p));
  auto& proc = pemx.start("dist", {"--set", "kafka.brokers=" + brokers, "--set",
                                   "stages.router.missing_topics=warn"});
  REQUIRE(proc.wait_for_log("role starting", 60s));
  const std::string log = proc.log();
  CHECK_THAT(log, Contains("target topics missing: events routed to them will fail"));
  CHECK_THAT(log, Contains("\"missing\":\"" + p + "-product-price-update-v1-EU\""));
  proc.signal(SIGTERM);
  auto code = proc.wait(60s);
  REQUIRE(code);
  CHECK(*code == 0);
}

TEST_CASE("every target topic present: the role starts and routes as before",
          "[integration][targets]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_all_but_eu(brokers, p);
  create_topic(brokers, p + "-product-price-update-v1-EU", 1);
  PemxRunner pemx(bounded_config(p));
  auto& proc = pemx.start("dist", {"--set", "kafka.brokers=" + brokers, "--set",
                                   "stages.router.missing_topics=fail"});
  REQUIRE(proc.wait_for_log("role starting", 60s));
  CHECK_THAT(proc.log(), Contains("target topics exist") && !Contains("target topics missing"));
  const std::string event =
      R"({"eventId":"6f1c2a34-1111-4aaa-8bbb-000000000001","eventType":"ProductPriceUpdate",)"
      R"("productId":"PRICEEU001","region":"EU","createdAt":"2024-07-26T14:41:17.123Z",)"
      R"("data":{"newPrice":1.5,"previousPrice":2}})";
  produce(brokers, p + "-product-event", {{"PRICEEU001", event}});
  auto out = consume_all(brokers, p + "-product-price-update-v1-EU", 1, 60s);
  CHECK(out.size() == 1);
  proc.signal(SIGTERM);
  auto code = proc.wait(60s);
  REQUIRE(code);
  CHECK(*code == 0);
}
