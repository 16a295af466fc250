// pemx replay's bookkeeping: --topics filtering, the replay header, dead letters, acks.
#include "tools/replay/tally.hpp"

#include <catch2/catch.hpp>

namespace pemx::replay {
namespace {

using Topics = std::vector<std::string>;

RecordPtr routed_to(const std::string& id, Topics targets, const std::string& reason = "") {
  auto r = std::make_unique<Record>();
  r->event_id = id;
  r->targets = std::move(targets);
  r->dead_letter_reason = reason;
  r->out_headers = {{"pemx-rules-version", "v1"}};
  return r;
}

TEST_CASE("replay tally: every output, marked as a replay", "[unit][replay]") {
  Tally t({}, "run-1", false);
  RecordPtr a_owner = routed_to("a", {"t1", "storage"});
  Record& a = *a_owner;
  REQUIRE(t.routed(a));
  CHECK(a.targets == Topics{"t1", "storage"});
  REQUIRE(a.out_headers.size() == 2);
  CHECK(a.out_headers[1].name == kReplayHeader);
  CHECK(a.out_headers[1].value == "run-1");
  RecordPtr d_owner = routed_to("d", {"dlq"}, "invalid_json");
  Record& d = *d_owner;
  REQUIRE(t.routed(d));
  CHECK(t.dead_letters().at("invalid_json") == 1);
  CHECK(t.dead_letter_topic() == "dlq");
  CHECK(t.planned_outputs() == 3);
  CHECK(t.acked_outputs() == 0);
  t.acked(a);
  t.acked(d);
  CHECK(t.acked_outputs() == 3);
  CHECK(t.topics().at("t1").acked == 1);
  CHECK(t.topics().at("dlq").planned == 1);
  CHECK(t.skipped_outputs() == 0);
}

TEST_CASE("replay tally: --topics keeps only the named targets", "[unit][replay]") {
  Tally t({"t1"}, "run-2", false);
  RecordPtr a_owner = routed_to("a", {"t1", "storage"});
  Record& a = *a_owner;
  REQUIRE(t.routed(a));
  CHECK(a.targets == Topics{"t1"});
  RecordPtr b_owner = routed_to("b", {"t2", "storage"});
  Record& b = *b_owner;
  CHECK_FALSE(t.routed(b));  // nothing left to produce
  RecordPtr d_owner = routed_to("d", {"dlq"}, "no_matching_rule");
  Record& d = *d_owner;
  CHECK_FALSE(t.routed(d));  // the dead-letter topic is a target like the others
  CHECK(t.dead_letters().at("no_matching_rule") == 1);
  CHECK(t.skipped_outputs() == 4);
  CHECK(t.skipped_events() == 2);
  CHECK(t.topics().at("storage").skipped == 2);
  CHECK(t.topics().at("t1").planned == 1);
  CHECK(t.planned_outputs() == 1);
}

TEST_CASE("replay tally: a dry run counts and produces nothing", "[unit][replay]") {
  Tally t({}, "run-3", true);
  RecordPtr a_owner = routed_to("a", {"t1"});
  Record& a = *a_owner;
  CHECK_FALSE(t.routed(a));
  CHECK(t.topics().at("t1").planned == 1);
  CHECK(t.skipped_events() == 0);
  REQUIRE(t.decisions().size() == 1);
  CHECK(t.decisions()[0] == "a -> t1");
  for (int i = 0; i < 20; ++i) {
    RecordPtr r_owner = routed_to("x", {"t1"});
    Record& r = *r_owner;
    t.routed(r);
  }
  CHECK(t.decisions().size() == kShownDecisions);
}

}  // namespace
}  // namespace pemx::replay

TEST_CASE("replay frontier: resume at the first event not finished, in reading order",
          "[unit][replay]") {
  using pemx::replay::Frontier;
  using pemx::replay::Position;
  pemx::Record a, b, c;
  Frontier f;
  CHECK_FALSE(f.resume(std::nullopt));
  f.started(&a, {1000, "A"});
  f.started(&b, {1000, "B"});
  f.started(&c, {2000, "C"});
  CHECK(f.open() == 3);
  f.finished(&b);  // acknowledged out of order: A still holds the frontier
  REQUIRE(f.resume(std::nullopt));
  CHECK(f.resume(std::nullopt)->event_id == "A");
  f.finished(&a);
  CHECK(f.resume(std::nullopt)->event_id == "C");
  CHECK(f.resume(std::nullopt)->created_ms == 2000);
  f.finished(&c);
  CHECK(f.open() == 0);
  // Nothing open: the next event not read, when the caller knows it.
  CHECK_FALSE(f.resume(std::nullopt));
  auto next = f.resume(Position{3000, "D"});
  REQUIRE(next);
  CHECK(next->event_id == "D");
  f.finished(&a);  // twice, or a record it never saw: ignored
  CHECK(f.open() == 0);
}
