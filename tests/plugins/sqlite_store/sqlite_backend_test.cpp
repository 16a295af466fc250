// SqliteEventStore (writer) and SqliteEventReader on real files: idempotent batches, history
// order across offsets, paging with the keyset cursor, filters, errors, WAL concurrency and
// readiness.
#include "sqlite_store/sqlite_backend.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "event/time.hpp"
#include "plugins/sqlite_store/store_fixtures.hpp"
#include "plugins/sqlite_store/temp_dir.hpp"
#include "store/cursor.hpp"

namespace pemx::sqlite_store {
namespace {

using Catch::Matchers::Contains;
using test::make_row;
using test::RawDb;
using test::TempDir;
using test::uuid;
using namespace std::chrono_literals;

std::unique_ptr<SqliteEventStore> open_store(const std::string& path,
                                             std::chrono::milliseconds busy = 2000ms) {
  StoreOptions o;
  o.path = path;
  o.busy_timeout = busy;
  o.reader_connections = 3;
  auto store = SqliteEventStore::open(o);
  if (!store.ok()) FAIL(store.error().message);
  return std::move(store.value());
}

std::vector<std::string> ids(const EventPage& page) {
  std::vector<std::string> out;
  for (const auto& e : page.events) out.push_back(e.event_id);
  return out;
}

EventQuery products(std::vector<std::string> product_ids, std::size_t limit = 1000) {
  EventQuery q;
  q.product_ids = std::move(product_ids);
  q.limit = limit;
  return q;
}

TEST_CASE("the same eventId is stored once; repeats count as duplicates", "[unit][sqlite_store]") {
  TempDir dir;
  auto store = open_store(dir.file("idem.db"));
  std::vector<EventRow> first = {make_row(uuid(1), "P1", "2024-01-01T00:00:00Z"),
                                 make_row(uuid(2), "P1", "2024-01-01T00:00:01Z")};
  auto a = store->write_batch(first);
  REQUIRE(a.ok());
  CHECK(a.value().stored == 2);
  CHECK(a.value().duplicates == 0);

  RawDb raw(dir.file("idem.db"));
  SECTION("redelivered in a later batch") {
    std::vector<EventRow> again = {make_row(uuid(1), "P1", "2024-01-01T00:00:00Z"),
                                   make_row(uuid(3), "P1", "2024-01-01T00:00:02Z")};
    auto b = store->write_batch(again);
    REQUIRE(b.ok());
    CHECK(b.value().stored == 1);
    CHECK(b.value().duplicates == 1);
    CHECK(raw.integer("SELECT count(*) FROM events") == 3);
    CHECK(raw.integer("SELECT count(*) FROM events WHERE event_id = '" + uuid(1) + "'") == 1);
  }
  SECTION("repeated inside one batch") {
    std::vector<EventRow> twice = {make_row(uuid(3), "P1", "2024-01-01T00:00:02Z"),
                                   make_row(uuid(3), "P1", "2024-01-01T00:00:02Z")};
    auto b = store->write_batch(twice);
    REQUIRE(b.ok());
    CHECK(b.value().stored == 1);
    CHECK(b.value().duplicates == 1);
    CHECK(raw.integer("SELECT count(*) FROM events") == 3);
  }
  SECTION("a redelivery never changes the stored row") {
    std::vector<EventRow> changed = {make_row(uuid(1), "P9", "2030-01-01T00:00:00Z")};
    auto b = store->write_batch(changed);
    REQUIRE(b.ok());
    CHECK(b.value().stored == 0);
    CHECK(b.value().duplicates == 1);
    CHECK(raw.integer("SELECT count(*) FROM events") == 2);
    auto page = store->reader()->query(products({"P1"}));
    REQUIRE(page.ok());
    CHECK(page->events.back().created_at == "2024-01-01T00:00:00Z");
  }
  SECTION("an empty batch is a no-op") {
    auto b = store->write_batch({});
    REQUIRE(b.ok());
    CHECK(b.value().stored == 0);
    CHECK(b.value().duplicates == 0);
  }
}

TEST_CASE("prune deletes the oldest events before the cutoff, at most its limit at a time",
          "[unit][sqlite_store][retention]") {
  TempDir dir;
  auto store = open_store(dir.file("prune.db"));
  std::vector<EventRow> rows = {make_row(uuid(1), "P1", "2024-01-01T00:00:00Z"),
                                make_row(uuid(2), "P2", "2024-01-02T00:00:00Z"),
                                make_row(uuid(3), "P1", "2024-01-03T00:00:00Z"),
                                make_row(uuid(4), "P1", "2024-01-05T00:00:00Z")};
  REQUIRE(store->write_batch(rows));
  const std::int64_t jan4 = 1'704'326'400'000;  // 2024-01-04T00:00:00Z
  auto first = store->prune(jan4, 2);
  REQUIRE(first);
  CHECK(first.value() == 2);  // the two oldest
  CHECK(ids(store->reader()->query(products({"P1", "P2"})).value()) ==
        std::vector<std::string>{uuid(4), uuid(3)});
  auto second = store->prune(jan4, 2);
  REQUIRE(second);
  CHECK(second.value() == 1);  // fewer than the limit: none older is left
  CHECK(store->prune(jan4, 2).value() == 0);
  CHECK(ids(store->reader()->query(products({"P1", "P2"})).value()) ==
        std::vector<std::string>{uuid(4)});
  // A pruned event that arrives again is stored again (the store keeps no tombstone).
  REQUIRE(store->write_batch(std::vector<EventRow>{rows[0]}).value().stored == 1);
}

TEST_CASE("a batch reports which of its rows it inserted", "[unit][sqlite_store]") {
  TempDir dir;
  auto store = open_store(dir.file("inserted.db"));
  std::vector<EventRow> batch = {make_row(uuid(1), "P1", "2024-01-01T00:00:00Z"),
                                 make_row(uuid(2), "P1", "2024-01-01T00:00:01Z"),
                                 make_row(uuid(1), "P1", "2024-01-01T00:00:00Z")};
  auto a = store->write_batch(batch);
  REQUIRE(a.ok());
  CHECK(a.value().inserted == std::vector<std::size_t>{0, 1});  // the repeat of row 0 is not

  // The whole batch again (a redelivery): nothing is new.
  auto b = store->write_batch(batch);
  REQUIRE(b.ok());
  CHECK(b.value().inserted.empty());
  CHECK(b.value().duplicates == 3);

  // Old and new mixed: only the new rows, by their place in this batch.
  std::vector<EventRow> mixed = {make_row(uuid(2), "P1", "2024-01-01T00:00:01Z"),
                                 make_row(uuid(3), "P1", "2024-01-01T00:00:02Z"),
                                 make_row(uuid(1), "P1", "2024-01-01T00:00:00Z"),
                                 make_row(uuid(4), "P1", "2024-01-01T00:00:03Z")};
  auto c = store->write_batch(mixed);
  REQUIRE(c.ok());
  CHECK(c.value().inserted == std::vector<std::size_t>{1, 3});
  CHECK(c.value().stored == c.value().inserted.size());
}

TEST_CASE("every column is stored as mapped", "[unit][sqlite_store]") {
  TempDir dir;
  const std::string path = dir.file("cols.db");
  auto store = open_store(path);
  std::vector<EventRow> rows = {
      make_row(uuid(5), "AB12CD34EF", "2024-07-26T16:41:17.123+02:00", "Country", 77)};
  REQUIRE(store->write_batch(rows).ok());

  auto page = store->reader()->query(products({"AB12CD34EF"}));
  REQUIRE(page.ok());
  REQUIRE(page->events.size() == 1);
  const StoredEvent& e = page->events[0];
  CHECK(e.event_id == uuid(5));
  CHECK(e.event_type == "Country");
  CHECK(e.product_id == "AB12CD34EF");
  CHECK(e.region == "US");
  CHECK(e.created_at == "2024-07-26T16:41:17.123+02:00");
  CHECK(e.data_json == R"({"newPrice":7.31,"previousPrice":2.05})");
  CHECK_FALSE(page->next_cursor);

  RawDb raw(path);
  CHECK(raw.integer("SELECT created_ms FROM events") == 1'722'004'877'123);
  CHECK(raw.integer("SELECT source_offset FROM events") == 77);
  CHECK(raw.integer("SELECT source_partition FROM events") == 0);
  CHECK(raw.integer("SELECT stored_at_ms FROM events") == 1'700'000'000'000);
  CHECK(raw.integer("SELECT raw_json = '" + rows[0].raw_json + "' FROM events") == 1);
  CHECK(raw.integer("SELECT source_topic = 'product-event-storage-pemx' FROM events") == 1);
}

TEST_CASE("find_event: the row of one eventId with its storage coordinates, or none",
          "[unit][sqlite_store][lineage]") {
  TempDir dir;
  auto store = open_store(dir.file("find.db"));
  std::vector<EventRow> rows = {
      make_row(uuid(5), "AB12CD34EF", "2024-07-26T16:41:17.123+02:00", "Country", 77),
      make_row(uuid(6), "AB12CD34EF", "2024-07-26T16:41:18Z", "Country", 78)};
  REQUIRE(store->write_batch(rows).ok());
  auto found = store->reader()->find_event(uuid(5));
  REQUIRE(found.ok());
  REQUIRE(found.value().has_value());
  const StoredRow& r = *found.value();
  CHECK(r.event.event_id == uuid(5));
  CHECK(r.event.event_type == "Country");
  CHECK(r.event.product_id == "AB12CD34EF");
  CHECK(r.event.created_at == "2024-07-26T16:41:17.123+02:00");
  CHECK(r.event.data_json == R"({"newPrice":7.31,"previousPrice":2.05})");
  CHECK(r.raw_json == rows[0].raw_json);
  CHECK(r.source_topic == "product-event-storage-pemx");
  CHECK(r.source_partition == 0);
  CHECK(r.source_offset == 77);
  CHECK(r.stored_at_ms == 1'700'000'000'000);
  auto none = store->reader()->find_event(uuid(7));
  REQUIRE(none.ok());
  CHECK_FALSE(none.value().has_value());
}

TEST_CASE("history is newest first by instant, across offsets; ties by eventId descending",
          "[unit][sqlite_store]") {
  TempDir dir;
  auto store = open_store(dir.file("order.db"));
  std::vector<EventRow> rows = {
      make_row(uuid(1), "P1", "2024-01-01T10:00:00+02:00"),  // 08:00Z
      make_row(uuid(2), "P1", "2024-01-01T09:00:00Z"),       // 09:00Z
      make_row(uuid(3), "P1", "2024-01-01T08:30:00-01:00"),  // 09:30Z
      make_row(uuid(4), "P1", "2024-01-01T04:00:00-05:00"),  // 09:00Z, same instant as 2
      make_row(uuid(5), "P2", "2024-01-01T09:15:00Z"),       // another product
      make_row(uuid(6), "P3", "2025-01-01T00:00:00Z"),       // not asked for
  };
  REQUIRE(store->write_batch(rows).ok());

  auto one = store->reader()->query(products({"P1"}));
  REQUIRE(one.ok());
  CHECK(ids(one.value()) == std::vector<std::string>{uuid(3), uuid(4), uuid(2), uuid(1)});

  auto two = store->reader()->query(products({"P1", "P2"}));
  REQUIRE(two.ok());
  CHECK(ids(two.value()) == std::vector<std::string>{uuid(3), uuid(5), uuid(4), uuid(2), uuid(1)});

  auto repeated = store->reader()->query(products({"P2", "P2", "nobody"}));
  REQUIRE(repeated.ok());
  CHECK(ids(repeated.value()) == std::vector<std::string>{uuid(5)});

  auto none = store->reader()->query(products({"nobody"}));
  REQUIRE(none.ok());
  CHECK(none->events.empty());
  CHECK_FALSE(none->next_cursor);
}

TEST_CASE("recent products: the most recently stored first, each once, with its newest createdAt",
          "[unit][sqlite_store]") {
  TempDir dir;
  auto store = open_store(dir.file("recent.db"));
  auto empty = store->reader()->recent_products(10);
  REQUIRE(empty.ok());
  CHECK(empty->empty());
  // Stored in this order; P1's newest event by createdAt is not its last stored one.
  std::vector<EventRow> first = {make_row(uuid(1), "P1", "2024-01-01T10:00:00Z"),
                                 make_row(uuid(2), "P2", "2024-01-01T09:00:00Z")};
  std::vector<EventRow> second = {make_row(uuid(3), "P3", "2024-01-01T08:00:00Z"),
                                  make_row(uuid(4), "P1", "2023-06-01T00:00:00Z")};
  REQUIRE(store->write_batch(first).ok());
  REQUIRE(store->write_batch(second).ok());
  auto recent = store->reader()->recent_products(10);
  REQUIRE(recent.ok());
  REQUIRE(recent->size() == 3);
  CHECK(recent.value()[0].product_id == "P1");
  CHECK(recent.value()[0].last_created_at == "2024-01-01T10:00:00Z");
  CHECK(recent.value()[1].product_id == "P3");
  CHECK(recent.value()[2].product_id == "P2");
  CHECK(recent.value()[2].last_created_at == "2024-01-01T09:00:00Z");

  auto two = store->reader()->recent_products(2);
  REQUIRE(two.ok());
  CHECK(two->size() == 2);
  CHECK(store->reader()->recent_products(0).error().code == "bad_query");
  CHECK(store->reader()->recent_products(kMaxRecentProducts + 1).error().code == "bad_query");
}

TEST_CASE("count: the events a history query matches, whatever its limit and cursor",
          "[unit][sqlite_store]") {
  TempDir dir;
  auto store = open_store(dir.file("count.db"));
  std::vector<EventRow> rows;
  for (int i = 0; i < 30; ++i) {
    rows.push_back(make_row(uuid(i + 1), i % 3 == 0 ? "P2" : "P1",
                            "2024-01-01T00:00:" + std::string(i < 10 ? "0" : "") +
                                std::to_string(i) + "Z",
                            i % 2 == 0 ? "Country" : "ProductPriceUpdate"));
  }
  REQUIRE(store->write_batch(rows).ok());
  auto all = store->reader()->count(products({"P1", "P2", "nobody"}, 1));
  REQUIRE(all.ok());
  CHECK(all->count == 30);
  CHECK_FALSE(all->capped);
  CHECK(store->reader()->count(products({"P2"})).value().count == 10);
  EventQuery typed = products({"P1"});
  typed.event_type = "Country";
  CHECK(store->reader()->count(typed).value().count == 10);  // i = 2, 4, 8, … not divisible by 3
  EventQuery late = products({"P1", "P2"});
  late.from_ms = event::iso8601_to_epoch_ms("2024-01-01T00:00:20Z").value();
  CHECK(store->reader()->count(late).value().count == 10);
  CHECK(store->reader()->count(products({"nobody"})).value().count == 0);
}

TEST_CASE("product ids are data, never SQL", "[unit][sqlite_store]") {
  TempDir dir;
  auto store = open_store(dir.file("inject.db"));
  std::vector<EventRow> rows = {make_row(uuid(1), "P1", "2024-01-01T00:00:00Z"),
                                make_row(uuid(2), "O'Brien", "2024-01-01T00:00:00Z")};
  REQUIRE(store->write_batch(rows).ok());
  for (const std::string tricky : {"P1' OR '1'='1", "P1\"]", "%", "P1' --", "\"P1\""}) {
    CAPTURE(tricky);
    auto one = store->reader()->query(products({tricky}));
    REQUIRE(one.ok());
    CHECK(one->events.empty());
    auto several = store->reader()->query(products({tricky, "O'Brien"}));
    REQUIRE(several.ok());
    CHECK(ids(several.value()) == std::vector<std::string>{uuid(2)});
  }
}

// 40 events over 3 products, with many equal instants, written in 4 batches.
std::vector<EventRow> many_rows() {
  std::vector<EventRow> rows;
  for (int i = 0; i < 40; ++i) {
    std::string product = "P" + std::to_string(i % 3);
    char created[40];
    std::snprintf(created, sizeof created, "2024-03-%02dT12:00:00Z", 1 + (i % 7));
    rows.push_back(make_row(uuid(i), product, created, i % 2 ? "Country" : "ProductPriceUpdate"));
  }
  return rows;
}

TEST_CASE("paging with limit and cursor walks every row exactly once, in order",
          "[unit][sqlite_store]") {
  TempDir dir;
  auto store = open_store(dir.file("pages.db"));
  auto rows = many_rows();
  for (std::size_t i = 0; i < rows.size(); i += 10) {
    REQUIRE(store->write_batch(std::span<const EventRow>(rows).subspan(i, 10)).ok());
  }
  auto reader = store->reader();
  for (const auto& product_ids :
       {std::vector<std::string>{"P0", "P1", "P2"}, std::vector<std::string>{"P1"}}) {
    auto all = reader->query(products(product_ids));
    REQUIRE(all.ok());
    for (std::size_t limit : {1, 3, 4, 7, 14, 39, 40, 41}) {
      CAPTURE(product_ids.size(), limit);
      std::vector<std::string> walked;
      EventQuery q = products(product_ids, limit);
      int pages = 0;
      for (;;) {
        auto page = reader->query(q);
        REQUIRE(page.ok());
        CHECK(page->events.size() <= limit);
        ++pages;
        for (const auto& e : page->events) walked.push_back(e.event_id);
        if (!page->next_cursor) break;
        CHECK(page->events.size() == limit);  // a cursor only after a full page
        q.cursor = page->next_cursor;
        REQUIRE(pages < 100);
      }
      CHECK(walked == ids(all.value()));
      // fetch limit+1: no empty last page when the rows divide evenly
      CHECK(pages == static_cast<int>((all->events.size() + limit - 1) / limit));
    }
  }
}

// The history handler writes its answer from the rows as they are stepped (try_query_into);
// the page path (query, try_query) copies them. Both must give the same events, fields and
// cursors, page after page.
TEST_CASE("try_query_into gives its sink try_query's events and cursors page by page",
          "[unit][sqlite_store]") {
  struct Collect final : EventSink {
    std::vector<StoredEvent> events;
    void event(const StoredEventView& e) override {
      events.push_back({std::string(e.event_id), std::string(e.event_type),
                        std::string(e.product_id), std::string(e.region),
                        std::string(e.created_at), std::string(e.data_json)});
    }
  };
  auto same = [](const StoredEvent& a, const StoredEvent& b) {
    return a.event_id == b.event_id && a.event_type == b.event_type &&
           a.product_id == b.product_id && a.region == b.region &&
           a.created_at == b.created_at && a.data_json == b.data_json;
  };
  TempDir dir;
  auto store = open_store(dir.file("sink.db"));
  auto rows = many_rows();
  for (std::size_t i = 0; i < rows.size(); i += 10) {
    REQUIRE(store->write_batch(std::span<const EventRow>(rows).subspan(i, 10)).ok());
  }
  auto reader = store->reader();
  auto* rows_reader = dynamic_cast<RowStreamReader*>(reader.get());
  REQUIRE(rows_reader != nullptr);
  for (const auto& product_ids :
       {std::vector<std::string>{"P0", "P1", "P2"}, std::vector<std::string>{"P1"}}) {
    for (std::size_t limit : {1, 3, 7, 40, 41, 1000}) {
      CAPTURE(product_ids.size(), limit);
      EventQuery q = products(product_ids, limit);
      std::size_t taken = 0;
      for (int pages = 0;; ++pages) {
        REQUIRE(pages < 100);
        auto page = reader->try_query(q);
        REQUIRE(page);
        REQUIRE(page->ok());
        Collect sink;
        auto next = rows_reader->try_query_into(q, sink);
        REQUIRE(next);
        REQUIRE(next->ok());
        const EventPage& p = page->value();
        REQUIRE(sink.events.size() == p.events.size());
        for (std::size_t i = 0; i < p.events.size(); ++i) CHECK(same(sink.events[i], p.events[i]));
        CHECK(next->value() == p.next_cursor);
        taken += p.events.size();
        if (!p.next_cursor) break;
        q.cursor = p.next_cursor;
      }
      CHECK(taken == reader->query(products(product_ids))->events.size());
    }
  }
  SECTION("a bad cursor is the same error, and the sink gets nothing") {
    EventQuery q = products({"P1"}, 3);
    q.cursor = "definitely not a cursor";
    Collect sink;
    auto next = rows_reader->try_query_into(q, sink);
    REQUIRE(next);
    REQUIRE_FALSE(next->ok());
    CHECK(next->error().code == "bad_cursor");
    CHECK(sink.events.empty());
  }
}

TEST_CASE("many products merge into one newest-first order, each named once, at any limit",
          "[unit][sqlite_store]") {
  TempDir dir;
  auto store = open_store(dir.file("merge.db"));
  // 30 products with 1 to 6 events each, times interleaved across products, some equal.
  std::vector<EventRow> rows;
  std::vector<std::string> product_ids;
  int n = 0;
  for (int p = 0; p < 30; ++p) {
    product_ids.push_back("M" + std::to_string(p));
    for (int k = 0; k <= p % 6; ++k, ++n) {
      char created[40];
      std::snprintf(created, sizeof created, "2024-05-01T%02d:%02d:00Z", (n * 7) % 24, (n * 13) % 60);
      rows.push_back(make_row(uuid(n), product_ids.back(), created));
    }
  }
  REQUIRE(store->write_batch(rows).ok());
  // The expected order, worked out here: created_ms descending, then event_id descending.
  std::vector<std::pair<std::int64_t, std::string>> expected;
  for (const auto& r : rows) expected.emplace_back(r.created_ms, r.event_id);
  std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second > b.second;
  });
  std::vector<std::string> expected_ids;
  for (const auto& e : expected) expected_ids.push_back(e.second);

