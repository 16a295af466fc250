// The HTTP half of the compatibility suite: the old React page's exact requests, as a browser
// sends them from the page's origin (http://localhost:3000) to the API on another port, against
// the real pemx binary (role all) on the real broker, with the status, headers and body the
// original (Express + express-validator 7) gave, as ../shared/reference-behaviour.md records
// them; and PEMX's JSON receipt for a client that asks for it (Prefer: return=representation).
#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <map>
#include <set>
#include <string>

#include "integration/pemx_runner.hpp"
#include "integration/web_util.hpp"
#include "support/http_client.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

const std::string kOrigin = "http://localhost:3000";

// A request as Chromium sends it from the page's origin (axios's Accept, the page's Referer,
// the Fetch metadata), with Connection: close so that the client reads exactly one answer (a
// 204 has no Content-Length to end it otherwise).
std::string browser_request(const std::string& method, const std::string& target,
                            std::uint16_t port, const std::string& extra = "",
                            const std::string& body = "") {
  std::string raw = method + " " + target + " HTTP/1.1\r\n" + "Host: localhost:" +
                    std::to_string(port) + "\r\nConnection: close\r\n" + extra +
                    "Origin: " + kOrigin + "\r\nReferer: " + kOrigin +
                    "/\r\n"
                    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
                    "Gecko) Chrome/126.0.0.0 Safari/537.36\r\n"
                    "Sec-Fetch-Site: same-site\r\nSec-Fetch-Mode: cors\r\nSec-Fetch-Dest: empty\r\n"
                    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
                    "Accept-Language: en-US,en;q=0.9\r\n";
  if (method == "POST") raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return raw + "\r\n" + body;
}

HttpResponse page_get(std::uint16_t port, const std::string& target) {
  return http_raw(port, browser_request("GET", target, port,
                                        "Accept: application/json, text/plain, */*\r\n"));
}

HttpResponse page_post(std::uint16_t port, const std::string& body,
                       const std::string& extra = "") {
  return http_raw(port, browser_request("POST", "/event", port,
                                        "Accept: application/json, text/plain, */*\r\n"
                                        "Content-Type: application/json\r\n" + extra,
                                        body));
}

// The CORS answer the page's origin needs on every response it reads.
void check_cors(const HttpResponse& r) {
  CHECK(r.headers.count("access-control-allow-origin") == 1);
  if (r.headers.count("access-control-allow-origin") == 1) {
    CHECK(r.headers.at("access-control-allow-origin") == kOrigin);
  }
}

std::string header(const HttpResponse& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : it->second;
}

const std::string kOutOfLimit =
    R"("msg":"Events out of the limit, between 1 and 200 events can be pushed at a time",)"
    R"("path":"events","location":"body"})";

// The body of a 400 for `events` present but not an array of 1 to 200: only the limit rule,
// with the whole value.
std::string out_of_limit(const std::string& value_json) {
  return R"({"errors":[{"type":"field","value":)" + value_json + "," + kOutOfLimit + "]}";
}

}  // namespace

