#pragma once
// Metrics: counters, gauges and histograms, rendered in the Prometheus text format.
// Registration takes a lock and returns a stable reference; updates are lock-free atomics, so
// stages look their series up once and keep the reference. No global registry: main builds
// one and passes it on.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace pemx {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Fixed buckets in seconds, from 100 µs to 10 s.
class Histogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                     0.025,  0.05,   0.1,   0.5,    1.0,   10.0};
  void observe(double seconds);
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size()> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

class Metrics {
 public:
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help,
                       const Labels& labels = {});
  // A gauge read at render time (queue depths, lag).
  void gauge_fn(const std::string& name, const std::string& help, const Labels& labels,
                std::function<double()> read);
  // A counter read at render time (a queue's pushes): rendered with TYPE counter, so its name
  // ends in _total like every other counter's.
  void counter_fn(const std::string& name, const std::string& help, const Labels& labels,
                  std::function<double()> read);
  // Removes a gauge function's series (an info gauge whose label changed: the rules' version).
  void remove_gauge_fn(const std::string& name, const Labels& labels);

  std::string render_prometheus() const;
  // Sum of a counter family over all its label sets (for logs and tests).
  std::uint64_t counter_total(const std::string& name) const;
  std::uint64_t counter_value(const std::string& name, const Labels& labels) const;
  // Every series of a counter or gauge family (gauge functions included), with its labels.
  struct Sample {
    Labels labels;
    double value = 0;
  };
  std::vector<Sample> read(const std::string& name) const;

 private:
  struct Family {
    std::string help;
    std::string type;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
    std::map<Labels, std::function<double()>> gauge_fns;  // and counter_fn's, by type
  };
  Family& family(const std::string& name, const std::string& help, const char* type);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
};

}  // namespace pemx
