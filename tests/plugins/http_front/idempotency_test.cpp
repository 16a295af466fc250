// The push's idempotency table (idempotency.hpp): window, bound, conflicts, Idempotency-Key,
// on an injected clock.
#include "http_front/idempotency.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "pemx/metrics.hpp"

using namespace pemx;
using namespace pemx::http_front;
using namespace std::chrono_literals;
using Outcome = IdempotencyTable::Plan::Outcome;
using KeyOutcome = IdempotencyTable::KeyLookup::Outcome;

namespace {

struct FakeClock {
  IdempotencyTable::Clock::time_point now{std::chrono::hours(1000)};
  std::function<IdempotencyTable::Clock::time_point()> fn() {
    return [this] { return now; };
  }
};

std::string id(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", n);
  return buf;
}

// A push of events n..n+count-1, with `content` in each one's bytes.
struct Push {
  std::vector<std::string> ids;
  std::vector<IdempotencyTable::Item> items;
  Push(int first, int count, const std::string& content = "a") {
    for (int i = 0; i < count; ++i) ids.push_back(id(first + i));
    for (int i = 0; i < count; ++i) {
      items.push_back({ids[static_cast<std::size_t>(i)], sha256(ids[static_cast<std::size_t>(i)] +
                                                                content)});
    }
  }
};

// The locations Kafka would report for the fresh events of a plan: offsets from `base`.
std::vector<Delivered> delivered_for(const IdempotencyTable::Plan& plan, std::int64_t base) {
  std::vector<Delivered> out;
  for (std::size_t f = 0; f < plan.fresh.size(); ++f) {
    out.push_back({"t", 0, base + static_cast<std::int64_t>(f)});
  }
  return out;
}

// begin + accept, as a successful push does; returns the plan.
IdempotencyTable::Plan push_ok(IdempotencyTable& t, const Push& p, std::int64_t base,
                               std::string_view owner = {}) {
  auto plan = t.begin_events(p.items, owner);
  if (plan.outcome == Outcome::kProduce) t.accept(p.items, plan, delivered_for(plan, base));
  return plan;
}

double counter(Metrics& m, const std::string& series) {
  auto text = m.render_prometheus();
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

}  // namespace

TEST_CASE("idempotency: SHA-256 is the real one", "[unit][http][idempotency]") {
  auto d = sha256("abc");
  std::string hex;
  for (unsigned char c : d) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", c);
    hex += b;
  }
  CHECK(hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_parts({"ab", "c"}) != sha256_parts({"a", "bc"}));
}

TEST_CASE("idempotency: a push accepted once is replayed with its receipt, nothing produced",
          "[unit][http][idempotency]") {
  FakeClock clock;
  Metrics metrics;
  IdempotencyTable t({600s, 1000}, "product-event", &metrics, clock.fn());
  Push p(1, 3);
  auto first = t.begin_events(p.items);
  REQUIRE(first.outcome == Outcome::kProduce);
  REQUIRE(first.fresh == std::vector<std::size_t>{0, 1, 2});
  t.accept(p.items, first, delivered_for(first, 40));
  CHECK(first.receipt[2].offset == 42);

  clock.now += 599s;
  auto again = t.begin_events(p.items);
  REQUIRE(again.outcome == Outcome::kReplay);
  CHECK(again.fresh.empty());
  CHECK(again.replayed == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(again.receipt[i].topic == "product-event");
    CHECK(again.receipt[i].offset == first.receipt[i].offset);
  }
  CHECK(counter(metrics, "pemx_http_front_idempotent_replays_total") == 1);
}

TEST_CASE("idempotency: after the window the same push is produced again",
          "[unit][http][idempotency]") {
  FakeClock clock;
  IdempotencyTable t({10s, 1000}, "t", nullptr, clock.fn());
  Push p(1, 2);
  push_ok(t, p, 0);
  clock.now += 9s;
  CHECK(t.begin_events(p.items).outcome == Outcome::kReplay);
  clock.now += 1s;  // the window has passed: forgotten
  auto plan = t.begin_events(p.items);
  CHECK(plan.outcome == Outcome::kProduce);
  CHECK(plan.fresh.size() == 2);
  CHECK(t.size() == 2);  // the old entries left, the new ones are reserved
}