  auto reader = store->reader();
  auto named_twice = product_ids;
  named_twice.push_back("M3");
  named_twice.push_back("M0");
  auto all = reader->query(products(named_twice));
  REQUIRE(all.ok());
  CHECK(ids(all.value()) == expected_ids);
  CHECK_FALSE(all->next_cursor);
  for (std::size_t limit : {1, 2, 5, 17, 104, 105, 200}) {
    CAPTURE(limit);
    auto first = reader->query(products(product_ids, limit));
    REQUIRE(first.ok());
    std::vector<std::string> top(expected_ids.begin(),
                                 expected_ids.begin() +
                                     static_cast<std::ptrdiff_t>(std::min(limit, expected_ids.size())));
    CHECK(ids(first.value()) == top);
    CHECK(first->next_cursor.has_value() == (limit < expected_ids.size()));
  }
}

TEST_CASE("a cursor keeps its place while newer events arrive", "[unit][sqlite_store]") {
  TempDir dir;
  auto store = open_store(dir.file("live.db"));
  std::vector<EventRow> rows = {make_row(uuid(1), "P1", "2024-01-01T00:00:01Z"),
                                make_row(uuid(2), "P1", "2024-01-01T00:00:02Z"),
                                make_row(uuid(3), "P1", "2024-01-01T00:00:03Z")};
  REQUIRE(store->write_batch(rows).ok());
  auto first = store->reader()->query(products({"P1"}, 2));
  REQUIRE(first.ok());
  CHECK(ids(first.value()) == std::vector<std::string>{uuid(3), uuid(2)});
  REQUIRE(first->next_cursor);
  std::vector<EventRow> newer = {make_row(uuid(9), "P1", "2024-01-01T00:00:09Z")};
  REQUIRE(store->write_batch(newer).ok());
  EventQuery q = products({"P1"}, 2);
  q.cursor = first->next_cursor;
  auto second = store->reader()->query(q);
  REQUIRE(second.ok());
  CHECK(ids(second.value()) == std::vector<std::string>{uuid(1)});
  CHECK_FALSE(second->next_cursor);
}