TEST_CASE("compat: the old page's requests answer as the original's did", "[integration][compat]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 3);
  PemxRunner pemx(prefixed_config(p));
  auto& proc = pemx.start("all", {"--set", "kafka.brokers=" + brokers});
  auto port = wait_port(proc);
  // One pemx for every case (blocks, not SECTIONs: a SECTION would start it again for each).

  {  // the CORS preflight of the page's POST
    for (const std::string requested : {"content-type", "content-type,prefer"}) {
      INFO(requested);
      auto pre = http_raw(port, browser_request("OPTIONS", "/event", port,
                                                "Accept: */*\r\n"
                                                "Access-Control-Request-Method: POST\r\n"
                                                "Access-Control-Request-Headers: " +
                                                    requested + "\r\n"));
      CHECK(pre.status == 204);
      check_cors(pre);
      CHECK(header(pre, "access-control-allow-methods").find("POST") != std::string::npos);
      CHECK(header(pre, "access-control-allow-headers").find("Content-Type") !=
            std::string::npos);
      CHECK(header(pre, "access-control-allow-headers").find("Prefer") != std::string::npos);
    }
  }

  {  // Search with no chip, or only blanks: 200 []
    for (const char* target : {"/event?productIds=", "/event?productIds=,%20,"}) {
      INFO(target);
      auto r = page_get(port, target);
      CHECK(r.status == 200);
      CHECK(r.body == "[]");
      CHECK(header(r, "content-type") == "application/json");
      check_cors(r);
    }
  }

  {  // no productIds parameter: the 400 the original meant
    auto r = page_get(port, "/event");
    CHECK(r.status == 400);
    CHECK(r.body == R"({"errors":[{"type":"field","msg":"Product Id is missing in query",)"
                    R"("path":"productIds","location":"query"}]})");
    check_cors(r);
  }

  {  // 201 product ids: the original's text, misspelling included
    std::string ids;
    for (int i = 0; i < 201; ++i) ids += (i ? "," : "") + std::string("P") + std::to_string(i);
    auto r = page_get(port, "/event?productIds=" + ids);
    CHECK(r.status == 400);
    CHECK(r.body == R"({"errors":[{"type":"field","value":")" + ids +
                        R"(","msg":"Product ids out of the limit, must be between 1 and 200 )"
                        R"(product ids at a time and should be comma seprated",)"
                        R"("path":"productIds","location":"query"}]})");
    check_cors(r);
  }

  {  // the events rule chain
    // Absent: both rules fail, no value.
    for (const char* body : {"{}", R"({"event":[]})"}) {
      INFO(body);
      auto r = page_post(port, body);
      CHECK(r.status == 400);
      CHECK(r.body == R"({"errors":[{"type":"field","msg":"Zero events entered","path":"events",)"
                      R"("location":"body"},{"type":"field",)" + kOutOfLimit + "]}");
      check_cors(r);
    }
    // Present but not an array of 1 to 200: only the limit, with the whole value.
    std::string many = "[";
    for (int i = 0; i < 201; ++i) {
      many += (i ? "," : "") + event_json(i, "CHAIN", created_at(i));
    }
    many += "]";
    for (const std::string& value : {std::string("[]"), std::string("{}"),
                                     std::string(R"("abc")"), std::string("null"), many}) {
      INFO(value.substr(0, 60));
      auto r = page_post(port, R"({"events":)" + value + "}");
      CHECK(r.status == 400);
      CHECK(r.body == out_of_limit(value));
      check_cors(r);
    }
    // Per event: the original's messages, unchanged.
    auto r = page_post(port, R"({"events":[{"eventId":"x","eventType":"Country"}]})");
    CHECK(r.status == 400);
    CHECK(r.body == R"({"errors":[)"
                    R"({"type":"field","value":"x","msg":"Event ID must be a valid UUID",)"
                    R"("path":"events[0].eventId","location":"body"},)"
                    R"({"type":"field","msg":"Product ID is required",)"
                    R"("path":"events[0].productId","location":"body"},)"
                    R"({"type":"field","msg":"Region is required",)"
                    R"("path":"events[0].region","location":"body"},)"
                    R"({"type":"field","msg":"Created at must be a valid ISO 8601 date",)"
                    R"("path":"events[0].createdAt","location":"body"}]})");
  }

  {  // a valid push: the original's text 201; with Prefer, the JSON receipt
    auto text = page_post(port, R"({"events":[)" + event_json(1, "PUSHA", created_at(1)) + "]}");
    CHECK(text.status == 201);
    CHECK(text.body == "Events pushed to the queue successfully");
    CHECK(header(text, "content-type") == "text/html; charset=utf-8");
    CHECK(header(text, "vary").find("Prefer") != std::string::npos);
    CHECK(header(text, "vary").find("Origin") != std::string::npos);
    CHECK(text.headers.count("preference-applied") == 0);
    check_cors(text);

    auto receipt = page_post(port,
                             R"({"events":[)" + event_json(2, "PUSHB", created_at(2)) + "," +
                                 event_json(3, "PUSHC", created_at(3)) + "]}",
                             "Prefer: respond-async, RETURN=representation; x=\"a,b\"\r\n");
    CHECK(receipt.status == 201);
    CHECK(header(receipt, "content-type") == "application/json");
    CHECK(header(receipt, "preference-applied") == "return=representation");
    CHECK(header(receipt, "vary").find("Prefer") != std::string::npos);
    CHECK(header(receipt, "access-control-expose-headers").find("Preference-Applied") !=
          std::string::npos);
    check_cors(receipt);
    rapidjson::Document d;
    d.Parse(receipt.body.c_str());
    const bool shaped = d.IsObject() && d.HasMember("count") && d.HasMember("events") &&
                        d["events"].IsArray();
    CHECK(shaped);
    // Not REQUIRE: the cases below run whatever this one found.
    if (!shaped) d.Parse(R"({"count":0,"events":[]})");
    CHECK(d["count"].GetInt() == 2);
    CHECK(d["events"].Size() == 2);
    for (const auto& e : d["events"].GetArray()) {
      CHECK(std::string(e["topic"].GetString()) == p + "-product-event");
      CHECK(e["partition"].GetInt() >= 0);
      CHECK(e["partition"].GetInt() < 3);
      CHECK(e["offset"].GetInt64() >= 0);
    }
    // Each entry names where its event is: the message at that partition and offset is the
    // event pushed at that place in the request (PUSHA's text push made the third message).
    std::map<std::pair<std::int32_t, std::int64_t>, std::string> at;
    for (const auto& m : consume_all(brokers, p + "-product-event", 3, 60s)) {
      at[{m.partition, m.offset}] = json_field(m.value, "eventId");
    }
    const std::string pushed[] = {event_id(2), event_id(3)};
    for (rapidjson::SizeType i = 0; i < d["events"].Size() && i < 2; ++i) {
      const auto& e = d["events"][i];
      CHECK(at[{e["partition"].GetInt(), e["offset"].GetInt64()}] == pushed[i]);
    }
    // Both pushes were produced: the text answer is no less acknowledged.
    auto stored = wait_history(port, "PUSHA,PUSHB,PUSHC", 3, 120s);
    CHECK(stored.Size() == 3);
  }

  {  // history: createdAt as the stored instant in UTC with milliseconds
    const std::string body = R"({"events":[)" +
                             event_json(10, "TIMEA", "2024-07-26T16:41:17.5+02:00") + "," +
                             event_json(11, "TIMEA", "2024-07-26T14:41:18.123999Z") + "," +
                             event_json(12, "TIMEA", "2024-07-26T14:41:16Z") + "]}";
    REQUIRE(page_post(port, body).status == 201);
    REQUIRE(wait_history(port, "TIMEA", 3, 120s).Size() == 3);
    auto r = page_get(port, "/event?productIds=TIMEA");
    CHECK(r.status == 200);
    check_cors(r);
    auto d = parse_json(r.body);
    REQUIRE(d.Size() == 3);
    std::vector<std::string> got;
    for (const auto& e : d.GetArray()) got.push_back(e["createdAt"].GetString());
    // Newest first, each normalised.
    CHECK(got == std::vector<std::string>{"2024-07-26T14:41:18.123Z", "2024-07-26T14:41:17.500Z",
                                          "2024-07-26T14:41:16.000Z"});
  }

  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}
