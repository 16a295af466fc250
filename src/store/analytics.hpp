#pragma once
// Analytics (EventReader::analytics, GET /api/analytics), the part both backends share: the
// query's checks, and the folding of the rows of their one statement into the answer. Each
// backend runs one statement over the window's first row_budget events (oldest first, through
// events_by_created) that answers four parts, one row each of:
//
//   part 0  bucket index, event_type, region, count   by bucket, type, region (LIMIT groups + 1)
//   part 1  0, product_id, '', count                  most changes first (LIMIT top)
//   part 2  bin (-1 below, kAnalyticsBins above), event_type, '', count   the change bins
//   part 3  0, '', '', events read
//
// One statement is one snapshot, so the parts agree with each other. Pure: no IO.
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "pemx/event_store.hpp"
#include "pemx/result.hpp"

namespace pemx::store {

inline constexpr int kAnalyticsPartCount = 0;
inline constexpr int kAnalyticsPartTop = 1;
inline constexpr int kAnalyticsPartChange = 2;
inline constexpr int kAnalyticsPartTotal = 3;
inline constexpr std::string_view kPriceEvent = "ProductPriceUpdate";
inline constexpr std::string_view kDiscountEvent = "SpecificProductDiscountUpdate";

// Error{"bad_query"} naming the bound a query breaks (an empty or too long window, a bucket
// that is not positive or makes too many buckets, top or row_budget out of range).
std::optional<Error> check_analytics(const AnalyticsQuery& q);

// Adds one row of a backend's statement (the parts above) to `out`.
void add_analytics_row(Analytics& out, int part, std::int64_t key, std::string text1,
                       std::string text2, std::int64_t n);
// One analytics statement at a time per reader: another one answers "store_busy" at once
// (analytics_busy), so that analytics never hold more than one of the reader connections the
// history and the page's other reads need. Thread-safe.
class AnalyticsGate {
 public:
  // Held while one statement runs; leaves the gate when destroyed.
  class Pass {
   public:
    explicit Pass(AnalyticsGate* gate) : gate_(gate) {}
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    ~Pass() {
      if (gate_ != nullptr) gate_->busy_.store(false, std::memory_order_release);
    }

   private:
    AnalyticsGate* gate_;
  };
  // True when no other statement runs; the caller then builds a Pass.
  bool try_enter() { return !busy_.exchange(true, std::memory_order_acquire); }

 private:
  std::atomic<bool> busy_{false};
};
Error analytics_busy(const std::string& store);  // "store_busy", naming the store

// After the last row: cuts the counts to kAnalyticsMaxGroups (counts_capped) and sets
// budget_reached.
void finish_analytics(Analytics& out, const AnalyticsQuery& q);

}  // namespace pemx::store
