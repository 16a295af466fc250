// kafka/cluster_health.hpp: when a client's watch reports that the cluster does not answer,
// which brokers key the warning names, and how long the "answers again" line says it was
// silent (times injected).
#include "kafka/cluster_health.hpp"

#include <catch2/catch.hpp>

namespace pemx::kafka {
namespace {

using namespace std::chrono_literals;
using T = ClusterHealth::SteadyClock::time_point;

// A start far from the steady clock's epoch, as on a machine up for a day.
const T kStart = T{} + 24h;

}  // namespace

TEST_CASE("cluster health: a cluster that never answered, then answers: silent since the "
          "client started",
          "[unit][kafka]") {
  ClusterHealth h(kStart, 3000ms, "kafka.brokers");
  CHECK_FALSE(h.unanswered(kStart + 1s, "timed out").problem);  // one slow answer
  auto down = h.unanswered(kStart + 4s, "timed out");
  REQUIRE(down.problem);
  CHECK(*down.problem == "no answer from the cluster yet (timed out)");
  REQUIRE(down.warning);
  CHECK(down.silent_ms == 4000);
  CHECK_FALSE(h.unanswered(kStart + 5s, "timed out").warning);  // one warning, not one a probe
  auto up = h.answered(kStart + 6s, kStart + 6500ms);
  CHECK(up.answered);
  REQUIRE(up.silent_ms_before_answer);
  CHECK(*up.silent_ms_before_answer == 6500);  // not the time since the clock's epoch
  CHECK_FALSE(h.answered(kStart + 7s, kStart + 7s).silent_ms_before_answer);  // said once
}

TEST_CASE("cluster health: an outage after answers is timed from the last answer, the warning "
          "repeats every 30 s",
          "[unit][kafka]") {
  ClusterHealth h(kStart, 3000ms, "kafka.brokers");
  CHECK_FALSE(h.answered(kStart + 1s, kStart + 1100ms).silent_ms_before_answer);
  auto down = h.unanswered(kStart + 5s, "broker transport failure");
  REQUIRE(down.problem);
  CHECK(*down.problem == "no answer from the cluster for 4 s (broker transport failure)");
  CHECK(down.warning);
  CHECK_FALSE(h.unanswered(kStart + 20s, "broker transport failure").warning);
  CHECK(h.unanswered(kStart + 35s, "broker transport failure").warning);
  auto up = h.answered(kStart + 40s, kStart + 40s);
  REQUIRE(up.silent_ms_before_answer);
  CHECK(*up.silent_ms_before_answer == 39000);
}

TEST_CASE("cluster health: the warning names the cluster's own brokers key", "[unit][kafka]") {
  ClusterHealth main(kStart, 3000ms, "kafka.brokers");
  auto w = main.unanswered(kStart + 4s, "timed out").warning;
  REQUIRE(w);
  CHECK(w->find("check that the brokers of kafka.brokers run") != std::string::npos);
  ClusterHealth eu(kStart, 3000ms, "clusters.eu.brokers");
  w = eu.unanswered(kStart + 4s, "timed out").warning;
  REQUIRE(w);
  CHECK(w->find("check that the brokers of clusters.eu.brokers run") != std::string::npos);
  CHECK(w->find("kafka.brokers") == std::string::npos);
}

}  // namespace pemx::kafka
