// Metrics (include/pemx/metrics.hpp, src/core/metrics.cpp): series registration, the
// Prometheus text rendering and the counter look-ups.
#include "pemx/metrics.hpp"

#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

namespace pemx {
namespace {

using Catch::Matchers::Contains;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The value of the `<family>_bucket{…le="<bound>"}` line whose bound parses to `le`.
std::uint64_t bucket_value(const std::string& text, const std::string& family, double le) {
  const std::string prefix = family + "_bucket{";
  for (const auto& line : lines_of(text)) {
    if (line.rfind(prefix, 0) != 0) continue;
    auto at = line.find("le=\"");
    REQUIRE(at != std::string::npos);
    auto bound = line.substr(at + 4, line.find('"', at + 4) - at - 4);
    if (bound != "+Inf" && std::stod(bound) == le) {
      return std::stoull(line.substr(line.rfind(' ') + 1));
    }
  }
  FAIL("no bucket le=" << le << " for " << family);
  return 0;
}

TEST_CASE("a counter renders HELP, TYPE and its value", "[unit][metrics]") {
  Metrics m;
  m.counter("pemx_test_events_total", "Events seen", {{"stage", "router"}}).inc(3);
  CHECK(m.render_prometheus() ==
        "# HELP pemx_test_events_total Events seen\n"
        "# TYPE pemx_test_events_total counter\n"
        "pemx_test_events_total{stage=\"router\"} 3\n");
}

TEST_CASE("a series without labels has no braces", "[unit][metrics]") {
  Metrics m;
  m.counter("pemx_test_plain_total", "Plain").inc();
  CHECK_THAT(m.render_prometheus(), Contains("\npemx_test_plain_total 1\n"));
}

TEST_CASE("label sets of one family share its HELP and TYPE lines", "[unit][metrics]") {
  Metrics m;
  m.counter("pemx_test_dead_total", "Dead letters", {{"reason", "invalid_json"}}).inc(2);
  m.counter("pemx_test_dead_total", "Dead letters", {{"reason", "illegal_topic"}}).inc(5);
  auto lines = lines_of(m.render_prometheus());
  CHECK(lines == std::vector<std::string>{
                     "# HELP pemx_test_dead_total Dead letters",
                     "# TYPE pemx_test_dead_total counter",
                     "pemx_test_dead_total{reason=\"illegal_topic\"} 5",
                     "pemx_test_dead_total{reason=\"invalid_json\"} 2",
                 });
}

TEST_CASE("registering a series twice answers the same series", "[unit][metrics]") {
  Metrics m;
  Counter& a = m.counter("pemx_test_total", "Help", {{"stage", "x"}});
  Counter& b = m.counter("pemx_test_total", "Help", {{"stage", "x"}});
  Counter& other = m.counter("pemx_test_total", "Help", {{"stage", "y"}});
  CHECK(&a == &b);
  CHECK(&a != &other);
  a.inc();
  b.inc();
  CHECK(a.value() == 2);
  CHECK(other.value() == 0);
}

TEST_CASE("label values are escaped", "[unit][metrics]") {
  Metrics m;
  m.counter("pemx_test_total", "Help", {{"topic", "a\"b\\c\nd"}}).inc();
  CHECK_THAT(m.render_prometheus(),
             Contains("pemx_test_total{topic=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

TEST_CASE("several labels are rendered in order, comma-separated", "[unit][metrics]") {
  Metrics m;
  m.counter("pemx_test_total", "Help", {{"stage", "router"}, {"reason", "invalid_json"}}).inc();
  CHECK_THAT(m.render_prometheus(),
             Contains("pemx_test_total{stage=\"router\",reason=\"invalid_json\"} 1\n"));
}

TEST_CASE("gauges render their current value; gauge_fn is read at render time",
          "[unit][metrics]") {
  Metrics m;
  m.gauge("pemx_test_ratio", "Ratio").set(2.5);
  double depth = 3;
  m.gauge_fn("pemx_test_depth", "Depth", {{"queue", "events"}}, [&] { return depth; });

  auto first = m.render_prometheus();
  CHECK_THAT(first, Contains("# TYPE pemx_test_ratio gauge\npemx_test_ratio 2.5\n"));
  CHECK_THAT(first,
             Contains("# TYPE pemx_test_depth gauge\npemx_test_depth{queue=\"events\"} 3\n"));

  depth = 17;
  CHECK_THAT(m.render_prometheus(), Contains("pemx_test_depth{queue=\"events\"} 17\n"));
}

TEST_CASE("counter_fn is read at render time and rendered as a counter", "[unit][metrics]") {
  Metrics m;
  double pushes = 5;
  m.counter_fn("pemx_test_pushes_total", "Pushes", {{"queue", "events"}}, [&] { return pushes; });
  CHECK_THAT(m.render_prometheus(),
             Contains("# TYPE pemx_test_pushes_total counter\n"
                      "pemx_test_pushes_total{queue=\"events\"} 5\n"));
  pushes = 9;
  CHECK_THAT(m.render_prometheus(), Contains("pemx_test_pushes_total{queue=\"events\"} 9\n"));
}

TEST_CASE("a histogram renders cumulative buckets, +Inf, sum and count", "[unit][metrics]") {
  Metrics m;
  Histogram& h = m.histogram("pemx_test_latency_seconds", "Latency", {{"stage", "sink"}});
  h.observe(0.0002);  // <= 0.0005
  h.observe(0.003);   // <= 0.005
  h.observe(0.005);   // on a bound: counted in it
  h.observe(20.0);    // above the last bound: only in +Inf
  CHECK(h.count() == 4);
  CHECK(h.sum() == Approx(20.0082));

  auto text = m.render_prometheus();
  CHECK_THAT(text, Contains("# TYPE pemx_test_latency_seconds histogram\n"));
  const std::string name = "pemx_test_latency_seconds";
  CHECK(bucket_value(text, name, 0.0001) == 0);
  CHECK(bucket_value(text, name, 0.0005) == 1);
  CHECK(bucket_value(text, name, 0.001) == 1);
  CHECK(bucket_value(text, name, 0.0025) == 1);
  CHECK(bucket_value(text, name, 0.005) == 3);
  CHECK(bucket_value(text, name, 1.0) == 3);
  CHECK(bucket_value(text, name, 10.0) == 3);
  CHECK_THAT(text, Contains(name + "_bucket{stage=\"sink\",le=\"+Inf\"} 4\n"));
  CHECK_THAT(text, Contains(name + "_count{stage=\"sink\"} 4\n"));
  CHECK_THAT(text, Contains(name + "_sum{stage=\"sink\"} 20.008"));

  int buckets = 0;
  for (const auto& line : lines_of(text)) buckets += line.rfind(name + "_bucket", 0) == 0;
  CHECK(buckets == static_cast<int>(Histogram::kBounds.size()) + 1);
}

TEST_CASE("histogram bounds render as Prometheus clients write them", "[unit][metrics]") {
  // Dashboards and alerts select buckets by the le text, e.g. le="0.1"; "%.17g" renders
  // 0.1 as 0.10000000000000001, which such a selector does not match.
  Metrics m;
  m.histogram("pemx_test_seconds", "Latency").observe(0.05);
  auto text = m.render_prometheus();
  CHECK_THAT(text, Contains("pemx_test_seconds_bucket{le=\"0.0005\"} 0\n"));
  CHECK_THAT(text, Contains("pemx_test_seconds_bucket{le=\"0.005\"} 0\n"));
  CHECK_THAT(text, Contains("pemx_test_seconds_bucket{le=\"0.05\"} 1\n"));
  CHECK_THAT(text, Contains("pemx_test_seconds_bucket{le=\"0.1\"} 1\n"));
}

TEST_CASE("counter_total sums a family over its label sets", "[unit][metrics]") {
  Metrics m;
  m.counter("pemx_test_dead_total", "Help", {{"reason", "a"}}).inc(2);
  m.counter("pemx_test_dead_total", "Help", {{"reason", "b"}}).inc(3);
  m.counter("pemx_test_other_total", "Help").inc(100);
  CHECK(m.counter_total("pemx_test_dead_total") == 5);
  CHECK(m.counter_total("pemx_test_missing_total") == 0);
  CHECK(m.counter_value("pemx_test_dead_total", {{"reason", "b"}}) == 3);
  CHECK(m.counter_value("pemx_test_dead_total", {{"reason", "c"}}) == 0);
  CHECK(m.counter_value("pemx_test_missing_total", {}) == 0);
}

}  // namespace
}  // namespace pemx
