// ISO 8601 to epoch milliseconds and back, the way JS Date writes them (the reference's
// history answer).
#include "event/time.hpp"

#include <catch2/catch.hpp>

using namespace pemx::event;

TEST_CASE("epoch milliseconds are written as JS Date.toISOString", "[unit][event][time]") {
  CHECK(epoch_ms_to_iso8601(0) == "1970-01-01T00:00:00.000Z");
  CHECK(epoch_ms_to_iso8601(1722004877500) == "2024-07-26T14:41:17.500Z");
  CHECK(epoch_ms_to_iso8601(951782400000) == "2000-02-29T00:00:00.000Z");  // leap day
  CHECK(epoch_ms_to_iso8601(-1) == "1969-12-31T23:59:59.999Z");              // floor, not zero
  CHECK(epoch_ms_to_iso8601(253402300799999) == "9999-12-31T23:59:59.999Z");
  CHECK(epoch_ms_to_iso8601(253402300800000) == "+010000-01-01T00:00:00.000Z");
  CHECK(epoch_ms_to_iso8601(-62167219200000) == "0000-01-01T00:00:00.000Z");
  CHECK(epoch_ms_to_iso8601(-62167219200001) == "-000001-12-31T23:59:59.999Z");
}

TEST_CASE("an ISO 8601 text reads back as the same instant", "[unit][event][time]") {
  for (const char* text : {"2024-07-26T14:41:17.123Z", "1999-12-31T23:59:59.999Z",
                           "2024-02-29T00:00:00.000Z", "1970-01-01T00:00:00.000Z"}) {
    INFO(text);
    auto ms = iso8601_to_epoch_ms(text);
    REQUIRE(ms);
    CHECK(epoch_ms_to_iso8601(*ms) == text);
  }
  CHECK(iso8601_to_epoch_ms("0000-01-01T00:30:00+01:00") == -62167219200000 - 1'800'000);
  CHECK(epoch_ms_to_iso8601(*iso8601_to_epoch_ms("0000-01-01T00:30:00+01:00")) ==
        "-000001-12-31T23:30:00.000Z");
}