TEST_CASE("idempotency: same eventId with other content is a conflict naming it",
          "[unit][http][idempotency]") {
  Metrics metrics;
  FakeClock clock;
  IdempotencyTable t({600s, 1000}, "t", &metrics, clock.fn());
  push_ok(t, Push(1, 3), 0);
  Push changed(2, 3, "b");  // ids 2 and 3 known with other content, 4 new
  auto plan = t.begin_events(changed.items);
  CHECK(plan.outcome == Outcome::kConflict);
  CHECK(plan.ids == std::vector<std::string>{id(2), id(3)});
  CHECK(plan.fresh.empty());
  CHECK(t.size() == 3);  // nothing reserved: id 4 is still unknown
  CHECK(t.begin_events(Push(4, 1).items).outcome == Outcome::kProduce);
  CHECK(counter(metrics, "pemx_http_front_idempotency_conflicts_total{kind=\"content\"}") == 1);
}

TEST_CASE("idempotency: a mix of accepted and new events produces only the new ones",
          "[unit][http][idempotency]") {
  FakeClock clock;
  IdempotencyTable t({600s, 1000}, "t", nullptr, clock.fn());
  auto first = push_ok(t, Push(1, 2), 100);
  Push retry(1, 4);  // 1, 2 accepted; 3, 4 new
  auto plan = t.begin_events(retry.items);
  REQUIRE(plan.outcome == Outcome::kProduce);
  CHECK(plan.fresh == std::vector<std::size_t>{2, 3});
  CHECK(plan.replayed == 2);
  t.accept(retry.items, plan, delivered_for(plan, 200));
  CHECK(plan.receipt[0].offset == 100);
  CHECK(plan.receipt[1].offset == 101);
  CHECK(plan.receipt[2].offset == 200);
  CHECK(plan.receipt[3].offset == 201);
}

TEST_CASE("idempotency: an eventId twice in one request is produced once, or conflicts",
          "[unit][http][idempotency]") {
  FakeClock clock;
  IdempotencyTable t({600s, 1000}, "t", nullptr, clock.fn());
  Push same(1, 1);
  same.items.push_back(same.items[0]);
  auto plan = t.begin_events(same.items);
  REQUIRE(plan.outcome == Outcome::kProduce);
  CHECK(plan.fresh == std::vector<std::size_t>{0});
  t.accept(same.items, plan, delivered_for(plan, 7));
  CHECK(plan.receipt[1].offset == 7);

  Push spread(10, 2);  // 10, 11, 10 again: the repeat follows its first
  spread.items.push_back(spread.items[0]);
  auto twice = t.begin_events(spread.items);
  REQUIRE(twice.outcome == Outcome::kProduce);
  CHECK(twice.fresh == std::vector<std::size_t>{0, 1});
  CHECK(twice.source == std::vector<int>{0, 1, 0});

  // 200 events of 7 eventIds in a scattered order: each repeat follows the first event of its
  // eventId, whatever the order the table compares them in.
  Push seven(100, 7);
  std::vector<IdempotencyTable::Item> scattered;
  for (std::size_t k = 0; k < 200; ++k) scattered.push_back(seven.items[(k * 3 + k / 9) % 7]);
  auto repeats = t.begin_events(scattered);
  REQUIRE(repeats.outcome == Outcome::kProduce);
  std::vector<std::size_t> firsts;
  std::vector<int> sources;
  for (std::size_t k = 0; k < scattered.size(); ++k) {
    std::size_t f = 0;
    while (scattered[f].event_id != scattered[k].event_id) ++f;
    if (f == k) firsts.push_back(k);
    sources.push_back(static_cast<int>(
        std::find(firsts.begin(), firsts.end(), f) - firsts.begin()));
  }
  CHECK(firsts.size() == 7);
  CHECK(repeats.fresh == firsts);
  CHECK(repeats.source == sources);
  t.accept(scattered, repeats, delivered_for(repeats, 50));
  CHECK(repeats.receipt[199].offset ==
        50 + sources[199]);  // the receipt of its first event

  Push differ(5, 2);
  differ.items.push_back({differ.ids[0], sha256("other")});
  auto conflict = t.begin_events(differ.items);
  CHECK(conflict.outcome == Outcome::kConflict);
  CHECK(conflict.ids == std::vector<std::string>{id(5)});
}

TEST_CASE("idempotency: a push in progress makes the same events busy; a failed one is "
          "forgotten",
          "[unit][http][idempotency]") {
  FakeClock clock;
  IdempotencyTable t({600s, 1000}, "t", nullptr, clock.fn());
  Push p(1, 2);
  auto first = t.begin_events(p.items);
  REQUIRE(first.outcome == Outcome::kProduce);
  auto concurrent = t.begin_events(p.items);
  CHECK(concurrent.outcome == Outcome::kBusy);
  CHECK(concurrent.ids.size() == 2);
  t.release(p.items, first);  // Kafka did not acknowledge: a retry produces
  CHECK(t.size() == 0);
  CHECK(t.begin_events(p.items).outcome == Outcome::kProduce);
}