TEST_CASE("event_type, from and to filter the history", "[unit][sqlite_store]") {
  TempDir dir;
  auto store = open_store(dir.file("filters.db"));
  auto rows = many_rows();
  REQUIRE(store->write_batch(rows).ok());
  auto reader = store->reader();
  constexpr std::int64_t kMarch3 = 1'709'467'200'000;  // 2024-03-03T12:00:00Z
  constexpr std::int64_t kMarch5 = kMarch3 + 2 * 86'400'000;

  auto expect = [&](const EventQuery& q, auto keep) {
    std::vector<EventRow> wanted;
    for (const auto& r : rows) {
      bool product = std::find(q.product_ids.begin(), q.product_ids.end(), r.product_id) !=
                     q.product_ids.end();
      if (product && keep(r)) wanted.push_back(r);
    }
    std::sort(wanted.begin(), wanted.end(), [](const EventRow& a, const EventRow& b) {
      return a.created_ms != b.created_ms ? a.created_ms > b.created_ms : a.event_id > b.event_id;
    });
    std::vector<std::string> out;
    for (const auto& r : wanted) out.push_back(r.event_id);
    return out;
  };

  SECTION("event_type") {
    EventQuery q = products({"P0", "P1"});
    q.event_type = "Country";
    auto page = reader->query(q);
    REQUIRE(page.ok());
    CHECK_FALSE(page->events.empty());
    CHECK(ids(page.value()) ==
          expect(q, [](const EventRow& r) { return r.event_type == "Country"; }));
  }
  SECTION("from is inclusive, to is exclusive") {
    EventQuery q = products({"P0", "P1", "P2"});
    q.from_ms = kMarch3;
    q.to_ms = kMarch5;
    auto page = reader->query(q);
    REQUIRE(page.ok());
    auto want = expect(
        q, [&](const EventRow& r) { return r.created_ms >= kMarch3 && r.created_ms < kMarch5; });
    CHECK(ids(page.value()) == want);
    std::set<std::int64_t> days;
    for (const auto& r : rows) {
      if (std::find(want.begin(), want.end(), r.event_id) != want.end()) days.insert(r.created_ms);
    }
    CHECK(days == std::set<std::int64_t>{kMarch3, kMarch3 + 86'400'000});
  }
  SECTION("only from, only to") {
    EventQuery from = products({"P2"});
    from.from_ms = kMarch5;
    auto a = reader->query(from);
    REQUIRE(a.ok());
    CHECK(ids(a.value()) ==
          expect(from, [&](const EventRow& r) { return r.created_ms >= kMarch5; }));
    EventQuery to = products({"P2"});
    to.to_ms = kMarch5;
    auto b = reader->query(to);
    REQUIRE(b.ok());
    CHECK(ids(b.value()) == expect(to, [&](const EventRow& r) { return r.created_ms < kMarch5; }));
  }
  SECTION("an empty range matches nothing") {
    EventQuery q = products({"P0"});
    q.from_ms = kMarch5;
    q.to_ms = kMarch5;
    auto page = reader->query(q);
    REQUIRE(page.ok());
    CHECK(page->events.empty());
  }
  SECTION("filters and the cursor together") {
    EventQuery q = products({"P0", "P1", "P2"}, 2);
    q.event_type = "ProductPriceUpdate";
    q.from_ms = kMarch3;
    auto want = expect(q, [&](const EventRow& r) {
      return r.event_type == "ProductPriceUpdate" && r.created_ms >= kMarch3;
    });
    std::vector<std::string> walked;
    for (int guard = 0; guard < 50; ++guard) {
      auto page = reader->query(q);
      REQUIRE(page.ok());
      for (const auto& e : page->events) walked.push_back(e.event_id);
      if (!page->next_cursor) break;
      q.cursor = page->next_cursor;
    }
    CHECK(walked == want);
  }
}

