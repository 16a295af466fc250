// http_front stage: the HTTP API (history, fallback push), health, readiness, metrics and the
// OpenAPI document, on Boost.Beast. It has no queues: it reads through a store stage's
// EventReader and pushes with its own producer.
#include "http_front/http_front.hpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "core/config.hpp"
#include "core/config_section.hpp"
#include "http_front/lineage_kafka.hpp"
#include "http_front/pusher.hpp"
#include "http_front/server.hpp"
#include "http_front/tls.hpp"
#include "kafka/topic_name.hpp"

namespace pemx::http_front {

namespace {

struct Settings {
  ServerSettings server;
  std::string store;                      // reader to use; empty: no history
  std::string push_topic = "product-event";  // empty: push disabled
  // The router whose decision the push applies: a stage name; unset: the config's only
  // router, if there is one; "": none (the reference's field rules only).
  std::optional<std::string> route_check;
  kafka::KafkaConfig kafka;
  std::vector<kafka::ClusterConfig> clusters;  // [clusters.*]: lineage searches outputs there
  TokenSources tokens;  // where server.credentials came from, read again by reload_tokens
};

// The stages `store` and `route_check` name, checked alike when the config loads
// (Spec::check_references: pemx check-config and start-up) and when the stage is built.
// stores_before: the store stages before this one in its role; routers: the config's routers.
std::vector<ReferenceProblem> reference_problems(const Settings& s,
                                                 const std::set<std::string>& stores_before,
                                                 const std::set<std::string>& routers) {
  std::vector<ReferenceProblem> out;
  if (!s.store.empty() && stores_before.count(s.store) == 0) {
    out.push_back({"store", "names \"" + s.store + "\", which is no store stage (sqlite_store, "
                            "postgres_store) listed before this stage in the role; list the "
                            "store stage first, or set store = \"\" for no history"});
  }
  if (s.push_topic.empty()) return out;  // no push: no router's rules to apply
  if (s.route_check) {
    if (!s.route_check->empty() && routers.count(*s.route_check) == 0) {
      out.push_back({"route_check", "names \"" + *s.route_check + "\", which is not a "
                                    "rules_router stage of the config; name one, or set "
                                    "route_check = \"\" for the field rules only"});
    }
  } else if (routers.size() > 1) {
    std::string names;
    for (const auto& name : routers) names += (names.empty() ? "" : ", ") + name;
    out.push_back({"route_check", "is unset and the config has several routers (" + names +
                                  "); name the one whose rules the push applies"});
  }
  return out;
}

[[noreturn]] void throw_problem(const ReferenceProblem& p) {
  throw std::runtime_error("http_front: " + p.key + " " + p.message);
}

class HttpFront final : public Stage {
 public:
  HttpFront(const Settings& s, StageContext& ctx)
      : tokens_(s.tokens), writes_guarded_at_start_(s.server.credentials.writes_guarded),
        log_(ctx.log) {
    // The loader has checked the references (Spec::check_references); checked again here
    // against what the stages built before this one really offer.
    std::set<std::string> stores, routers;
    for (const auto& [name, r] : *ctx.readers) stores.insert(name);
    for (const auto& [name, c] : ctx.event_checks) routers.insert(name);
    if (auto problems = reference_problems(s, stores, routers); !problems.empty()) {
      throw_problem(problems.front());
    }
    std::shared_ptr<EventReader> reader;
    if (!s.store.empty()) reader = ctx.readers->at(s.store);
    ServerSettings server = s.server;
    server.reloader = ctx.reloader;
    reloader_ = ctx.reloader;
    if (!s.push_topic.empty()) {
      check_ = find_check(s, ctx);
      server.push_rules.check = check_.get();
      ctx.log.info("push checks", {{"route_check", check_ ? route_check_name_ : std::string("(none)")}});
    }
    // Lineage reads the store and Kafka with a consumer of its own per lookup, and asks the
    // same router as the push (route_check) where the rules in force send an event.
    if (reader && server.lineage.enabled) {
      std::shared_ptr<EventCheck> lineage_check = check_;
      if (s.push_topic.empty()) {
        try {
          lineage_check = find_check(s, ctx);
        } catch (const std::exception& e) {  // the push is off: only lineage's outputs are lost
          ctx.log.warn("lineage computes no outputs", {{"error", e.what()}});
        }
      }
      kafka::KafkaConfig kafka = s.kafka;
      kafka.brokers = ctx.kafka_brokers;
      server.lineage_lookup = std::make_shared<KafkaLineage>(
          std::move(kafka), s.clusters, server.lineage, reader, std::move(lineage_check),
          ctx.log.child("lineage"));
    }
    // Always a producer: it serves the push when enabled, and the readiness probe.
    pusher_ = std::make_unique<Pusher>(s.kafka, ctx.kafka_brokers, s.push_topic,
                                       s.server.push_timeout, ctx.log, *ctx.metrics,
                                       ctx.name, ctx.readiness, ctx.fatal);
    server_ = std::make_unique<Server>(std::move(server), ctx.log, *ctx.metrics, reader, pusher_.get(),
                                       ctx.activity, thread_owner(ctx));
  }
  void start() override {
    server_->start();
    // SIGHUP and POST /api/admin/reload re-read the token files and the certificate too.
    if (reloader_ != nullptr) {
      reload_hook_ = reloader_->on_reload([this] {
        reload_tokens();
        if (auto problem = reload_tls()) {
          log_.warn("TLS certificate not reloaded; the one in force stays", {{"error", *problem}});
        }
      });
    }
  }
  // A reload (SIGHUP, POST /api/admin/reload): reads the token files again and, when every
  // source is valid, replaces the tokens, so a token removed from tokens_file is refused from
  // the next request on. Returns the problems (then the tokens in force stay).
  // The same reload for the listener's certificate and key (Server::reload_tls): nullopt when
  // reloaded or without TLS, else the problem, and the certificate in force stays.
  std::optional<std::string> reload_tls() { return server_->reload_tls(); }
  std::vector<CredentialError> reload_tokens() {
    auto loaded = load_credentials(tokens_);
    if (!loaded.errors.empty()) {
      for (const auto& e : loaded.errors) {
        log_.warn("tokens not reloaded; the previous ones stay",
                  {{"key", e.key}, {"error", e.message}});
      }
      return std::move(loaded.errors);
    }
    // Writes guarded at start-up stay guarded: revoking the last writer token refuses every
    // write rather than opening them to anyone.
    loaded.credentials.writes_guarded |= writes_guarded_at_start_;
    log_.info("tokens reloaded", {{"tokens", loaded.credentials.tokens.size()}});
    server_->set_credentials(std::move(loaded.credentials));
    return {};
  }
  void stop_accepting() noexcept override { server_->stop_accepting(); }
  bool drain(const Deadline& deadline) noexcept override { return server_->drain(deadline); }
  void stop() noexcept override {
    reload_hook_.reset();  // waits for a reload of this stage's files that is running
    server_->stop();
    pusher_->stop();
  }