TEST_CASE("idempotency: a push that failed in part keeps what Kafka acknowledged",
          "[unit][http][idempotency]") {
  FakeClock clock;
  IdempotencyTable t({600s, 1000}, "t", nullptr, clock.fn());
  Push p(1, 3);
  auto plan = t.begin_events(p.items);
  REQUIRE(plan.outcome == Outcome::kProduce);
  // Answered 503; the reports, once all in: 1 and 3 acknowledged, 2 not.
  t.settle(p.items, plan, {Delivered{"t", 0, 40}, std::nullopt, Delivered{"t", 1, 41}});
  CHECK(t.size() == 2);
  auto retry = t.begin_events(p.items);
  REQUIRE(retry.outcome == Outcome::kProduce);
  CHECK(retry.fresh == std::vector<std::size_t>{1});  // only the one Kafka does not hold
  CHECK(retry.replayed == 2);
  t.accept(p.items, retry, delivered_for(retry, 90));
  CHECK(retry.receipt[0].offset == 40);
  CHECK(retry.receipt[1].offset == 90);
  CHECK(retry.receipt[2].partition == 1);
  CHECK(retry.receipt[2].offset == 41);
  CHECK(t.begin_events(p.items).outcome == Outcome::kReplay);
}

TEST_CASE("idempotency: the bound drops the oldest entries early and counts them",
          "[unit][http][idempotency]") {
  Metrics metrics;
  FakeClock clock;
  IdempotencyTable t({600s, 200}, "t", &metrics, clock.fn());
  push_ok(t, Push(0, 150), 0);
  clock.now += 1s;
  push_ok(t, Push(1000, 100), 0);  // 50 of the first push make room
  CHECK(t.size() == 200);
  CHECK(counter(metrics, "pemx_http_front_idempotency_evictions_total") == 50);
  CHECK(counter(metrics, "pemx_http_front_idempotency_entries") == 200);
  CHECK(t.begin_events(Push(0, 1).items).outcome == Outcome::kProduce);  // evicted: unknown
  // Only pending entries left: a push that needs room is refused, nothing dropped.
  IdempotencyTable pending({600s, 200}, "t", nullptr, clock.fn());
  Push a(0, 200);
  REQUIRE(pending.begin_events(a.items).outcome == Outcome::kProduce);
  CHECK(pending.begin_events(Push(500, 1).items).outcome == Outcome::kFull);
  CHECK(pending.size() == 200);
  // Under any rate the table stays within the bound.
  IdempotencyTable busy({600s, 1000}, "t", nullptr, clock.fn());
  for (int round = 0; round < 100; ++round) {
    push_ok(busy, Push(round * 200, 200), 0);
    REQUIRE(busy.size() <= 1000);
  }
}