TEST_CASE("a malformed cursor or a zero limit is refused", "[unit][sqlite_store]") {
  TempDir dir;
  auto store = open_store(dir.file("bad.db"));
  EventQuery q = products({"P1"});
  q.cursor = "definitely not a cursor";
  auto page = store->reader()->query(q);
  REQUIRE_FALSE(page.ok());
  CHECK(page.error().code == "bad_cursor");

  q.cursor = store::encode_cursor({0, "x"}) + "!";
  CHECK(store->reader()->query(q).error().code == "bad_cursor");

  EventQuery zero = products({"P1"}, 0);
  auto z = store->reader()->query(zero);
  REQUIRE_FALSE(z.ok());
  CHECK(z.error().code == "bad_query");
}

TEST_CASE("readers are not blocked by an open write transaction (WAL)", "[unit][sqlite_store]") {
  TempDir dir;
  const std::string path = dir.file("wal.db");
  auto store = open_store(path, 100ms);
  std::vector<EventRow> committed = {make_row(uuid(1), "P1", "2024-01-01T00:00:00Z")};
  REQUIRE(store->write_batch(committed).ok());
  auto reader = store->reader();

  // Another writer takes the write lock and leaves an insert uncommitted.
  RawDb other(path);
  other.exec("BEGIN IMMEDIATE");
  other.exec("INSERT INTO events SELECT '" + uuid(2) +
             "', event_type, product_id, region, created_at, created_ms + 1, data_json, raw_json, "
             "source_topic, source_partition, source_offset, stored_at_ms FROM events");

  // A reader that had to wait for the lock would fail with "busy" after the 100 ms timeout.
  auto page = reader->query(products({"P1"}));
  REQUIRE(page.ok());
  CHECK(ids(page.value()) == std::vector<std::string>{uuid(1)});  // the committed state only

  // Meanwhile the store's own writer cannot commit: a transient "busy", nothing stored, and
  // readiness says why.
  std::vector<EventRow> blocked = {make_row(uuid(3), "P1", "2024-01-01T00:00:03Z"),
                                   make_row(uuid(4), "P1", "2024-01-01T00:00:04Z")};
  auto failed = store->write_batch(blocked);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().code == kBusy);
  CHECK(transient(failed.error()));
  CHECK_THAT(failed.error().message, Contains(path));
  auto problem = reader->problem();
  REQUIRE(problem);
  CHECK_THAT(*problem, Contains("writes are failing"));

  other.exec("COMMIT");
  auto retried = store->write_batch(blocked);
  REQUIRE(retried.ok());
  CHECK(retried.value().stored == 2);
  CHECK_FALSE(reader->problem());
  auto after = reader->query(products({"P1"}));
  REQUIRE(after.ok());
  CHECK(ids(after.value()) == std::vector<std::string>{uuid(4), uuid(3), uuid(2), uuid(1)});
}

