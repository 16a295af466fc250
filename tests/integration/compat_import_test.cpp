// Bringing the original's history across (issue 10, item 6): `pemx import` of a mongoexport
// file (relaxed and canonical Extended JSON, duplicates, bad lines) into the web role's store,
// then the web role on that store, against the real broker, answers GET /event with exactly
// the imported events; a second import while the web role runs finds everything present.
#include <catch2/catch.hpp>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <csignal>
#include <map>
#include <string>

#include "event/time.hpp"
#include "integration/pemx_runner.hpp"
#include "integration/web_util.hpp"
#include "support/http_client.hpp"
#include "support/json.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

std::string json_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> writer(out);
  v.Accept(writer);
  return {out.GetString(), out.GetSize()};
}

struct Expected {
  std::string event_type, product_id, region, created_at, data;
};

// The export: what mongoexport writes for the original's productevents collection, relaxed
// (the default) and canonical (--jsonFormat=canonical) lines mixed.
const char* const kExport[] = {
    // 1. relaxed: $binary subtype 04, $date in UTC
    R"({"_id":{"$oid":"66a3b1f2c0ffee0000000001"},"eventId":{"$binary":{"base64":"OyQRAeK7QlWMr0E2xWapYg==","subType":"04"}},"eventType":"ProductPriceUpdate","productId":"IMPA","region":"US","createdAt":{"$date":"2024-07-26T14:41:17.123Z"},"data":{"newPrice":7.31,"previousPrice":2.05},"__v":0})",
    // 2. canonical: $date as epoch ms, numbers wrapped
    R"({"_id":{"$oid":"66a3b1f2c0ffee0000000002"},"eventId":{"$binary":{"base64":"AAAAAAAAQACAAAAAAAAAAg==","subType":"04"}},"eventType":"SpecificProductDiscountUpdate","productId":"IMPA","region":"EU","createdAt":{"$date":{"$numberLong":"1722004878000"}},"data":{"discount":{"$numberDouble":"0.25"},"stock":{"$numberInt":"12"},"sold":{"$numberLong":"9007199254740993"}},"__v":{"$numberInt":"0"}})",
    // 3. $uuid, $date with an offset
    R"({"_id":{"$oid":"66a3b1f2c0ffee0000000003"},"eventId":{"$uuid":"00000000-0000-4000-8000-000000000003"},"eventType":"Country","productId":"IMPB","region":"EU","createdAt":{"$date":"2024-07-26T16:41:19.500+02:00"},"data":{"country":"FR"},"__v":0})",
    // 4. canonical, before 1970
    R"({"_id":{"$oid":"66a3b1f2c0ffee0000000004"},"eventId":{"$binary":{"base64":"AAAAAAAAQACAAAAAAAAABA==","subType":"04"}},"eventType":"Country","productId":"IMPB","region":"US","createdAt":{"$date":{"$numberLong":"-86400001"}},"data":{"country":"US","price":{"$numberDecimal":"19.99"}},"__v":{"$numberInt":"0"}})",
    // 5. the same eventId as line 1 (a second copy: already present)
    R"({"_id":{"$oid":"66a3b1f2c0ffee0000000005"},"eventId":{"$uuid":"3b241101-e2bb-4255-8caf-4136c566a962"},"eventType":"ProductPriceUpdate","productId":"IMPA","region":"US","createdAt":{"$date":"2024-07-26T14:41:17.123Z"},"data":{"newPrice":99},"__v":0})",
    // 6. not JSON
    R"({"_id":{"$oid":"66a3b1f2c0ffee0000000006"},"eventId":)",
    // 7. a UUID of 15 bytes
    R"({"_id":{"$oid":"66a3b1f2c0ffee0000000007"},"eventId":{"$binary":{"base64":"OyQRAeK7QlWMr0E2xWap","subType":"04"}},"eventType":"Country","productId":"IMPB","region":"EU","createdAt":{"$date":"2024-07-26T14:41:17.123Z"},"data":{},"__v":0})",
    // 8. no eventId
    R"({"_id":{"$oid":"66a3b1f2c0ffee0000000008"},"eventType":"Country","productId":"IMPB","region":"EU","createdAt":{"$date":"2024-07-26T14:41:17.123Z"},"data":{},"__v":0})",
    // 9. an operator with no JSON form
    R"({"_id":{"$oid":"66a3b1f2c0ffee0000000009"},"eventId":{"$uuid":"00000000-0000-4000-8000-000000000009"},"eventType":"Country","productId":"IMPB","region":"EU","createdAt":{"$date":"2024-07-26T14:41:17.123Z"},"data":{"at":{"$timestamp":{"t":1722004877,"i":1}}},"__v":0})",
    // 10. line 2's event again, relaxed (already present)
    R"({"_id":{"$oid":"66a3b1f2c0ffee0000000002"},"eventId":{"$binary":{"base64":"AAAAAAAAQACAAAAAAAAAAg==","subType":"04"}},"eventType":"SpecificProductDiscountUpdate","productId":"IMPA","region":"EU","createdAt":{"$date":"2024-07-26T14:41:18Z"},"data":{"discount":0.25,"stock":12,"sold":9007199254740993},"__v":0})",
};

