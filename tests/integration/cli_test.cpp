// The binary's command line, without a broker: --help, --version, check-config, route.
#include <catch2/catch.hpp>

#include "support/kafka_util.hpp"
#include "support/process.hpp"

using namespace pemx::test;

namespace {
const std::string kConfig = std::string(PEMX_SOURCE_DIR) + "/pemx.toml";
}

TEST_CASE("the version and help options answer and exit 0", "[cli]") {
  auto v = run(PEMX_BINARY, {"--version"});
  CHECK(v.code == 0);
  CHECK(v.out.rfind("pemx ", 0) == 0);
  auto h = run(PEMX_BINARY, {"--help"});
  CHECK(h.code == 0);
  CHECK(h.out.find("check-config") != std::string::npos);
  CHECK(h.out.find("--set KEY=VALUE") != std::string::npos);
}

TEST_CASE("bad usage exits 2 with a message", "[cli]") {
  auto r = run(PEMX_BINARY, {"--bogus"});
  CHECK(r.code == 2);
  CHECK(r.err.find("unknown argument \"--bogus\"") != std::string::npos);
  auto no_role = run(PEMX_BINARY, {"--config", kConfig});
  CHECK(no_role.code == 2);
  CHECK(no_role.err.find("--role is required") != std::string::npos);
}

TEST_CASE("check-config accepts the shipped pemx.toml and prints the routing table", "[cli]") {
  auto r = run(PEMX_BINARY, {"check-config", "--config", kConfig});
  REQUIRE(r.code == 0);
  CHECK(r.out.find("product-price-update-v1-{region}") != std::string::npos);
  CHECK(r.out.find("country-{data.country}  (data.country defaults to US)") != std::string::npos);
  CHECK(r.out.find("specific-product-discount-update-{region}") != std::string::npos);
  CHECK(r.out.find("every event -> product-event-storage-pemx") != std::string::npos);
  CHECK(r.out.find("dead-letter -> product-event-dlq-pemx") != std::string::npos);
  CHECK(r.out.find("group product-event-consumer-pemx") != std::string::npos);
}

TEST_CASE("a bad config is refused at start-up with the key, the line and exit 2", "[cli]") {
  TempDir dir;
  std::string text = read_file(kConfig);
  text += "\n[bogus_section]\nx = 1\n";
  dir.write("bad.toml", text);
  auto r = run(PEMX_BINARY, {"--role=dist", "--config", dir.file("bad.toml")});
  CHECK(r.code == 2);
  CHECK(r.err.find("bogus_section: unknown key") != std::string::npos);
  CHECK(r.err.find("bad.toml:") != std::string::npos);

  auto set = run(PEMX_BINARY, {"check-config", "--config", kConfig, "--set",
                               "stages.dist_sink.max_in_flight=0"});
  CHECK(set.code == 2);
  CHECK(set.err.find("stages.dist_sink.max_in_flight: value 0 is out of range") !=
        std::string::npos);

  auto missing = run(PEMX_BINARY, {"check-config", "--config", dir.file("nope.toml")});
  CHECK(missing.code == 2);
  CHECK(missing.err.find("cannot read the config file") != std::string::npos);
}

TEST_CASE("a broken schema file stops check-config and the start with the file and the problem",
          "[cli][schema]") {
  TempDir dir;
  dir.write("pemx.toml", read_file(kConfig) + "\n[schemas]\nCountry = \"country.json\"\n");
  dir.write("country.json", R"({"properties": {"data": {"properties": {"country": )"
                            R"({"type": "string", "minLength": "1"}}}}})");
  const std::string problem = dir.file("country.json") +
                              " (the schema of Country): /properties/data/properties/country/"
                              "minLength: must be an integer, not a string";
  auto check = run(PEMX_BINARY, {"check-config", "--config", dir.file("pemx.toml")});
  CHECK(check.code == 2);
  CHECK(check.err.find("schemas.Country: " + problem) != std::string::npos);
  auto start = run(PEMX_BINARY, {"--role=dist", "--config", dir.file("pemx.toml")});
  CHECK(start.code == 2);
  CHECK(start.err.find(problem) != std::string::npos);
  // Fixed, check-config accepts it and shows the router's schema mode.
  dir.write("country.json", R"({"properties": {"data": {"properties": {"country": )"
                            R"({"type": "string", "minLength": 1}}}}})");
  auto fixed = run(PEMX_BINARY, {"check-config", "--config", dir.file("pemx.toml"), "--set",
                                 "stages.router.schema_mode=strict"});
  CHECK(fixed.code == 0);
  CHECK(fixed.out.find("types with a schema: Country") != std::string::npos);
}

TEST_CASE("pemx route prints each event's topics or its dead-letter reason", "[cli]") {
  std::string input =
      R"({"eventId":"6f1c2a34-1111-4aaa-8bbb-000000000001","eventType":"ProductPriceUpdate","productId":"P1","region":"EU","createdAt":"2024-07-26T14:41:17.123Z","data":{"newPrice":1,"previousPrice":2}})"
      "\n"
      R"({"eventId":"6f1c2a34-1111-4aaa-8bbb-000000000002","eventType":"Country","productId":"P2","region":"US","createdAt":"2024-07-26T14:41:17Z","data":{}})"
      "\n"
      "not json\n";
  auto r = run(PEMX_BINARY, {"route", "--config", kConfig}, input);
  REQUIRE(r.code == 0);
  CHECK(r.out.find(R"("line":1,"eventId":"6f1c2a34-1111-4aaa-8bbb-000000000001","key":"P1","topics":["product-price-update-v1-EU","product-event-storage-pemx"])") != std::string::npos);
  CHECK(r.out.find(R"("key":"P2","topics":["country-US","product-event-storage-pemx"])") != std::string::npos);
  CHECK(r.out.find(R"("line":3,"topics":["product-event-dlq-pemx"],"dead_letter":"invalid_json")") != std::string::npos);
}
