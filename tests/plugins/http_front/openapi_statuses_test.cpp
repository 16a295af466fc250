// The code against its document: requests that provoke each status the server sends on each
// route family (the guards: 400 malformed, 413, 421, 431; the access checks: 401, 403, 429;
// the route table: 404, 405; the handlers: 400, 403, 415, 500, 503, ...), each answered by a
// real Server on a loopback socket, and each status must be listed for that path and method in
// the OpenAPI document the same server serves at /openapi.json. A status sent for a method the
// path item does not describe (a 405 to PUT /event) must be listed on each of its operations
// but the CORS preflight.
// A request path that is no documented path is the page's ("/", which lists its 404).
// The other way round, for the store's read routes (GET /event, /api/products/recent,
// /api/events/count, GET /event/{eventId}/lineage): every status their operations list is
// provoked here, or explained in kExplained.
// scripts/validate-openapi.sh checks the document itself against the OpenAPI 3.0 schema.
#include "http_front/server.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "http_front/lineage_kafka.hpp"
#include "http_front/openapi.hpp"
#include "plugins/http_front/empty_reader.hpp"
#include "support/http_client.hpp"
#include "support/json.hpp"

using namespace pemx;
using namespace pemx::http_front;
using pemx::http_front::test::EmptyReader;
using pemx::test::http_raw;
using pemx::test::HttpResponse;
using namespace std::chrono_literals;