 private:
  Reloader* reloader_ = nullptr;      // the process's (outlives the stage); null: none
  std::shared_ptr<void> reload_hook_;  // registered while the stage runs
  // The named router's check; or the only one in the config when none is named.
  std::shared_ptr<EventCheck> find_check(const Settings& s, const StageContext& ctx) {
    const auto& checks = ctx.event_checks;
    if (s.route_check) {
      if (s.route_check->empty()) return nullptr;
      auto it = checks.find(*s.route_check);  // there: reference_problems
      route_check_name_ = it->first;
      return it->second;
    }
    if (checks.empty()) return nullptr;  // else only one: reference_problems
    route_check_name_ = checks.begin()->first;
    return checks.begin()->second;
  }

  TokenSources tokens_;
  bool writes_guarded_at_start_;
  Logger log_;
  std::string route_check_name_;
  std::shared_ptr<EventCheck> check_;
  std::unique_ptr<Pusher> pusher_;
  std::unique_ptr<Server> server_;  // last: its threads use the pusher
};

class Spec final : public StageSpec {
 public:
  explicit Spec(Settings s) : s_(std::move(s)) {}
  std::vector<QueuePort> ports() const override { return {}; }
  std::vector<std::string> topics() const override {
    return s_.push_topic.empty() ? std::vector<std::string>{} : std::vector{s_.push_topic};
  }
  std::string describe() const override {
    std::ostringstream out;
    out << (s_.server.tls.enabled() ? "HTTPS on " : "HTTP on ") << s_.server.host << ":"
        << s_.server.port << ", history from "
        << (s_.store.empty() ? std::string("(none)") : "store " + s_.store) << ", push to "
        << (s_.push_topic.empty() ? std::string("(disabled)") : s_.push_topic)
        << (s_.server.credentials.tokens.empty()
                ? std::string(" (open)")
                : " (" + std::to_string(s_.server.credentials.tokens.size()) + " named tokens)")
        << "\n";
    return out.str();
  }
  std::vector<ReferenceProblem> check_references(const StageNeighbours& n) const override {
    std::set<std::string> stores, routers;
    for (const auto& st : n.before) {
      if (st.spec->offers_reader()) stores.insert(st.name);
    }
    for (const auto& st : n.all) {
      if (st.spec->event_check()) routers.insert(st.name);
    }
    return reference_problems(s_, stores, routers);
  }
  std::unique_ptr<Stage> create(StageContext& ctx) const override {
    return std::make_unique<HttpFront>(s_, ctx);
  }

