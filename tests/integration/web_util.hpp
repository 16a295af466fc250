#pragma once
// Helpers shared by the integration tests of the web role and the page.
#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "support/http_client.hpp"
#include "support/json.hpp"
#include "support/process.hpp"

namespace pemx::test {

using namespace std::chrono_literals;

inline std::string event_id(int n) {
  char id[40];
  std::snprintf(id, sizeof id, "7a2b3c4d-2222-4bbb-9ccc-%012d", n);
  return id;
}

inline std::string event_json(int n, const std::string& product, const std::string& created_at) {
  return R"({"eventId":")" + event_id(n) +
         R"(","eventType":"ProductPriceUpdate","productId":")" + product +
         R"(","region":"EU","createdAt":")" + created_at +
         R"(","data":{"newPrice":)" + std::to_string(n) + R"(,"previousPrice":1}})";
}

inline std::string created_at(int n) {  // distinct, increasing with n
  char buf[40];
  std::snprintf(buf, sizeof buf, "2024-07-26T%02d:%02d:%02d.000Z", n / 3600 % 24, n / 60 % 60,
                n % 60);
  return buf;
}

// A POST /event body of `count` events of `product`, numbered from `first`.
inline std::string push_body(int first, int count, const std::string& product) {
  std::string body = R"({"events":[)";
  for (int i = 0; i < count; ++i) {
    body += (i ? "," : "") + event_json(first + i, product, created_at(first + i));
  }
  return body + "]}";
}

inline std::uint16_t wait_port(Process& p, std::size_t nth = 0,
                               std::chrono::seconds timeout = 60s) {
  REQUIRE(p.wait_for_log("\"msg\":\"listening\"", timeout));
  for (int i = 0; i < 50; ++i) {
    if (auto port = listening_port(p.log(), nth)) return port;
    std::this_thread::sleep_for(100ms);
  }
  FAIL("no listening port in the log");
  return 0;
}

// GETs until `expected` events are stored for the products (bounded).
inline rapidjson::Document wait_history(std::uint16_t port, const std::string& ids,
                                        std::size_t expected, std::chrono::seconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  rapidjson::Document d;
  while (std::chrono::steady_clock::now() < until) {
    auto r = http_get(port, "/event?productIds=" + ids);
    if (r.status == 200) {
      d = parse_json(r.body);
      if (d.Size() >= expected) return d;
    }
    std::this_thread::sleep_for(200ms);
  }
  return d;
}

}  // namespace pemx::test