TEST_CASE("an open read transaction does not block the writer (WAL)", "[unit][sqlite_store]") {
  TempDir dir;
  const std::string path = dir.file("snapshot.db");
  auto store = open_store(path, 100ms);
  std::vector<EventRow> first = {make_row(uuid(1), "P1", "2024-01-01T00:00:00Z")};
  REQUIRE(store->write_batch(first).ok());

  RawDb reader(path);
  reader.exec("BEGIN");
  CHECK(reader.integer("SELECT count(*) FROM events") == 1);  // the snapshot starts here
  std::vector<EventRow> second = {make_row(uuid(2), "P1", "2024-01-01T00:00:01Z")};
  auto written = store->write_batch(second);
  REQUIRE(written.ok());  // a writer that waited for the reader would fail with "busy"
  CHECK(reader.integer("SELECT count(*) FROM events") == 1);  // still its snapshot
  reader.exec("COMMIT");
  CHECK(reader.integer("SELECT count(*) FROM events") == 2);
}

TEST_CASE("a failed batch is rolled back whole", "[unit][sqlite_store]") {
  TempDir dir;
  const std::string path = dir.file("rollback.db");
  auto store = open_store(path);
  {
    // A trigger added behind the store's back makes the third insert of the batch fail.
    RawDb raw(path);
    raw.exec(
        "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.product_id = 'BAD' "
        "BEGIN SELECT RAISE(ABORT, 'refused by test'); END");
  }
  std::vector<EventRow> rows = {make_row(uuid(1), "P1", "2024-01-01T00:00:00Z"),
                                make_row(uuid(2), "P1", "2024-01-01T00:00:01Z"),
                                make_row(uuid(3), "BAD", "2024-01-01T00:00:02Z")};
  auto r = store->write_batch(rows);
  REQUIRE_FALSE(r.ok());
  CHECK_FALSE(transient(r.error()));
  CHECK_THAT(r.error().message, Contains(uuid(3)));
  RawDb raw(path);
  CHECK(raw.integer("SELECT count(*) FROM events") == 0);
  // The connection is usable again afterwards.
  raw.exec("DROP TRIGGER refuse");
  rows.pop_back();
  auto ok = store->write_batch(rows);
  REQUIRE(ok.ok());
  CHECK(ok.value().stored == 2);
}