 private:
  Settings s_;
};

// The token sources (auth.hpp): read and checked now, and kept for a reload.
void parse_tokens(ConfigSection& section, Settings& s) {
  TokenSources& src = s.tokens;
  const std::size_t errors_before = section.errors().size();
  src.write_tokens = section.string_list("write_tokens", {});
  // Every file relative to the config file's folder (ConfigSection::config_relative).
  auto file = [&section](std::optional<std::string> path) {
    if (path) *path = section.config_relative(*path);
    return path;
  };
  src.write_tokens_file = file(section.optional_string("write_tokens_file"));
  src.admin_tokens = section.string_list("admin_tokens", {});
  src.admin_tokens_file = file(section.optional_string("admin_tokens_file"));
  for (auto& ts : section.table_array("tokens")) {
    TokenSources::Entry e;
    e.name = ts.string("name", "");
    if (e.name.empty()) ts.error_here("missing name = \"…\" (logged with each push it makes)");
    e.token = ts.string("token", "");
    e.token_file = ts.config_relative(ts.string("token_file", ""));
    if (e.token.empty() == e.token_file.empty()) {
      ts.error_here("set one of token = \"…\" or token_file = \"path\"");
    }
    for (const auto& role : ts.string_list("roles", {})) {
      const unsigned bit = role_bit(role);
      if (bit == 0) {
        ts.error("roles", "unknown role \"" + role + "\"; expected any of \"reader\", "
                          "\"writer\", \"admin\"");
      }
      e.roles |= bit;
    }
    if (!ts.has("roles")) {
      ts.error_here("missing roles = [\"reader\" | \"writer\" | \"admin\", …]");
    }
    ts.reject_unknown();
    src.tokens.push_back(std::move(e));
  }
  src.tokens_file = file(section.optional_string("tokens_file"));
  src.require_read_token = section.boolean("require_read_token", false);
  if (section.errors().size() > errors_before) return;  // the entries' own errors first
  auto loaded = load_credentials(src);
  for (auto& e : loaded.errors) section.error(e.key, std::move(e.message));
  s.server.credentials = std::move(loaded.credentials);
  if (s.server.credentials.require_read_token && s.server.credentials.tokens.empty()) {
    section.error("require_read_token", "no token is configured, so nothing could read; add "
                                        "tokens or set it to false");
  }
}

// [rate_limits]: max_addresses, and per route ("push", "read") per_token / per_address
// (requests per second, 0: off) with their bursts (default: one second's worth).
void parse_rate_limits(ConfigSection& section, RateLimits& limits) {
  auto rl = section.table("rate_limits");
  if (!rl) return;
  limits.max_addresses =
      static_cast<std::size_t>(rl->integer("max_addresses", 10000, 16, 1'000'000));
  const char* names[kRateRoutes] = {"push", "read"};
  for (std::size_t r = 0; r < kRateRoutes; ++r) {
    auto route = rl->table(names[r]);
    if (!route) continue;
    auto spec = [&](const char* key, const std::string& burst_key) {
      RateSpec out;
      out.per_second = static_cast<double>(route->integer(key, 0, 0, 1'000'000));
      out.burst = static_cast<double>(route->integer(
          burst_key, std::max<std::int64_t>(1, static_cast<std::int64_t>(out.per_second)), 1,
          1'000'000));
      return out;
    };
    limits.routes[r].per_token = spec("per_token", "per_token_burst");
    limits.routes[r].per_address = spec("per_address", "per_address_burst");
    route->reject_unknown();
  }
  rl->reject_unknown();
}

// tls_cert_file and tls_key_file: both or neither; loaded now, so that check-config and the
// start-up fail on a bad file with its name.
void parse_tls(ConfigSection& section, TlsFiles& tls) {
  tls.cert_file = section.config_relative(section.string("tls_cert_file", ""));
  tls.key_file = section.config_relative(section.string("tls_key_file", ""));
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    section.error(tls.cert_file.empty() ? "tls_cert_file" : "tls_key_file",  // the missing one
                  "set both tls_cert_file and tls_key_file (PEM files), or neither");
    return;
  }
  if (!tls.enabled()) return;
  auto loaded = load_tls(tls);
  if (!loaded.context) section.error(loaded.key, loaded.error);
}

// lineage and its limits (GET /event/{eventId}/lineage, lineage.hpp).
void parse_lineage(ConfigSection& section, LineageSettings& l) {
  l.enabled = section.boolean("lineage", l.enabled);
  l.max_concurrent = static_cast<std::size_t>(section.integer(
      "lineage_max_concurrent", static_cast<std::int64_t>(l.max_concurrent), 1, 64));
  l.max_scan = static_cast<std::size_t>(section.integer(
      "lineage_max_scan", static_cast<std::int64_t>(l.max_scan), 1, 10'000'000));
  l.timeout = section.duration("lineage_timeout", l.timeout, std::chrono::milliseconds(100),
                               std::chrono::minutes(10));
  l.margin = section.duration("lineage_margin", l.margin, std::chrono::milliseconds(0),
                              std::chrono::hours(24));
}

bool loopback(const std::string& host) {
  return host.rfind("127.", 0) == 0 || host == "::1" || host == "localhost";
}

std::unique_ptr<StageSpec> parse(ConfigSection& section, const CommonConfig& common) {
  Settings s;
  s.kafka = common.kafka;
  s.clusters = common.clusters;
  s.server.listen_key = section.has("listen") ? section.key_path("listen") : "http.listen";
  std::string listen = section.string("listen", common.http.listen);
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    section.error("listen", "\"" + listen + "\" is not host:port");
  } else {
    s.server.host = listen.substr(0, colon);
    if (s.server.host == "localhost") s.server.host = "127.0.0.1";
    if (s.server.host.size() > 2 && s.server.host.front() == '[') {
      s.server.host = s.server.host.substr(1, s.server.host.size() - 2);
    }
    try {
      int port = std::stoi(listen.substr(colon + 1));
      if (port < 0 || port > 65535) throw std::out_of_range("port");
      s.server.port = static_cast<std::uint16_t>(port);
    } catch (const std::exception&) {
      section.error("listen", "\"" + listen + "\" has no valid port");
    }
  }
  s.store = section.string("store", s.store);
  s.push_topic = section.string("push_topic", s.push_topic);
  s.server.push_enabled = !s.push_topic.empty();
  if (section.has("route_check")) s.route_check = section.string("route_check", "");
  s.server.push_rules.limits = common.events;
  s.server.push_rules.schemas = common.schemas;  // the push applies them; /api/schemas serves them
  if (!s.push_topic.empty()) {
    if (auto p = kafka::topic_name_problem(s.push_topic)) section.error("push_topic", *p);
  }
  s.server.io_threads = static_cast<int>(section.integer("io_threads", 2, 1, 64));
  s.server.query_threads = static_cast<int>(section.integer("query_threads", 2, 1, 64));
  s.server.inline_queries = section.boolean("inline_queries", true);
  s.server.max_header_bytes =
      static_cast<std::size_t>(section.integer("max_header_bytes", 8192, 1024, 1 << 20));
  s.server.max_header_fields =
      static_cast<std::size_t>(section.integer("max_header_fields", 100, 8, 10000));
  s.server.max_body_bytes =
      static_cast<std::size_t>(section.integer("max_body_bytes", 1 << 20, 1024, 64 << 20));
  s.server.idle_timeout = section.duration("idle_timeout", s.server.idle_timeout,
                                           std::chrono::milliseconds(100), std::chrono::hours(1));
  s.server.push_timeout = section.duration("push_timeout", s.server.push_timeout,
                                           std::chrono::milliseconds(100), std::chrono::minutes(10));
  // 0 turns the push's idempotency off; a day at most (entries live that long in memory).
  s.server.idempotency.window =
      section.duration("idempotency_window", s.server.idempotency.window,
                       std::chrono::milliseconds(0), std::chrono::hours(24));
  // Room for the largest push with an Idempotency-Key, so that every valid push can be
  // remembered (a smaller table refused such a push with 503 for ever).
  s.server.idempotency.max_entries = static_cast<std::size_t>(section.integer(
      "idempotency_max_entries", static_cast<std::int64_t>(s.server.idempotency.max_entries),
      static_cast<std::int64_t>(kMinIdempotencyEntries), 100'000'000));
  // One writer's share: its own oldest entries make room for its pushes, so that it cannot
  // evict the others' (more than idempotency_max_entries: that bound applies).
  s.server.idempotency.max_entries_per_token = static_cast<std::size_t>(section.integer(
      "idempotency_max_entries_per_token",
      static_cast<std::int64_t>(s.server.idempotency.max_entries_per_token),
      static_cast<std::int64_t>(kMinIdempotencyEntries), 100'000'000));
  s.server.history.default_limit = static_cast<std::size_t>(
      section.integer("default_limit", 1000, 1, 100000));
  s.server.history.max_limit =
      static_cast<std::size_t>(section.integer("max_limit", 10000, 1, 100000));
  if (s.server.history.default_limit > s.server.history.max_limit) {
    section.error("default_limit", "must not exceed max_limit");
  }
  parse_lineage(section, s.server.lineage);
  s.server.max_live_clients =
      static_cast<std::size_t>(section.integer("max_live_clients", 32, 0, 10000));
  s.server.max_connections =
      static_cast<std::size_t>(section.integer("max_connections", 512, 1, 1000000));
  s.server.cors_origins = section.string_list("cors_origins", {"http://localhost:3000"});
  s.server.allowed_hosts = section.string_list("allowed_hosts", {});
  parse_tokens(section, s);
  parse_tls(section, s.server.tls);
  parse_rate_limits(section, s.server.rate_limits);
  bool allow_open = section.boolean("allow_unauthenticated_remote", false);
  if (!loopback(s.server.host) && !s.server.credentials.writes_guarded && !s.push_topic.empty() &&
      !allow_open) {
    section.error("listen", "\"" + listen + "\" is reachable from other hosts but writes are "
                  "not guarded: set write_tokens, write_tokens_file, tokens or tokens_file (a "
                  "token with the writer role), disable the push (push_topic = \"\"), or set "
                  "allow_unauthenticated_remote = true");
  }
  return std::make_unique<Spec>(std::move(s));
}

}  // namespace

StageFactory factory() {
  return {"http_front", "HTTP API: history, fallback push, health, readiness, metrics", &parse,
          {{"http.listen", "listen", HttpConfig{}.listen}}};
}

}  // namespace pemx::http_front
