#pragma once
// The page's overview: the process's own figures (from Metrics and Activity) as one JSON
// document, with rates and a short history for the chart. No IO: the server calls sample()
// from a timer every couple of seconds and render() per request.
//
// Memory is bounded: the series keeps `max_points` totals (10 minutes at the default 2 s), and
// the per-topic totals only for the last few samples, enough for a ~10 s rate; the lag per
// partition at most kOverviewPartitions per ingest stage.
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "pemx/activity.hpp"
#include "pemx/metrics.hpp"

namespace pemx::http_front {

// The partitions per ingest stage the overview lists (the most lagging first).
inline constexpr std::size_t kOverviewPartitions = 50;

class Overview {
 public:
  Overview(const Metrics& metrics, const Activity* activity, std::size_t max_points = 300,
           std::size_t rate_window_points = 5);

  void sample(std::int64_t now_ms);
  std::string render(std::int64_t now_ms) const;

 private:
  struct Totals {
    std::int64_t t = 0;
    double consumed = 0;  // the role's first ingest stage: where events enter
    double routed = 0;
    double stored = 0;
    double dead_letters = 0;
    double pushed = 0;
    std::map<std::string, double> per_ingest;  // stage -> consumed
    std::map<std::string, double> per_topic;   // routed topic -> count
  };
  Totals read(std::int64_t now_ms) const;

  const Metrics& metrics_;
  const Activity* activity_;
  std::size_t max_points_;
  std::size_t window_;
  mutable std::mutex mutex_;
  std::deque<Totals> points_;  // oldest first; per_topic/per_ingest kept only in the last window_
};

}  // namespace pemx::http_front