TEST_CASE("readiness: fine while open, the reason once the writer is closed",
          "[unit][sqlite_store]") {
  TempDir dir;
  auto store = open_store(dir.file("ready.db"));
  std::shared_ptr<EventReader> reader = store->reader();
  CHECK_FALSE(reader->problem());
  std::vector<EventRow> rows = {make_row(uuid(1), "P1", "2024-01-01T00:00:00Z")};
  REQUIRE(store->write_batch(rows).ok());
  store.reset();
  auto problem = reader->problem();
  REQUIRE(problem);
  CHECK_THAT(*problem, Contains("closed"));
  // Reads still work for whoever holds the reader during shutdown.
  auto page = reader->query(products({"P1"}));
  REQUIRE(page.ok());
  CHECK(page->events.size() == 1);
}

TEST_CASE("many threads read while the writer writes", "[unit][sqlite_store]") {
  TempDir dir;
  auto store = open_store(dir.file("threads.db"));
  auto reader = store->reader();
  std::atomic<bool> writing{true};
  std::atomic<int> errors{0};
  std::atomic<int> queries{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {  // more threads than reader connections (3)
    threads.emplace_back([&] {
      std::size_t last = 0;
      while (writing.load()) {
        auto page = reader->query(products({"P0", "P1", "P2"}, 100'000));
        if (!page.ok() || page->events.size() < last) ++errors;
        if (page.ok()) last = page->events.size();  // a snapshot never goes back in time
        ++queries;
      }
    });
  }
  for (int batch = 0; batch < 20; ++batch) {
    std::vector<EventRow> rows;
    for (int i = 0; i < 50; ++i) {
      int n = batch * 50 + i;
      rows.push_back(make_row(uuid(n), "P" + std::to_string(n % 3), "2024-01-01T00:00:00Z"));
    }
    REQUIRE(store->write_batch(rows).ok());
  }
  writing = false;
  for (auto& t : threads) t.join();
  CHECK(errors.load() == 0);
  CHECK(queries.load() > 0);
  auto all = reader->query(products({"P0", "P1", "P2"}, 100'000));
  REQUIRE(all.ok());
  CHECK(all->events.size() == 1000);
}

}  // namespace
}  // namespace pemx::sqlite_store