TEST_CASE("idempotency: one writer filling the table evicts only its own entries",
          "[unit][http][idempotency]") {
  Metrics metrics;
  FakeClock clock;
  // Room for 3000 units, at most 1000 of them one token's: three writers never evict another.
  IdempotencyTable t({600s, 3000, 1000}, "t", &metrics, clock.fn());
  push_ok(t, Push(0, 200), 0, "billing");
  clock.now += 1s;
  push_ok(t, Push(200, 150), 0, "catalogue");
  clock.now += 1s;
  // "ci" pushes 10,000 fresh events, 200 at a time: far more than the table holds.
  for (int round = 0; round < 50; ++round) {
    REQUIRE(push_ok(t, Push(10'000 + round * 200, 200), 0, "ci").outcome == Outcome::kProduce);
    clock.now += 1ms;
    REQUIRE(t.size("ci") <= 1000);
  }
  CHECK(t.size("ci") == 1000);
  CHECK(t.size("billing") == 200);
  CHECK(t.size("catalogue") == 150);
  // The others' retries are still replays; ci's oldest are gone, its newest kept.
  CHECK(t.begin_events(Push(0, 200).items, "billing").outcome == Outcome::kReplay);
  CHECK(t.begin_events(Push(200, 150).items, "catalogue").outcome == Outcome::kReplay);
  CHECK(t.begin_events(Push(10'000 + 49 * 200, 200).items, "ci").outcome == Outcome::kReplay);
  CHECK(counter(metrics, "pemx_http_front_idempotency_evictions_total") == 9000);
  auto gone = t.begin_events(Push(10'000, 1).items, "ci");
  CHECK(gone.outcome == Outcome::kProduce);
  t.release(Push(10'000, 1).items, gone);
  // Keys count against their token too.
  REQUIRE(t.begin_key("ci-key", sha256("body"), "ci").outcome == KeyOutcome::kNew);
  t.accept_key("ci-key", Answer{201, "receipt", {}}, 200);
  CHECK(t.size("ci") <= 1000);
  CHECK(t.size("billing") == 200);
}

TEST_CASE("idempotency: caps adding up to more than the table evict the oldest of anyone",
          "[unit][http][idempotency]") {
  FakeClock clock;
  // Two writers with caps of 600 in a table of 800: the table's bound still holds.
  IdempotencyTable t({600s, 800, 600}, "t", nullptr, clock.fn());
  push_ok(t, Push(0, 200), 0, "a");
  clock.now += 1s;
  push_ok(t, Push(200, 200), 0, "a");
  clock.now += 1s;
  for (int round = 0; round < 3; ++round) {
    push_ok(t, Push(1000 + round * 200, 200), 0, "b");
    clock.now += 1s;
  }
  CHECK(t.size() == 800);
  CHECK(t.size("b") == 600);
  CHECK(t.size("a") == 200);  // a's oldest 200 made room once the table was full
  CHECK(t.begin_events(Push(200, 200).items, "a").outcome == Outcome::kReplay);
}

TEST_CASE("idempotency: Idempotency-Key replays the first answer, refuses another body",
          "[unit][http][idempotency]") {
  Metrics metrics;
  FakeClock clock;
  IdempotencyTable t({60s, 1000}, "t", &metrics, clock.fn());
  const Digest body = sha256("{\"events\":[]}");
  REQUIRE(t.begin_key("k1", body).outcome == KeyOutcome::kNew);
  CHECK(t.begin_key("k1", body).outcome == KeyOutcome::kBusy);  // still being answered
  t.accept_key("k1", Answer{201, "receipt", {{"Vary", "Prefer"}}}, 3);
  CHECK(t.size() == 4);  // the key and its answer's three events
  auto again = t.begin_key("k1", body);
  REQUIRE(again.outcome == KeyOutcome::kReplay);
  CHECK(again.answer.status == 201);
  CHECK(again.answer.body == "receipt");
  CHECK(t.begin_key("k1", sha256("other")).outcome == KeyOutcome::kMismatch);
  CHECK(counter(metrics, "pemx_http_front_idempotency_conflicts_total{kind=\"key\"}") == 1);
  // A request that did not succeed leaves nothing behind.
  REQUIRE(t.begin_key("k2", body).outcome == KeyOutcome::kNew);
  t.release_key("k2");
  CHECK(t.begin_key("k2", sha256("other")).outcome == KeyOutcome::kNew);
  // The window ends a key too.
  clock.now += 60s;
  CHECK(t.begin_key("k1", sha256("other")).outcome == KeyOutcome::kNew);
}

TEST_CASE("idempotency: the smallest table keeps a push of 200 events with its key",
          "[unit][http][idempotency]") {
  FakeClock clock;
  IdempotencyTable t({60s, kMinIdempotencyEntries}, "t", nullptr, clock.fn());
  const Digest body = sha256("two hundred events");
  REQUIRE(t.begin_key("k", body).outcome == KeyOutcome::kNew);
  Push p(1, static_cast<int>(kMaxEvents));
  auto plan = t.begin_events(p.items);
  REQUIRE(plan.outcome == Outcome::kProduce);
  t.accept(p.items, plan, delivered_for(plan, 0));
  t.accept_key("k", Answer{201, "receipt", {}}, kMaxEvents);
  CHECK(t.size() == kMinIdempotencyEntries);
  CHECK(t.begin_key("k", body).outcome == KeyOutcome::kReplay);
  CHECK(t.begin_events(p.items).outcome == Outcome::kReplay);  // its events were kept too
}

TEST_CASE("idempotency: Idempotency-Key values", "[unit][http][idempotency]") {
  CHECK(parse_idempotency_key("\"8e03978e-40d5-43e8-bc93-6894a57f9324\"") ==
        "8e03978e-40d5-43e8-bc93-6894a57f9324");
  CHECK(parse_idempotency_key("plain-key") == "plain-key");
  CHECK(parse_idempotency_key(" \"a\\\"b\" ") == "a\"b");
  CHECK_FALSE(parse_idempotency_key(""));
  CHECK_FALSE(parse_idempotency_key("\"\""));
  CHECK_FALSE(parse_idempotency_key("\"a\"b\""));
  CHECK_FALSE(parse_idempotency_key("caf\xc3\xa9"));
  CHECK(parse_idempotency_key(std::string(255, 'k')));
  CHECK_FALSE(parse_idempotency_key(std::string(256, 'k')));
}
