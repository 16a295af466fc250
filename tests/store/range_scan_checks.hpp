#pragma once
// The range scan (EventReader::scan, `pemx replay`) checked the same way on every backend:
// rows written through the backend, then read back by time range, by product and in keyset
// pages. Each backend's test calls check_range_scan on a fresh, empty store.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "store/backend.hpp"

namespace pemx::store::test {

inline EventRow scan_row(const std::string& id, const std::string& product, std::int64_t ms) {
  EventRow r;
  r.event_id = id;
  r.event_type = "ProductPriceUpdate";
  r.product_id = product;
  r.region = "EU";
  r.created_at = "at-" + std::to_string(ms);
  r.created_ms = ms;
  r.data_json = "{}";
  r.raw_json = R"({"eventId":")" + id + R"(","productId":")" + product + "\"}";
  r.source_topic = "storage";
  r.source_partition = 2;
  r.source_offset = ms * 10;
  r.stored_at_ms = 1'700'000'000'000;
  return r;
}

inline std::vector<std::string> scan_ids(EventReader& reader, RangeScan scan) {
  std::vector<std::string> out;
  for (int pages = 0; pages < 100; ++pages) {
    auto page = reader.scan(scan);
    INFO((page ? "" : page.error().message));
    REQUIRE(page);
    for (const auto& e : page.value()) out.push_back(e.event_id);
    if (page.value().size() < scan.limit) return out;
    scan.after_ms = page.value().back().created_ms;
    scan.after_id = page.value().back().event_id;
  }
  FAIL("the scan did not end within 100 pages");
  return out;
}

inline void check_range_scan(Backend& backend) {
  // Ties on created_ms (b1/b2/a2 at 2000) are ordered by event_id; rows written out of order.
  std::vector<EventRow> rows = {scan_row("e5", "P2", 5000), scan_row("b2", "P1", 2000),
                                scan_row("e1", "P1", 1000), scan_row("a2", "P3", 2000),
                                scan_row("b1", "P2", 2000), scan_row("e3", "P1", 3000),
                                scan_row("e9", "P1", 9000)};
  REQUIRE(backend.write_batch(rows));
  auto reader = backend.reader();

  RangeScan all;
  all.from_ms = 0;
  all.to_ms = 100000;
  CHECK(scan_ids(*reader, all) ==
        std::vector<std::string>{"e1", "a2", "b1", "b2", "e3", "e5", "e9"});

  // [from, to): from inclusive, to exclusive.
  RangeScan range = all;
  range.from_ms = 2000;
  range.to_ms = 5000;
  CHECK(scan_ids(*reader, range) == std::vector<std::string>{"a2", "b1", "b2", "e3"});

  // Keyset pages of 2 and of 1 return the same rows, none twice, across the tie.
  for (std::size_t limit : {1, 2, 3}) {
    RangeScan paged = all;
    paged.limit = limit;
    INFO("page size " << limit);
    CHECK(scan_ids(*reader, paged) ==
          std::vector<std::string>{"e1", "a2", "b1", "b2", "e3", "e5", "e9"});
  }

  // Products.
  RangeScan some = all;
  some.product_ids = {"P2", "P3"};
  CHECK(scan_ids(*reader, some) == std::vector<std::string>{"a2", "b1", "e5"});
  some.product_ids = {"P1"};
  some.limit = 2;
  CHECK(scan_ids(*reader, some) == std::vector<std::string>{"e1", "b2", "e3", "e9"});

  // What a row carries: the event as received and where it came from.
  RangeScan one = all;
  one.from_ms = 3000;
  one.to_ms = 3001;
  auto page = reader->scan(one);
  REQUIRE(page);
  REQUIRE(page.value().size() == 1);
  const ArchivedEvent& e = page.value()[0];
  CHECK(e.event_id == "e3");
  CHECK(e.product_id == "P1");
  CHECK(e.created_ms == 3000);
  CHECK(e.raw_json == R"({"eventId":"e3","productId":"P1"})");
  CHECK(e.source_topic == "storage");
  CHECK(e.source_partition == 2);
  CHECK(e.source_offset == 30000);

  // An empty range, and a bad limit.
  RangeScan empty = all;
  empty.from_ms = empty.to_ms = 2000;
  auto none = reader->scan(empty);
  REQUIRE(none);
  CHECK(none.value().empty());
  RangeScan zero = all;
  zero.limit = 0;
  auto bad = reader->scan(zero);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == "bad_query");
}

}  // namespace pemx::store::test
