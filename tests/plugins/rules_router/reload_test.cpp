// rules_router's live rules: the version of the rules, and a reload's rules taken by the
// running stage between two events (pemx/reload.hpp's LiveRules).
#include <catch2/catch.hpp>

#include <string>

#include "support/config_fixture.hpp"

namespace pemx {
namespace {

using namespace std::chrono_literals;
using namespace test;  // kPemxToml, load, edited

std::string version_of(const std::string& text) {
  auto r = load(text);
  INFO(error_lines(r).size());
  REQUIRE(r.config);
  auto rules = r.config->stage("router")->spec->live_rules();
  REQUIRE(rules);
  return rules->current().version;
}

TEST_CASE("the rules' version: the same rules give the same version, a changed rule another",
          "[unit][rules_router][reload]") {
  const std::string base(kPemxToml);
  const std::string v = version_of(base);
  CHECK(v.size() == 16);
  CHECK(v.find_first_not_of("0123456789abcdef") == std::string::npos);
  // Layout, comments, inline vs dotted keys and other stages do not change the rules.
  CHECK(version_of(edited(base, R"(match = { field = "eventType", equals = "Country" })",
                          "# the country events\nmatch.field = \"eventType\"\n"
                          "match.equals = \"Country\"")) == v);
  CHECK(version_of(edited(base, "max_in_flight = 20000", "max_in_flight = 100")) == v);
  // What routes does.
  CHECK(version_of(edited(base, R"(topic = "country-{data.country}")",
                          R"(topic = "countries-{data.country}")")) != v);
  CHECK(version_of(edited(base, R"(defaults = { "data.country" = "US" })",
                          R"(defaults = { "data.country" = "SE" })")) != v);
  CHECK(version_of(edited(base, R"(dead_letter_topic = "product-event-dlq-pemx")",
                          R"(dead_letter_topic = "other-dlq")")) != v);
  CHECK(version_of(edited(base, R"(validation = "report")", R"(validation = "strict")")) != v);
  CHECK(version_of(edited(base, R"(key_field = "productId")", R"(key_field = "eventId")")) != v);
  // Rule order matters (each rule's topic is in rule order).
  CHECK(version_of(edited(base, R"(name = "storage")", R"(name = "store")")) != v);
}

// The router stage alone, between two queues.
struct RouterHarness {
  explicit RouterHarness(const LoadResult& r) {
    ctx.name = "router";
    ctx.metrics = &metrics;
    ctx.queues = {{"events", &input}, {"routed", &output}};
    ctx.fatal = [](const std::string&) {};
    stage = r.config->stage("router")->spec->create(ctx);
    stage->start();
  }
  ~RouterHarness() { stage->stop(); }

  RecordPtr route(const std::string& value, const std::string& topic = "product-event",
                  bool replay = false) {
    auto rec = std::make_unique<Record>();
    rec->topic = topic;
    rec->replay = replay;
    rec->value = value;
    return route(std::move(rec));
  }
  // Routes `rec` as it is (a record coming back for reuse keeps what it held).
  RecordPtr route(RecordPtr rec) {
    REQUIRE(input.push(rec, Clock::now() + 5s) == QueueStatus::kOk);
    RecordPtr out;
    REQUIRE(output.pop(out, Clock::now() + 10s) == QueueStatus::kOk);
    return out;
  }

