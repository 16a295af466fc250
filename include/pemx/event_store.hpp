#pragma once
// The store contract: what the HTTP front end (and any other reader) may ask of the event
// store, whichever database implements it. A store stage (e.g. sqlite_store) provides an
// EventReader through the StageContext's services; readers never block the writer.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pemx/result.hpp"

namespace pemx {

// One stored event: the six fields of the reference's history answer.
struct StoredEvent {
  std::string event_id;
  std::string event_type;
  std::string product_id;
  std::string region;
  std::string created_at;  // as received
  std::string data_json;   // the "data" value as JSON text ("{}" when absent)
};

// One stored row as the store holds it, for lineage (GET /event/{eventId}/lineage): the event,
// the message value as received and where the store consumed it (the storage topic's
// coordinates), and when it was stored.
struct StoredRow {
  StoredEvent event;
  std::string raw_json;
  std::string source_topic;
  std::int32_t source_partition = -1;
  std::int64_t source_offset = -1;
  std::int64_t stored_at_ms = 0;
};

struct EventQuery {
  std::vector<std::string> product_ids;   // 1..200, already trimmed and non-empty
  std::size_t limit = 1000;               // at most this many events
  std::optional<std::string> event_type;  // only this type
  std::optional<std::int64_t> from_ms;    // createdAt >= from (epoch milliseconds, UTC)
  std::optional<std::int64_t> to_ms;      // createdAt <  to
  std::optional<std::string> cursor;      // from a previous page's next_cursor
};

struct EventPage {
  std::vector<StoredEvent> events;        // newest createdAt first (ties: eventId descending)
  std::optional<std::string> next_cursor; // set when more events match
};

// One stored event as it arrived, for `pemx replay` (EventReader::scan).
struct ArchivedEvent {
  std::string event_id;
  std::string product_id;
  std::int64_t created_ms = 0;    // createdAt, epoch milliseconds (UTC)
  std::string raw_json;           // the event exactly as received
  std::string source_topic;       // where the store consumed it
  std::int32_t source_partition = -1;
  std::int64_t source_offset = -1;
};

// A time range across products, read in pages in (created_ms, event_id) order, oldest first.
struct RangeScan {
  std::int64_t from_ms = 0;              // createdAt >= from
  std::int64_t to_ms = 0;                // createdAt <  to
  std::vector<std::string> product_ids;  // empty: every product
  // Keyset pagination: only rows strictly after (after_ms, after_id); the last row of the
  // previous page. Unset for the first page.
  std::optional<std::int64_t> after_ms;
  std::string after_id;
  std::size_t limit = 500;  // at most this many rows (1 or more)
};

// One product among the most recently stored (GET /api/products/recent).
struct RecentProduct {
  std::string product_id;
  std::string last_created_at;  // createdAt of its newest event (by createdAt), as received
};

// How many events match a history query (GET /api/events/count): counted up to a cap, so
// that a product with millions of events costs no more than kMaxEventCount index entries.
inline constexpr std::int64_t kMaxEventCount = 100000;
struct EventCount {
  std::int64_t count = 0;  // at most kMaxEventCount
  bool capped = false;     // more events match than kMaxEventCount
};

// Stores look at no more than this many of the newest stored events to find the recent
// products, so that the answer stays cheap however large the store is.
inline constexpr std::size_t kRecentScanRows = 5000;
inline constexpr std::size_t kMaxRecentProducts = 100;

// Analytics (GET /api/analytics): the events of a time window across products, aggregated by
// the store. Bounded in cost: the window is at most kAnalyticsMaxSpanMs, cut into at most
// kAnalyticsMaxBuckets buckets, and the store reads at most row_budget events of it (the
// oldest first, through the (created_ms, event_id) index) in one statement; what lies beyond
// the budget is left out and the answer says so (budget_reached).
inline constexpr std::int64_t kAnalyticsMaxSpanMs = 31LL * 24 * 3600 * 1000;
inline constexpr std::int64_t kAnalyticsMaxBuckets = 500;
inline constexpr std::size_t kAnalyticsRowBudget = 100000;
inline constexpr std::size_t kAnalyticsMaxGroups = 2000;  // (bucket, type, region) rows
inline constexpr std::size_t kAnalyticsMaxTop = 100;
// The change histograms' fixed bins: kAnalyticsBins bins kAnalyticsBinWidth wide from
// kAnalyticsBinLow, then one below it and one at or above the last edge. Price changes are in
// percent of the previous price ((new - previous) / previous * 100, previous > 0), discount
// changes in percentage points (new - previous); an event whose data lacks the numbers is left
// out of the histogram (it still counts as an event and a change).
inline constexpr int kAnalyticsBins = 20;
inline constexpr double kAnalyticsBinLow = -100.0;
inline constexpr double kAnalyticsBinWidth = 10.0;

struct AnalyticsQuery {
  std::int64_t from_ms = 0;    // createdAt >= from
  std::int64_t to_ms = 0;      // createdAt <  to
  std::int64_t bucket_ms = 0;  // bucket width; (to - from) / bucket_ms <= kAnalyticsMaxBuckets
  std::size_t top = 10;        // products that change most, 1..kAnalyticsMaxTop
  std::size_t row_budget = kAnalyticsRowBudget;  // events read at most (1..kAnalyticsRowBudget)
};

struct AnalyticsCount {
  std::int64_t bucket = 0;  // index: the bucket starts at from_ms + bucket * bucket_ms
  std::string event_type;
  std::string region;
  std::int64_t count = 0;
};

struct ProductChanges {
  std::string product_id;
  std::int64_t changes = 0;  // its events in the window (every type)
};

struct ChangeHistogram {
  std::int64_t below = 0;                   // < kAnalyticsBinLow
  std::int64_t bins[kAnalyticsBins] = {};   // [low + i * width, low + (i + 1) * width)
  std::int64_t above = 0;                   // >= low + kAnalyticsBins * width
};

struct Analytics {
  std::vector<AnalyticsCount> counts;  // by bucket, then event type, then region
  bool counts_capped = false;          // more than kAnalyticsMaxGroups rows: the rest left out
  std::vector<ProductChanges> top;     // most changes first (ties: productId ascending)
  ChangeHistogram price_changes;       // ProductPriceUpdate
  ChangeHistogram discount_changes;    // SpecificProductDiscountUpdate
  std::int64_t events = 0;             // events read (at most row_budget)
  bool budget_reached = false;         // events == row_budget: later ones may be left out
};

class EventReader {
 public:
  virtual ~EventReader() = default;
  // Thread-safe: called from HTTP worker threads, never from an Asio I/O thread.
  virtual Result<EventPage> query(const EventQuery& query) = 0;
  // Like query, but never waits for a free connection (nullopt when none is free right now),
  // so that a small query can run on an I/O thread. The default never runs one there: a
  // reader that cannot answer without waiting keeps to query() on the worker threads.
  virtual std::optional<Result<EventPage>> try_query(const EventQuery&) { return std::nullopt; }
  // The events of a time range, oldest createdAt first (ties: eventId ascending, byte order),
  // at most scan.limit; fewer means the range is exhausted. Served by an index on
  // (created_ms, event_id) (schema version 2 of both stores). Blocks on the database: never
  // call it on an I/O thread. A store without it answers the error "unsupported".
  virtual Result<std::vector<ArchivedEvent>> scan(const RangeScan& /*scan*/) {
    return Error{"unsupported", "this store cannot scan a time range"};
  }
  // The distinct products of the newest stored events (at most kRecentScanRows looked at),
  // the most recently stored first, at most `limit` (1..kMaxRecentProducts). Thread-safe, may
  // wait: worker threads only. A reader without it answers "unsupported".
  virtual Result<std::vector<RecentProduct>> recent_products(std::size_t limit) {
    (void)limit;
    return Error{"unsupported", "this event store cannot list recent products"};
  }
  // The events `query` matches (its products, type and time range; its limit and cursor are
  // not used), counted up to kMaxEventCount. Worker threads only. Default: "unsupported".
  virtual Result<EventCount> count(const EventQuery& query) {
    (void)query;
    return Error{"unsupported", "this event store cannot count events"};
  }
  // The analytics of a time window (AnalyticsQuery above), read in one statement (one
  // snapshot). Worker threads only. Errors: "bad_query" (src/store/analytics.hpp checks the
  // query), "store_busy", the database's. Default: "unsupported".
  virtual Result<Analytics> analytics(const AnalyticsQuery& query) {
    (void)query;
    return Error{"unsupported", "this event store cannot compute analytics"};
  }
  // The row of one eventId; nullopt when it is not stored. Thread-safe, worker threads only.
  // The default answers "unsupported" (a reader that cannot look one event up).
  virtual Result<std::optional<StoredRow>> find_event(const std::string& event_id) {
    (void)event_id;
    return Error{"unsupported", "this store cannot look an event up by its eventId"};
  }
  // Readiness: the store is open and writable; the reason otherwise.
  virtual std::optional<std::string> problem() = 0;
};

}  // namespace pemx
