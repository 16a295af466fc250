// fit_dead_letter: whatever an event holds, its dead letter can be produced.
#include "event/dead_letter.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace pemx::event {
namespace {

std::size_t message_size(const std::string& value, const std::string& key,
                         const std::vector<Header>& headers) {
  std::size_t n = value.size() + key.size();
  for (const auto& h : headers) n += h.name.size() + h.value.size();
  return n;
}

const Header* find(const std::vector<Header>& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (h.name == name) return &h;
  }
  return nullptr;
}

TEST_CASE("a dead letter that fits goes as received", "[unit][event][dead_letter]") {
  std::string value(500, 'v'), key = "K";
  std::vector<Header> headers = {{"pemx-dlq-reason", "invalid_event"}};
  fit_dead_letter(value, key, headers, {64, 1000});
  CHECK(value == std::string(500, 'v'));
  CHECK(key == "K");
  CHECK(headers.size() == 1);
}

TEST_CASE("a value too large with its key and headers is cut to half the limit, and says so",
          "[unit][event][dead_letter]") {
  std::string value(990, 'v'), key = "0123456789";
  std::vector<Header> headers = {{"pemx-dlq-reason", "event_too_large"}};
  fit_dead_letter(value, key, headers, {64, 1000});
  CHECK(value == std::string(500, 'v'));
  REQUIRE(find(headers, kHeaderOriginalBytes));
  CHECK(find(headers, kHeaderOriginalBytes)->value == "990");
}

TEST_CASE("headers taken from the event and an oversized key are cut too",
          "[unit][event][dead_letter]") {
  // Found in review: a 600 KB eventId (invalid_event) or eventType (unknown_event_type)
  // became a 600 KB header next to the 600 KB value, and a 990 KB Kafka key came along whole:
  // the producer refused the dead letter and the stage stopped, at every restart.
  const JsonLimits limits{};  // 900,000 bytes
  std::string big_id(600'000, 'i');
  std::string value = R"({"eventId":")" + big_id + R"("})";
  std::string key(990'000, 'k');
  std::vector<Header> headers = {{"pemx-event-id", big_id},
                                 {"pemx-event-type", std::string(300'000, 't')},
                                 {"pemx-dlq-reason", "invalid_event"},
                                 {"pemx-dlq-detail", "eventId: Event ID must be a valid UUID"}};
  fit_dead_letter(value, key, headers, limits);
  CHECK(message_size(value, key, headers) <= limits.max_bytes + kHeaderAllowance);
  CHECK(key.size() == kMaxDeadLetterKey);
  REQUIRE(find(headers, kHeaderOriginalKeyBytes));
  CHECK(find(headers, kHeaderOriginalKeyBytes)->value == "990000");
  CHECK(find(headers, "pemx-event-id")->value.size() <= kMaxDeadLetterHeader + 3);  // "…"
  CHECK(find(headers, "pemx-dlq-detail")->value == "eventId: Event ID must be a valid UUID");
  // Every case fits whatever the sizes, down to the smallest limit.
  for (std::size_t max : {256u, 4096u, 900'000u}) {
    for (std::size_t n : {0u, 100u, 10'000u, 2'000'000u}) {
      std::string v(n, 'v'), k(n, 'k');
      std::vector<Header> h = {{"pemx-event-type", std::string(n, 't')}};
      fit_dead_letter(v, k, h, {64, max});
      CHECK(message_size(v, k, h) <= max + kHeaderAllowance);
    }
  }
}

}  // namespace
}  // namespace pemx::event
