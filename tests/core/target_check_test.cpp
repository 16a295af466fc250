// The target check (core/target_check.hpp): a role's target topics against a cluster's, with
// a fake TopicDirectory; on the real broker in tests/integration/target_check_test.cpp.
#include "core/target_check.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "support/config_fixture.hpp"

namespace pemx {
namespace {

using Catch::Matchers::Contains;
using namespace test;  // kPemxToml, load, Lines

class FakeDirectory final : public TopicDirectory {
 public:
  explicit FakeDirectory(Result<TopicSet> answer) : answer_(std::move(answer)) {}
  Result<TopicSet> topics(std::chrono::milliseconds) override {
    ++asked;
    return answer_;
  }
  int asked = 0;

 private:
  Result<TopicSet> answer_;
};

// Targets that must all exist on [kafka] (missing_topics = "fail").
TargetTopics must_exist(std::vector<std::string> topics) {
  TargetTopics t;
  t.topics = std::move(topics);
  t.on_missing = TargetTopics::OnMissing::kFail;
  return t;
}

struct Captured {
  std::vector<std::string> lines;
  Logger log{make_line_sink(LogLevel::kInfo, [this](const std::string& l) { lines.push_back(l); }),
             "test"};
  bool any(std::string_view needle) const {
    for (const auto& l : lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

TEST_CASE("missing_topics names what the cluster lacks, in the wanted order",
          "[unit][targets]") {
  TopicSet existing = {"b", "d"};
  CHECK(missing_topics({"c", "b", "a"}, existing) == Lines{"c", "a"});
  CHECK(missing_topics({"b", "d"}, existing).empty());
  CHECK(missing_topics({}, existing).empty());
}

TEST_CASE("listed_topics names the first 20 and counts the rest", "[unit][targets]") {
  Lines many;
  for (int i = 0; i < 25; ++i) many.push_back("t" + std::to_string(i));
  const auto text = listed_topics(many);
  CHECK(text.rfind("t0, t1, ", 0) == 0);
  CHECK(text.find("t19 and 5 more") != std::string::npos);
  CHECK(text.find("t20") == std::string::npos);
  CHECK(listed_topics({"a", "b"}) == "a, b");
}

TEST_CASE("check_targets asks once and names the missing topics", "[unit][targets]") {
  TargetTopics targets = must_exist({"a", "b", "c"});
  FakeDirectory dir(TopicSet{"a", "c", "other"});
  auto outcome = check_targets(targets, dir);
  CHECK(dir.asked == 1);
  CHECK_FALSE(outcome.error);
  CHECK(outcome.missing == Lines{"b"});

  FakeDirectory failing(Error{"metadata", "metadata request failed: refused"});
  outcome = check_targets(targets, failing);
  CHECK(failing.asked == 1);  // not a timeout: not asked again
  CHECK(outcome.error == std::optional<std::string>("metadata request failed: refused"));
  CHECK(outcome.missing.empty());
}

TEST_CASE("check_targets asks again after a timeout until give_up says so", "[unit][targets]") {
  TargetTopics targets = must_exist({"a"});
  FakeDirectory silent(Error{"timeout", "no answer in 1000 ms"});
  auto outcome = check_targets(targets, silent, std::chrono::hours(1),
                               [&] { return silent.asked == 3; });
  CHECK(silent.asked == 3);
  REQUIRE(outcome.error);
  CHECK_THAT(*outcome.error, Contains("did not answer a metadata request in "));
}

// Answers from a list, the last one again once the list is used up.
class ScriptedDirectory final : public TopicDirectory {
 public:
  explicit ScriptedDirectory(std::vector<Result<TopicSet>> answers)
      : answers_(std::move(answers)) {}
  Result<TopicSet> topics(std::chrono::milliseconds) override {
    ++asked;
    return answers_[std::min<std::size_t>(asked, answers_.size()) - 1];
  }
  std::size_t asked = 0;

 private:
  std::vector<Result<TopicSet>> answers_;
};

TEST_CASE("check_targets asks again while no broker is reachable (a broker that accepted the "
          "connection and does not answer, say)",
          "[unit][targets]") {
  TargetTopics targets = must_exist({"a", "b"});
  const Error unreachable{"unreachable", "no broker answered: Local: Broker transport failure"};
  ScriptedDirectory later({unreachable, unreachable, TopicSet{"a"}});
  auto outcome = check_targets(targets, later, std::chrono::hours(1));
  CHECK(later.asked == 3);
  CHECK_FALSE(outcome.error);
  CHECK(outcome.missing == Lines{"b"});

  ScriptedDirectory never({unreachable});
  outcome = check_targets(targets, never, std::chrono::hours(1),
                          [&] { return never.asked == 2; });
  CHECK(never.asked == 2);
  REQUIRE(outcome.error);
  CHECK_THAT(*outcome.error, Contains("did not answer a metadata request in ") &&
                                 Contains("(last: no broker answered: Local: Broker transport"));
}

TEST_CASE("a role's check names the first missing topics and how many more",
          "[unit][targets]") {
  std::string values;
  for (int i = 0; i < 25; ++i) values += (i ? ", \"r" : "\"r") + std::to_string(i) + "\"";
  const std::string price = "topic = \"product-price-update-v1-{region}\"\n";
  auto text = edited(kPemxToml, price, price + "allowed = { region = [" + values + "] }\n");
  auto r = load(text, {"stages.router.missing_topics=fail"});
  INFO(Catch::Detail::stringify(error_lines(r)));
  REQUIRE(r.config);
  Captured out;
  FakeDirectory dir(TopicSet{"product-event-dlq-pemx", "product-event-storage-pemx"});
  CHECK(check_role_targets(*r.config, {"router"}, &dir, out.log) == 2);
  CHECK(out.any("product-price-update-v1-r0, "));
  CHECK(out.any(" and 5 more\""));
  CHECK(out.any(R"("missing_count":25)"));
}

TEST_CASE("a role's check: fail refuses (2) naming every missing topic in one line; warn "
          "and an unanswered cluster start (0)",
          "[unit][targets]") {
  const std::vector<std::string> dist = {"dist_ingest", "router", "dist_sink", "ops_http"};
  Captured out;
  SECTION("fail") {
    auto r = load(kPemxToml, {"stages.router.missing_topics=fail"});
    REQUIRE(r.config);
    FakeDirectory dir(TopicSet{"product-event"});
    CHECK(check_role_targets(*r.config, dist, &dir, out.log) == 2);
    CHECK(out.any(R"("msg":"target topics missing: start-up refused")"));
    CHECK(out.any(R"("missing":"product-event-dlq-pemx, product-event-storage-pemx")"));
    CHECK(out.any("stages.router.missing_topics = \\\"warn\\\""));
    // Templates over free event fields are said once.
    CHECK(out.any("cannot be checked"));
  }
  SECTION("warn") {
    auto r = load(kPemxToml);
    REQUIRE(r.config);
    FakeDirectory dir(TopicSet{"product-event-storage-pemx"});
    CHECK(check_role_targets(*r.config, dist, &dir, out.log) == 0);
    CHECK(out.any(R"("level":"warn")"));
    CHECK(out.any(R"("missing":"product-event-dlq-pemx")"));
  }
  SECTION("all present") {
    auto r = load(kPemxToml, {"stages.router.missing_topics=fail"});
    REQUIRE(r.config);
    FakeDirectory dir(TopicSet{"product-event-dlq-pemx", "product-event-storage-pemx"});
    CHECK(check_role_targets(*r.config, dist, &dir, out.log) == 0);
    CHECK(out.any("target topics exist"));
  }
  SECTION("the cluster does not answer") {
    auto r = load(kPemxToml, {"stages.router.missing_topics=fail"});
    REQUIRE(r.config);
    FakeDirectory dir(Error{"metadata", "metadata request failed"});
    CHECK(check_role_targets(*r.config, dist, &dir, out.log) == 0);
    CHECK(out.any("the cluster's topics could not be read; starting anyway"));
    CHECK(out.any("metadata request failed"));
  }
  SECTION("off: the cluster is not asked") {
    auto r = load(kPemxToml, {"stages.router.missing_topics=off"});
    REQUIRE(r.config);
    FakeDirectory dir(TopicSet{});
    CHECK(check_role_targets(*r.config, dist, &dir, out.log) == 0);
    CHECK(dir.asked == 0);
  }
}

}  // namespace
}  // namespace pemx