const std::map<std::string, Expected>& expected() {
  static const std::map<std::string, Expected> events = {
      {"3b241101-e2bb-4255-8caf-4136c566a962",
       {"ProductPriceUpdate", "IMPA", "US", "2024-07-26T14:41:17.123Z",
        R"({"newPrice":7.31,"previousPrice":2.05})"}},
      {"00000000-0000-4000-8000-000000000002",
       {"SpecificProductDiscountUpdate", "IMPA", "EU", "2024-07-26T14:41:18.000Z",
        R"({"discount":0.25,"stock":12,"sold":9007199254740993})"}},
      {"00000000-0000-4000-8000-000000000003",
       {"Country", "IMPB", "EU", "2024-07-26T14:41:19.500Z", R"({"country":"FR"})"}},
      {"00000000-0000-4000-8000-000000000004",
       {"Country", "IMPB", "US", "1969-12-30T23:59:59.999Z",
        R"({"country":"US","price":19.99})"}},
  };
  return events;
}

// GET /event of both products answers exactly the expected events.
void check_history(std::uint16_t port) {
  auto r = http_get(port, "/event?productIds=IMPA,IMPB");
  REQUIRE(r.status == 200);
  auto d = parse_json(r.body);
  REQUIRE(d.IsArray());
  std::map<std::string, const rapidjson::Value*> got;
  for (const auto& e : d.GetArray()) got[e["eventId"].GetString()] = &e;
  REQUIRE(got.size() == d.Size());
  REQUIRE(got.size() == expected().size());
  for (const auto& [id, want] : expected()) {
    INFO(id);
    REQUIRE(got.count(id) == 1);
    const rapidjson::Value& e = *got[id];
    CHECK(std::string(e["eventType"].GetString()) == want.event_type);
    CHECK(std::string(e["productId"].GetString()) == want.product_id);
    CHECK(std::string(e["region"].GetString()) == want.region);
    CHECK(json_text(e["data"]) == want.data);
    // The same instant (the history's text form of createdAt is another item's concern).
    auto at = pemx::event::iso8601_to_epoch_ms(e["createdAt"].GetString());
    REQUIRE(at.has_value());
    CHECK(*at == pemx::event::iso8601_to_epoch_ms(want.created_at));
  }
}

}  // namespace

TEST_CASE("pemx import of a mongoexport file, then GET /event returns exactly the imported "
          "events; a second import finds everything present",
          "[integration][compat][import]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  PemxRunner pemx(prefixed_config(p));
  std::string text;
  for (const char* line : kExport) text += std::string(line) + "\n";
  pemx.dir().write("productevents.json", text);
  const std::vector<std::string> import_args = {
      "import", pemx.dir().file("productevents.json"), "--config",
      pemx.dir().file("pemx.toml"), "--set", "store.path=" + pemx.db_path()};

  RunResult first = run(PEMX_BINARY, import_args);
  INFO(first.err);
  CHECK(first.code == 3);  // done, some lines rejected
  CHECK_THAT(first.err, Catch::Contains("10 lines read, 4 imported, 2 already present, "
                                        "4 rejected"));
  CHECK_THAT(first.err, Catch::Contains("rejected invalid_json: 1 (line 6)"));
  CHECK_THAT(first.err, Catch::Contains("rejected bad_uuid: 1 (line 7)"));
  CHECK_THAT(first.err, Catch::Contains("rejected missing_event_id: 1 (line 8)"));
  CHECK_THAT(first.err, Catch::Contains("rejected unknown_operator: 1 (line 9)"));
  CHECK_THAT(first.err, Catch::Contains("\"$timestamp\""));

  auto& web = pemx.start("web", {"--set", "kafka.brokers=" + brokers});
  auto port = wait_port(web);
  check_history(port);

  // Again, while the web role holds the same file open: nothing new, nothing changed.
  RunResult second = run(PEMX_BINARY, import_args);
  INFO(second.err);
  CHECK(second.code == 3);
  CHECK_THAT(second.err, Catch::Contains("10 lines read, 0 imported, 6 already present, "
                                         "4 rejected"));
  check_history(port);

  // Only the good lines, from standard input: all present, exit 0.
  std::string good;
  for (int i : {0, 1, 2, 3, 4, 9}) good += std::string(kExport[i]) + "\n";
  std::vector<std::string> stdin_args = import_args;
  stdin_args[1] = "-";
  RunResult third = run(PEMX_BINARY, stdin_args, good);
  INFO(third.err);
  CHECK(third.code == 0);
  CHECK_THAT(third.err, Catch::Contains("6 lines read, 0 imported, 6 already present, 0 rejected"));

  web.signal(SIGTERM);
  CHECK(web.wait(60s) == 0);
}