  Metrics metrics;
  RecordQueue input{"events", 16};
  RecordQueue output{"routed", 16};
  StageContext ctx;
  std::unique_ptr<Stage> stage;
};

std::string header(const Record& rec, const std::string& name) {
  std::string found = "(none)";
  for_each_output_header(rec, [&](std::string_view n, std::string_view v) {
    if (n == name) found = v;
  });
  return found;
}

TEST_CASE("a running router takes the replaced rules at the next event, with their version",
          "[unit][rules_router][reload]") {
  const std::string base(kPemxToml);
  auto running = load(base);
  REQUIRE(running.config);
  auto next = load(edited(base, R"(topic = "country-{data.country}")",
                          R"(topic = "countries-{data.country}")"));
  REQUIRE(next.config);
  auto live = running.config->stage("router")->spec->live_rules();
  auto incoming = next.config->stage("router")->spec->live_rules();
  const std::string old_version = live->current().version;
  const std::string new_version = incoming->current().version;
  REQUIRE(old_version != new_version);

  RouterHarness h(running);
  auto check = running.config->stage("router")->spec->event_check();
  const std::string event =
      reference_event("Country", "EU", R"({"country":"Sweden","region":"EU"})", "P1");
  auto first = h.route(event);
  CHECK(first->targets ==
        std::vector<std::string>{"country-Sweden", "product-event-storage-pemx"});
  CHECK(header(*first, "pemx-rules-version") == old_version);

  CHECK(live->replace(*incoming));
  CHECK(live->current().version == new_version);
  auto second = h.route(event);
  CHECK(second->targets ==
        std::vector<std::string>{"countries-Sweden", "product-event-storage-pemx"});
  CHECK(header(*second, "pemx-rules-version") == new_version);
  // Replacing with the running rules changes nothing.
  CHECK_FALSE(live->replace(*incoming));

  // The push's check follows the box too: without the default, an event without data.country
  // cannot be routed and is refused.
  auto stricter = load(edited(base, R"(defaults = { "data.country" = "US" })", ""));
  INFO(Catch::Detail::stringify(error_lines(stricter)));
  REQUIRE(stricter.config);
  const std::string no_country = reference_event("Country", "EU", R"({"region":"EU"})", "P2");
  REQUIRE(check->check(no_country) == std::nullopt);
  // So does a series of checks (one push request's) open across the reload: its next event is
  // checked with the rules in force then, not those of its first.
  auto series = check->series();
  REQUIRE(series->check_scanned(no_country) == std::nullopt);
  CHECK(live->replace(*stricter.config->stage("router")->spec->live_rules()));
  auto refusal = check->check(no_country);
  REQUIRE(refusal);
  CHECK(refusal->reason == "missing_placeholder");
  auto in_series = series->check_scanned(no_country);
  REQUIRE(in_series);
  CHECK(in_series->reason == "missing_placeholder");
  CHECK(in_series->detail == refusal->detail);
  auto dead = h.route(no_country);
  CHECK(dead->targets == std::vector<std::string>{"product-event-dlq-pemx"});
  CHECK(header(*dead, "pemx-rules-version") == live->current().version);
}

TEST_CASE("a rule rendering the router's input topic or the dead-letter topic dead-letters the "
          "event (topic_loop) instead of looping",
          "[unit][rules_router]") {
  auto loaded = load(edited(std::string(kPemxToml), R"(topic = "product-price-update-v1-{region}")",
                            R"(topic = "{region}")"));
  INFO(Catch::Detail::stringify(error_lines(loaded)));
  REQUIRE(loaded.config);
  RouterHarness h(loaded);
  auto routed = h.route(reference_event("ProductPriceUpdate", "EU", R"({"newPrice":1})", "P1"));
  CHECK(routed->targets == std::vector<std::string>{"EU", "product-event-storage-pemx"});
  for (const char* loop : {"product-event", "product-event-dlq-pemx"}) {
    INFO(loop);
    auto dead = h.route(reference_event("ProductPriceUpdate", loop, R"({"newPrice":1})", "P2"));
    CHECK(dead->targets == std::vector<std::string>{"product-event-dlq-pemx"});
    CHECK(header(*dead, "pemx-dlq-reason") == "topic_loop");
    CHECK(header(*dead, "pemx-dlq-detail").find(loop) != std::string::npos);
  }
  CHECK(h.metrics.counter_value("pemx_rules_router_dead_lettered_total",
                                {{"stage", "router"}, {"reason", "topic_loop"}}) == 2);
  // `pemx replay` reads events stored from the storage topic and may send them there again
  // (the storage rule): no loop. The same record consumed from that topic would loop.
  const std::string stored = reference_event("Country", "EU", R"({"country":"FR"})", "P3");
  auto replayed = h.route(stored, "product-event-storage-pemx", true);
  CHECK(replayed->targets == std::vector<std::string>{"country-FR", "product-event-storage-pemx"});
  auto consumed = h.route(stored, "product-event-storage-pemx", false);
  CHECK(header(*consumed, "pemx-dlq-reason") == "topic_loop");
}

TEST_CASE("a running router gives each output its cluster, by the start-up cluster numbers",
          "[unit][rules_router][reload][clusters]") {
  std::string base = edited(kPemxToml, "[kafka.properties]\n",
                            "[kafka.properties]\n[clusters.ap]\nbrokers = \"ap:9092\"\n"
                            "[clusters.eu]\nbrokers = \"eu:9092\"\n");
  base = edited(base, R"(topic = "product-price-update-v1-{region}")",
                "topic = \"product-price-update-v1-{region}\"\ncluster = \"eu\"");
  auto running = load(base);
  INFO(Catch::Detail::stringify(error_lines(running)));
  REQUIRE(running.config);
  RouterHarness h(running);
  const std::string price = reference_event("ProductPriceUpdate", "EU", "{}", "P1");
  auto first = h.route(price);
  CHECK(first->targets ==
        std::vector<std::string>{"product-price-update-v1-EU", "product-event-storage-pemx"});
  CHECK(first->target_clusters == std::vector<std::uint8_t>{2, 0});  // ap = 1, eu = 2
  // Every output on [kafka]: no numbers at all (the sink's common path).
  auto country = h.route(reference_event("Country", "EU", R"({"country":"Sweden"})", "P2"));
  CHECK(country->target_clusters.empty());
  auto dead = h.route("{not json");
  CHECK(dead->targets == std::vector<std::string>{"product-event-dlq-pemx"});
  CHECK(dead->target_clusters.empty());

  // A re-read file that declares one more cluster sorting first ("aa" would be 1, "eu" 3):
  // the live rules keep the numbers of the producers the sink made at start-up.
  auto next = load(edited(edited(base, "[clusters.ap]", "[clusters.aa]\nbrokers = \"aa:1\"\n"
                                                        "[clusters.ap]"),
                          R"(name = "storage")", R"(name = "store")"));
  REQUIRE(next.config);
  auto live = running.config->stage("router")->spec->live_rules();
  REQUIRE(live->replace(*next.config->stage("router")->spec->live_rules()));
  auto second = h.route(price);
  CHECK(second->target_clusters == std::vector<std::uint8_t>{2, 0});
}

using HeaderList = std::vector<std::pair<std::string, std::string>>;

HeaderList output_headers(const Record& rec) {
  HeaderList out;
  for_each_output_header(rec, [&](std::string_view name, std::string_view value) {
    out.emplace_back(name, value);
  });
  return out;
}

TEST_CASE("every output of a routed event carries the routing headers, in order, also when the "
          "record was a dead letter before",
          "[unit][rules_router][headers]") {
  auto loaded = load(std::string(kPemxToml));
  REQUIRE(loaded.config);
  const std::string version =
      loaded.config->stage("router")->spec->live_rules()->current().version;
  RouterHarness h(loaded);
  const std::string event =
      reference_event("Country", "EU", R"({"country":"Sweden","region":"EU"})", "P1");
  const std::string id = event.substr(event.find(R"("eventId":")") + 11, 36);

  auto rec = std::make_unique<Record>();
  rec->topic = "product-event";
  rec->partition = 2;
  rec->offset = 9876543210;
  rec->value = "{not json";
  rec = h.route(std::move(rec));
  // A dead letter's headers are strings (cut to fit), the reason headers after them.
  CHECK(rec->routing_headers == 0);
  HeaderList dead = output_headers(*rec);
  REQUIRE(dead.size() >= 7);
  CHECK(dead[0] == HeaderList::value_type{"pemx-source-topic", "product-event"});
  CHECK(dead[1] == HeaderList::value_type{"pemx-source-partition", "2"});
  CHECK(dead[2] == HeaderList::value_type{"pemx-source-offset", "9876543210"});
  CHECK(dead[3] == HeaderList::value_type{"pemx-rules-version", version});
  CHECK(dead[4] == HeaderList::value_type{"pemx-dlq-reason", "invalid_json"});

  // The same record again, now with an event that routes: nothing of the dead letter is left.
  rec->offset = 7;
  rec->value = event;
  rec = h.route(std::move(rec));
  CHECK(rec->out_headers.empty());
  CHECK(output_headers(*rec) == HeaderList{{"pemx-event-type", "Country"},
                                           {"pemx-event-id", id},
                                           {"pemx-source-topic", "product-event"},
                                           {"pemx-source-partition", "2"},
                                           {"pemx-source-offset", "7"},
                                           {"pemx-rules-version", version}});

  // And a dead letter after it: its header strings again, without the routed ones' bits.
  rec->value = reference_event("Country", "EU", R"({"country":"a b"})", "P2");
  rec = h.route(std::move(rec));
  REQUIRE(rec->dead_lettered());
  HeaderList again = output_headers(*rec);
  REQUIRE(again.size() >= 9);
  CHECK(again[0] == HeaderList::value_type{"pemx-event-type", "Country"});
  CHECK(again[2] == HeaderList::value_type{"pemx-source-topic", "product-event"});
  CHECK(again[6] == HeaderList::value_type{"pemx-dlq-reason", "illegal_topic"});
  CHECK(again.size() == rec->out_headers.size());
}

}  // namespace
}  // namespace pemx
