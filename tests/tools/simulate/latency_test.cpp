// LatencyHistogram (src/tools/simulate/latency.*): percentiles within 1/64 above the truth, exact
// max.
#include "tools/simulate/latency.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <vector>

namespace pemx::sim {
namespace {

using std::chrono::microseconds;

TEST_CASE("an empty histogram reports zeros", "[unit][sim]") {
  LatencyHistogram h;
  CHECK(h.count() == 0);
  CHECK(h.percentile(0.5) == microseconds(0));
  CHECK(h.max() == microseconds(0));
}

TEST_CASE("small values are exact", "[unit][sim]") {
  LatencyHistogram h;
  for (int v = 1; v <= 50; ++v) h.record(microseconds(v));
  CHECK(h.percentile(0.5) == microseconds(25));
  CHECK(h.percentile(1.0) == microseconds(50));
  CHECK(h.percentile(0.01) == microseconds(1));
}

TEST_CASE("percentiles match a sorted sample within 1/64", "[unit][sim]") {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> dist(9, 1.5);  // around 8 ms, long tail
  std::vector<std::int64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 100000; ++i) {
    auto v = static_cast<std::int64_t>(dist(rng));
    values.push_back(v);
    h.record(microseconds(v));
  }
  std::sort(values.begin(), values.end());
  CHECK(h.count() == values.size());
  CHECK(h.max().count() == values.back());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    auto truth = values[static_cast<std::size_t>(std::ceil(q * values.size())) - 1];
    auto got = h.percentile(q).count();
    CAPTURE(q, truth, got);
    CHECK(got >= truth);
    CHECK(static_cast<double>(got) <= truth * (1 + 1.0 / 64) + 1);
  }
}

TEST_CASE("one value is reported as itself, never above the maximum", "[unit][sim]") {
  LatencyHistogram h;
  h.record(microseconds(12345));
  CHECK(h.percentile(0.5) == microseconds(12345));
  CHECK(h.percentile(0.99) == microseconds(12345));
  h.record(microseconds(-5));  // a clock step backwards counts as 0
  CHECK(h.percentile(0.5) == microseconds(0));
}

}  // namespace
}  // namespace pemx::sim