namespace {

const std::string kReaderToken = "reader-secret-0123456789";
const std::string kWriterToken = "writer-secret-0123456789";
const std::string kAdminToken = "admin-secret-01234567890";

// A reader whose store is down: /readyz says so, a history query fails.
class BrokenReader final : public EventReader {
 public:
  Result<EventPage> query(const EventQuery&) override {
    return Error{"sqlite_error", "disk I/O error"};
  }
  Result<std::vector<RecentProduct>> recent_products(std::size_t) override {
    return Error{"sqlite_error", "disk I/O error"};
  }
  Result<EventCount> count(const EventQuery&) override {
    return Error{"sqlite_error", "disk I/O error"};
  }
  Result<std::optional<StoredRow>> find_event(const std::string&) override {
    return Error{"sqlite_error", "disk I/O error"};
  }
  Result<Analytics> analytics(const AnalyticsQuery&) override {
    return Error{"sqlite_error", "disk I/O error"};
  }
  std::optional<std::string> problem() override { return "disk I/O error"; }
};

// A store whose every reader connection stays busy (reader_wait passed): store_busy.
class BusyReader final : public EventReader {
 public:
  static Error busy() { return Error{"store_busy", "every reader connection stayed busy"}; }
  Result<EventPage> query(const EventQuery&) override { return busy(); }
  Result<std::vector<RecentProduct>> recent_products(std::size_t) override { return busy(); }
  Result<EventCount> count(const EventQuery&) override { return busy(); }
  Result<std::optional<StoredRow>> find_event(const std::string&) override { return busy(); }
  Result<Analytics> analytics(const AnalyticsQuery&) override { return busy(); }
  std::optional<std::string> problem() override { return std::nullopt; }
};

// An empty store that answers every read (EmptyReader leaves recent products and the count to
// the interface's "unsupported").
class ReadingReader final : public EventReader {
 public:
  Result<EventPage> query(const EventQuery&) override { return EventPage{}; }
  Result<std::vector<RecentProduct>> recent_products(std::size_t) override {
    return std::vector<RecentProduct>{};
  }
  Result<EventCount> count(const EventQuery&) override { return EventCount{}; }
  Result<Analytics> analytics(const AnalyticsQuery&) override { return Analytics{}; }
  std::optional<std::string> problem() override { return std::nullopt; }
};

// A lineage lookup that finds its event (the report itself: lineage_test.cpp).
class FoundLineage final : public LineageLookup {
 public:
  Answer lookup(const std::string&, const std::atomic<bool>&) override {
    return {200, "{}", {}};
  }
  void cancel() noexcept override {}
};

// KafkaLineage over `reader`: its store errors come before any Kafka client is made.
std::shared_ptr<LineageLookup> store_lineage(std::shared_ptr<EventReader> reader) {
  kafka::KafkaConfig kafka;
  kafka.brokers = "127.0.0.1:1";  // never reached
  return std::make_shared<KafkaLineage>(kafka, std::vector<kafka::ClusterConfig>{},
                                        LineageSettings{}, std::move(reader), nullptr, Logger{});
}

struct StatusServer {
  StatusServer(ServerSettings s, std::shared_ptr<EventReader> reader,
               std::shared_ptr<LineageLookup> lineage = nullptr) {
    if (lineage) s.lineage_lookup = std::move(lineage);
    s.port = 0;
    s.io_threads = 1;
    s.query_threads = 1;
    s.inline_queries = false;
    s.idle_timeout = 5s;
    s.max_body_bytes = 4096;
    activity.role = "web";
    activity.offer("stored");
    server = std::make_unique<Server>(s, Logger{}, metrics, std::move(reader), nullptr,
                                      &activity);
    server->start();
  }
  ~StatusServer() { server->stop(); }
  Metrics metrics;
  Activity activity;
  std::unique_ptr<Server> server;
};

struct Probe {
  std::string why;
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // Host: 127.0.0.1 unless given
  std::string body;
  int expected;
  std::string raw = {};  // sent as is when not empty (a malformed request)
};

std::string raw_request(const Probe& p) {
  if (!p.raw.empty()) return p.raw;
  std::string raw = p.method + " " + p.target + " HTTP/1.1\r\n";
  if (p.headers.count("Host") == 0) raw += "Host: 127.0.0.1\r\n";
  raw += "Connection: close\r\n";
  for (const auto& [name, value] : p.headers) raw += name + ": " + value + "\r\n";
  if (!p.body.empty() || p.method == "POST") {
    raw += "Content-Length: " + std::to_string(p.body.size()) + "\r\n";
  }
  return raw + "\r\n" + p.body;
}

std::string bearer(const std::string& token) { return "Bearer " + token; }

// The documented path a request path falls under: the same text, or a template whose
// {segments} match, else the page's "/".
std::string documented_path(const rapidjson::Value& paths, const std::string& path) {
  if (paths.HasMember(path.c_str())) return path;
  auto split = [](const std::string& p) {
    std::vector<std::string> parts;
    std::size_t start = 1;
    while (start <= p.size()) {
      auto end = p.find('/', start);
      if (end == std::string::npos) end = p.size();
      parts.push_back(p.substr(start, end - start));
      start = end + 1;
    }
    return parts;
  };
  const auto parts = split(path);
  for (auto it = paths.MemberBegin(); it != paths.MemberEnd(); ++it) {
    const auto tmpl = split(it->name.GetString());
    if (tmpl.size() != parts.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < tmpl.size() && same; ++i) {
      same = (!tmpl[i].empty() && tmpl[i].front() == '{') || tmpl[i] == parts[i];
    }
    if (same) return it->name.GetString();
  }
  return "/";
}

// The operations ("get /event") a request of `method` to `target` is checked against: the
// method's own, else (a method the path does not describe) each of the path's but OPTIONS.
std::vector<std::string> operations(const rapidjson::Document& doc, const std::string& method,
                                    const std::string& target) {
  const auto& paths = doc["paths"];
  const std::string path = documented_path(paths, target.substr(0, target.find('?')));
  std::string op = method;
  std::transform(op.begin(), op.end(), op.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (op == "head") op = "get";
  const auto& item = paths[path.c_str()];
  std::vector<std::string> ops;
  if (item.HasMember(op.c_str())) {
    ops.push_back(op);
  } else {
    for (auto it = item.MemberBegin(); it != item.MemberEnd(); ++it) {
      const std::string name = it->name.GetString();
      if (name != "options" && it->value.IsObject() && it->value.HasMember("responses")) {
        ops.push_back(it->name.GetString());
      }
    }
  }
  std::vector<std::string> out;
  for (const auto& o : ops) out.push_back(o + " " + path);
  if (ops.empty()) out.push_back("(no operation) " + path);
  return out;
}

const rapidjson::Value& responses(const rapidjson::Document& doc, const std::string& operation) {
  const auto space = operation.find(' ');
  return doc["paths"][operation.substr(space + 1).c_str()][operation.substr(0, space).c_str()]
            ["responses"];
}

// The operations of `target` that must list `status` for a request of `method`.
std::vector<std::string> unlisted(const rapidjson::Document& doc, const std::string& method,
                                  const std::string& target, int status) {
  std::vector<std::string> missing;
  const std::string code = std::to_string(status);
  for (const auto& o : operations(doc, method, target)) {
    if (o.rfind("(no operation)", 0) == 0 || !responses(doc, o).HasMember(code.c_str())) {
      missing.push_back(o);
    }
  }
  return missing;
}

struct Seen {
  std::set<int> all;
  std::map<std::string, std::set<int>> by_operation;  // "get /event" -> statuses provoked
};

void check_probes(StatusServer& t, const std::vector<Probe>& probes, Seen& seen) {
  const HttpResponse served = pemx::test::http_get(t.server->port(), "/openapi.json");
  REQUIRE(served.status == 200);
  const rapidjson::Document doc = pemx::test::parse_json(served.body);
  for (const Probe& p : probes) {
    INFO(p.why << ": " << p.method << " " << p.target);
    const HttpResponse r = http_raw(t.server->port(), raw_request(p));
    INFO("answer: " << r.status << " " << r.body.substr(0, 300));
    REQUIRE(r.status == p.expected);  // the probe provokes what it means to
    CHECK(unlisted(doc, p.method, p.target, r.status) == std::vector<std::string>{});
    seen.all.insert(r.status);
    for (const auto& o : operations(doc, p.method, p.target)) seen.by_operation[o].insert(r.status);
  }
}

}  // namespace

TEST_CASE("every status the server sends on a route is listed there in its OpenAPI document",
          "[unit][http][openapi]") {
  Seen seen;
  const std::string big(5000, 'x');
  const std::string json = "application/json";
  const std::string some_events =
      R"({"events":[{"eventId":"6f1c2a34-1111-4aaa-8bbb-000000000001","eventType":"Country",)"
      R"("productId":"P1","region":"EU","createdAt":"2024-07-26T14:41:17.123Z",)"
      R"("data":{"country":"Sweden"}}]})";
  std::map<std::string, std::string> flood;  // more header fields than max_header_fields
  for (int i = 0; i < 150; ++i) flood["X-Flood-" + std::to_string(i)] = "1";

  // Tokens for every role, reads need one, admin configured, no reloader.
  {
    ServerSettings s;
    s.credentials.tokens = {{"dash", kReaderToken, kRoleReader},
                            {"ingest", kWriterToken, kRoleWriter},
                            {"ops", kAdminToken, kRoleAdmin}};
    s.credentials.require_read_token = true;
    s.credentials.writes_guarded = true;
    s.credentials.admins = true;
    StatusServer t(s, std::make_shared<ReadingReader>(), std::make_shared<FoundLineage>());
    const std::map<std::string, std::string> reader{{"Authorization", bearer(kReaderToken)}};
    const std::map<std::string, std::string> writer{{"Authorization", bearer(kWriterToken)},
                                                    {"Content-Type", json}};
    auto with = [](std::map<std::string, std::string> h, std::string k, std::string v) {
      h[std::move(k)] = std::move(v);
      return h;
    };
    std::vector<Probe> probes = {
        {"probe", "GET", "/healthz", {}, "", 200},
        {"probe", "GET", "/readyz", {}, "", 200},
        {"scrape", "GET", "/metrics", {}, "", 200},
        {"document", "GET", "/openapi.json", {}, "", 200},
        {"page", "GET", "/", {}, "", 200},
        {"no such file", "GET", "/no-such-file.js", {}, "", 404},
        {"preflight", "OPTIONS", "/event", {}, "", 204},
        {"history", "GET", "/event?productIds=P1", reader, "", 200},
        {"no token", "GET", "/event?productIds=P1", {}, "", 401},
        {"no productIds", "GET", "/event", reader, "", 400},
        {"bad encoding", "GET", "/event?productIds=%zz", reader, "", 400},
        {"bad limit", "GET", "/event?productIds=P1&limit=0", reader, "", 400},
        {"other method", "PUT", "/event", {}, "", 405},
        {"other method", "DELETE", "/api/admin/reload", {}, "", 405},
        {"GET of a POST", "GET", "/api/admin/reload", {}, "", 405},
        {"push without token", "POST", "/event", {{"Content-Type", json}}, some_events, 401},
        {"push by a reader", "POST", "/event", with(reader, "Content-Type", json), some_events,
         403},
        {"push not JSON", "POST", "/event", with(writer, "Content-Type", "text/plain"),
         some_events, 415},
        {"push from another origin", "POST", "/event",
         with(writer, "Origin", "https://evil.example"), some_events, 403},
        {"bad Idempotency-Key", "POST", "/event", with(writer, "Idempotency-Key", ""),
         some_events, 400},
        {"push not valid JSON", "POST", "/event", writer, "{", 400},
        {"push body too large", "POST", "/event", writer, big, 413},
        {"info", "GET", "/api/info", reader, "", 200},
        {"info without token", "GET", "/api/info", {}, "", 401},
        {"overview", "GET", "/api/overview", reader, "", 200},
        {"overview without token", "GET", "/api/overview", {}, "", 401},
        {"live, bad kind", "GET", "/api/live?kind=nope", reader, "", 400},
        {"live without token", "GET", "/api/live", {}, "", 401},
        {"schemas", "GET", "/api/schemas", reader, "", 200},
        {"schemas without token", "GET", "/api/schemas", {}, "", 401},
        {"no such schema", "GET", "/api/schemas/NoSuchType", reader, "", 404},
        {"schema without token", "GET", "/api/schemas/Country", {}, "", 401},
        {"analytics", "GET", "/api/analytics", reader, "", 200},
        {"analytics without token", "GET", "/api/analytics", {}, "", 401},
        {"analytics, bad bucket", "GET", "/api/analytics?bucket=2m", reader, "", 400},
        {"analytics by POST", "POST", "/api/analytics", reader, "", 404},
        {"reload without token", "POST", "/api/admin/reload", {}, "", 401},
        {"reload by a reader", "POST", "/api/admin/reload", reader, "", 403},
        {"reload, none offered", "POST", "/api/admin/reload",
         {{"Authorization", bearer(kAdminToken)}}, "", 503},
        {"recent products", "GET", "/api/products/recent", reader, "", 200},
        {"recent without token", "GET", "/api/products/recent", {}, "", 401},
        {"recent, bad limit", "GET", "/api/products/recent?limit=0", reader, "", 400},
        {"recent, other method", "POST", "/api/products/recent", reader, "", 404},
        {"count", "GET", "/api/events/count?productIds=P1", reader, "", 200},
        {"count without token", "GET", "/api/events/count?productIds=P1", {}, "", 401},
        {"count, no productIds", "GET", "/api/events/count", reader, "", 400},
        {"count, other method", "DELETE", "/api/events/count", reader, "", 404},
        {"lineage", "GET", "/event/e1/lineage", reader, "", 200},
        {"lineage without token", "GET", "/event/e1/lineage", {}, "", 401},
        {"lineage, malformed eventId", "GET", "/event/a%zz/lineage", reader, "", 400},
        {"lineage, other method", "PUT", "/event/e1/lineage", reader, "", 405},
    };
    // Every route family through the guards in front of the routes.
    for (const char* target : {"/healthz", "/readyz", "/metrics", "/openapi.json", "/",
                               "/event", "/api/info", "/api/overview", "/api/live",
                               "/api/schemas", "/api/schemas/Country", "/api/analytics",
                               "/api/admin/reload", "/api/products/recent", "/api/events/count",
                               "/event/e1/lineage"}) {
      const std::string method = std::string(target) == "/api/admin/reload" ? "POST" : "GET";
      probes.push_back({"another site's Host", method, target, {{"Host", "evil.example"}}, "",
                        421});
      probes.push_back({"header flood", method, target, flood, "", 431});
      probes.push_back({"header too large", method, target, {{"X-Big", std::string(9000, 'h')}},
                        "", 431});
      probes.push_back({"body too large", method, target, {{"Content-Type", json}}, big, 413});
      probes.push_back({"malformed framing", method, target, {}, "", 400,
                        method + " " + target +
                            " HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n"});
    }
    check_probes(t, probes, seen);
  }

  // No tokens and no admin token; no push in this role.
  {
    std::string many_ids;
    for (int i = 0; i <= 200; ++i) many_ids += (i > 0 ? ",P" : "P") + std::to_string(i);
    ServerSettings s;
    s.push_enabled = false;
    StatusServer t(s, std::make_shared<EmptyReader>());
    check_probes(t,
                 {{"push disabled", "POST", "/event", {{"Content-Type", json}}, some_events, 503},
                  {"admin disabled", "POST", "/api/admin/reload", {}, "", 403},
                  {"live, too many productIds", "GET", "/api/live?productIds=" + many_ids, {},
                   "", 400},
                  // EmptyReader: neither recent products nor a count ("unsupported").
                  {"recent, unsupported", "GET", "/api/products/recent", {}, "", 503},
                  {"count, unsupported", "GET", "/api/events/count?productIds=P1", {}, "", 503},
                  {"lineage off", "GET", "/event/e1/lineage", {}, "", 404}},
                 seen);
  }

  // A broken store: not ready, history fails.
  {
    auto broken = std::make_shared<BrokenReader>();
    StatusServer t(ServerSettings{}, broken, store_lineage(broken));
    check_probes(t,
                 {{"store down", "GET", "/readyz", {}, "", 503},
                  {"query fails", "GET", "/event?productIds=P1", {}, "", 500},
                  {"recent fails", "GET", "/api/products/recent", {}, "", 500},
                  {"count fails", "GET", "/api/events/count?productIds=P1", {}, "", 500},
                  {"lineage's store fails", "GET", "/event/e1/lineage", {}, "", 500},
                  {"analytics fails", "GET", "/api/analytics", {}, "", 500}},
                 seen);
  }

  // Every reader connection busy: each store read is a 503 with Retry-After.
  {
    ServerSettings s;
    s.inline_queries = true;  // the I/O thread's try_query finds none free: the pool's waits
    auto busy = std::make_shared<BusyReader>();
    StatusServer t(s, busy, store_lineage(busy));
    const std::vector<std::string> targets = {"/event?productIds=P1", "/api/products/recent",
                                              "/api/events/count?productIds=P1",
                                              "/event/e1/lineage", "/api/analytics"};
    std::vector<Probe> probes;
    for (const auto& target : targets) probes.push_back({"store busy", "GET", target, {}, "", 503});
    check_probes(t, probes, seen);
    for (const auto& target : targets) {
      INFO(target);
      HttpResponse r = pemx::test::http_get(t.server->port(), target);
      CHECK(r.status == 503);
      CHECK(r.headers["retry-after"] == "1");
      CHECK(r.body.find("every reader connection stayed busy") != std::string::npos);
    }
  }

  // Every lineage lookup busy (lineage_max_concurrent = 0 here: the next one is refused).
  {
    ServerSettings s;
    s.lineage.max_concurrent = 0;
    StatusServer t(s, std::make_shared<ReadingReader>(), std::make_shared<FoundLineage>());
    check_probes(t, {{"lineage busy", "GET", "/event/e1/lineage", {}, "", 503}}, seen);
  }

  // No store in this role.
  {
    StatusServer t(ServerSettings{}, nullptr, std::make_shared<FoundLineage>());
    check_probes(t,
                 {{"no store", "GET", "/event?productIds=P1", {}, "", 503},
                  {"no store", "GET", "/api/products/recent", {}, "", 503},
                  {"no store", "GET", "/api/events/count?productIds=P1", {}, "", 503},
                  {"no store", "GET", "/event/e1/lineage", {}, "", 503},
                  {"analytics, no store", "GET", "/api/analytics", {}, "", 503}},
                 seen);
  }

  // Rate limits of one request per address.
  {
    ServerSettings s;
    // One request per address, then one more every 1000 s: the rest of the test is limited.
    for (auto& route : s.rate_limits.routes) route.per_address = {0.001, 1};
    StatusServer t(s, std::make_shared<ReadingReader>(), std::make_shared<FoundLineage>());
    std::vector<Probe> probes;
    for (const char* target : {"/api/info", "/event?productIds=P1", "/api/overview",
                               "/api/live?kind=nope", "/api/schemas", "/api/schemas/Country",
                               "/api/products/recent", "/api/events/count?productIds=P1",
                               "/event/e1/lineage", "/api/analytics"}) {
      probes.push_back({"first", "GET", target, {}, "", 0});
    }
    // The read bucket is shared: after the first read, every read is limited.
    probes.front().expected = 200;
    for (std::size_t i = 1; i < probes.size(); ++i) probes[i].expected = 429;
    probes.push_back({"push", "POST", "/event", {{"Content-Type", "text/plain"}}, "x", 415});
    probes.push_back({"push limited", "POST", "/event", {{"Content-Type", json}}, "x", 429});
    // The admin route too, for a request without a known admin token (on the read bucket).
    probes.push_back({"reload limited", "POST", "/api/admin/reload", {}, "", 429});
    check_probes(t, probes, seen);
  }

  // The statuses the brief names are among those provoked (the list above is not empty).
  for (int status : {400, 401, 403, 404, 405, 413, 415, 421, 429, 431, 500, 503}) {
    CHECK(seen.all.count(status) == 1);
  }

  // The store's read routes: every status their document lists was provoked above, or is
  // explained here.
  const std::map<std::string, std::string> explained = {
      {"get /event/{eventId}/lineage 504",
       "no Kafka cluster answered within lineage_timeout: needs a broker that stops answering, "
       "provoked by tests/integration/lineage_test.cpp (a SIGSTOPped broker)"},
  };
  const rapidjson::Document doc = pemx::test::parse_json(std::string(openapi_json()));
  for (const char* operation : {"get /event", "get /api/products/recent",
                                "get /api/events/count", "get /event/{eventId}/lineage"}) {
    const auto& listed = responses(doc, operation);
    for (auto it = listed.MemberBegin(); it != listed.MemberEnd(); ++it) {
      const std::string code = it->name.GetString();
      INFO(operation << " lists " << code);
      CHECK((seen.by_operation[operation].count(std::stoi(code)) == 1 ||
             explained.count(std::string(operation) + " " + code) == 1));
    }
  }
}
