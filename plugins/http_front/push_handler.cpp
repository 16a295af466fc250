// POST /event: the fallback push. Guards first (token and rate limit in the session; then
// enabled, JSON, origin), then the
// reference's validations and the router's decision (api.hpp); the answer comes once Kafka
// acknowledged every event (pusher.hpp), posted back to the session's strand.
#include "http_front/handlers.hpp"
#include "http_front/idempotency.hpp"
#include "http_front/pusher.hpp"
#include "http_front/session.hpp"

namespace pemx::http_front::handlers {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr const char* kIdempotencyKeyField = "Idempotency-Key";
constexpr const char* kReplayHeader = "Idempotent-Replay";

// An Idempotency-Key reserved for this request: forgotten when the request ends without a
// success (a 400, a 409, Kafka not acknowledging), so that a retry is decided anew.
class KeyHold {
 public:
  KeyHold(IdempotencyTable* table, std::string key) : table_(table), key_(std::move(key)) {}
  KeyHold(const KeyHold&) = delete;
  KeyHold& operator=(const KeyHold&) = delete;
  ~KeyHold() {
    if (table_ != nullptr) table_->release_key(key_);
  }
  // The answer this key replays for the window (`events`: its weight).
  void accept(const Answer& a, std::size_t events) {
    table_->accept_key(key_, a, events);
    table_ = nullptr;
  }

 private:
  IdempotencyTable* table_;
  std::string key_;
};

// A push's identities and plan, shared with its callback (ids own what items view).
struct PushState {
  std::vector<std::string> ids;
  std::vector<IdempotencyTable::Item> items;
  IdempotencyTable::Plan plan;
  bool failed = false;  // answered 503: the outcomes settle the table (Pusher::Settled)
};

Answer retry_later(int status, std::string_view message) {
  Answer a = error_answer(status, message);
  a.headers.emplace_back("Retry-After", "1");
  return a;
}

Answer full_answer() {
  return retry_later(503, "the idempotency table is full of pushes in progress "
                          "(idempotency_max_entries); retry shortly");
}

// {"error": message, "eventIds": [...]}
Answer ids_answer(int status, std::string_view message, const std::vector<std::string>& ids) {
  std::string body = error_answer(status, message).body;
  body.pop_back();  // its closing brace
  body += R"(,"eventIds":[)";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    // eventIds are UUIDs (validated): nothing to escape.
    body += (i > 0 ? ",\"" : "\"") + ids[i] + "\"";
  }
  body += "]}";
  return {status, std::move(body), {}};
}

Answer not_acknowledged(const std::string& error) {
  return error_answer(503, "Kafka did not acknowledge every event (" + error +
                               "); retry the request: an event the push had acknowledged is not "
                               "produced again (idempotency_window), and the store keeps one row "
                               "per eventId");
}

// "push accepted", with the name of the token that made it (never the token): events produced
// now and events answered from the idempotency table.
void log_accepted(Session& s, const std::string& token, std::size_t produced,
                  std::size_t replayed) {
  s.server().log.info("push accepted", {{"token", token},
                                        {"events", produced},
                                        {"replayed", replayed},
                                        {"client", s.peer().to_string()}});
}

}  // namespace

void push(Session& s) {
  auto& server = s.server();
  const auto& req = s.request();
  if (!server.settings.push_enabled) {
    return s.send(error_answer(503, "the fallback push is disabled in this role"));
  }
  // The token (a writer's, once one exists) and the rate limit were checked before this
  // handler ran (Session::admit).
  // Only JSON, and from this origin or an allowed one: a form or a text/plain fetch from any
  // page a browser has open would otherwise be a "simple" request that needs no preflight.
  auto type = req[http::field::content_type];
  std::string_view media(type.data(), type.size());
  media = media.substr(0, media.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (!beast::iequals(beast::string_view(media.data(), media.size()), "application/json")) {
    return s.send(error_answer(415, "Content-Type must be application/json"));
  }
  auto origin = req[http::field::origin];
  auto host = req[http::field::host];
  if (!origin.empty() && !origin_allowed(std::string_view(origin.data(), origin.size()),
                                         std::string_view(host.data(), host.size()),
                                         server.settings.cors_origins)) {
    return s.send(error_answer(403, "writes from origin " + std::string(origin.substr(0, 200)) +
                                        " are refused; list it in cors_origins"));
  }
  // Idempotency-Key (draft-ietf-httpapi-idempotency-key-header): checked before the body is
  // parsed, so a replay costs one hash of the body.
  std::shared_ptr<KeyHold> key;
  if (req.count(kIdempotencyKeyField) > 0) {
    auto field = req[kIdempotencyKeyField];
    auto parsed_key = parse_idempotency_key(std::string_view(field.data(), field.size()));
    if (!parsed_key || req.count(kIdempotencyKeyField) > 1) {
      return s.send(error_answer(400, "Idempotency-Key must be one field of 1 to " +
                                          std::to_string(kMaxIdempotencyKey) +
                                          " printable ASCII characters, e.g. a UUID"));
    }
    if (auto* table = server.idempotency.get()) {
      // Scoped by the client's credentials: one client cannot replay another's answer.
      auto auth = req[http::field::authorization];
      const Digest scope =
          sha256_parts({std::string_view(auth.data(), auth.size()), *parsed_key});
      std::string stored(reinterpret_cast<const char*>(scope.data()), scope.size());
      // Owned by the token (its cap, docs/configuration.md idempotency_max_entries_per_token).
      auto found = table->begin_key(stored, sha256(req.body()), s.token_name());
      switch (found.outcome) {
        case IdempotencyTable::KeyLookup::Outcome::kReplay:
          found.answer.headers.emplace_back(kReplayHeader, "true");
          return s.send(std::move(found.answer));
        case IdempotencyTable::KeyLookup::Outcome::kMismatch:
          return s.send(error_answer(422, "this Idempotency-Key was used with another request "
                                          "body; use a new key for a new request"));
        case IdempotencyTable::KeyLookup::Outcome::kBusy:
          return s.send(retry_later(409, "the first request with this Idempotency-Key is still "
                                         "being answered; retry once it is"));
        case IdempotencyTable::KeyLookup::Outcome::kFull:
          return s.send(full_answer());
        case IdempotencyTable::KeyLookup::Outcome::kNew:
          key = std::make_shared<KeyHold>(table, std::move(stored));
          break;
      }
    }
  }
  const PushRules& rules = server.settings.push_rules;
  auto parsed = parse_push_request(req.body(), rules);
  // Refused by today's rules or schemas: an exact retry of a push accepted before (a reload
  // changed them meanwhile) is still answered with its receipt, and anything else gets the 400.
  std::optional<Answer> refusal;
  if (auto* a = std::get_if<Answer>(&parsed)) {
    if (a->status != 400 || server.idempotency == nullptr ||
        (rules.check == nullptr && rules.schemas == nullptr)) {
      return s.send(std::move(*a));
    }
    refusal = std::move(*a);
    parsed = parse_push_request(req.body(), PushRules{rules.limits});
    if (std::holds_alternative<Answer>(parsed)) return s.send(std::move(*refusal));
  }
  auto events = std::get<std::vector<PushEvent>>(std::move(parsed));
  // The reference's text 201, or the JSON receipt for a client that asks for it (RFC 7240).
  // Every Prefer field counts, as one comma-separated list.
  std::string prefer;
  for (const auto& f : req) {
    if (f.name() != http::field::prefer) continue;
    prefer += (prefer.empty() ? "" : ",");
    prefer.append(f.value().data(), f.value().size());
  }
  const ReturnPreference preference = return_preference(prefer);
  // Every accepted push is logged with the name of the token that made it (never the token).
  std::string token = s.token_name().empty() ? std::string("(none)") : std::string(s.token_name());
  IdempotencyTable* table = server.idempotency.get();
  if (table == nullptr) {
    server.pusher->push(std::move(events), [self = s.shared_from_this(), preference, token](
                                               std::optional<std::string> error,
                                               std::vector<Delivered> delivered) {
      if (!error) log_accepted(*self, token, delivered.size(), 0);
      Session::answer_later(self, error ? not_acknowledged(*error)
                                        : pushed_answer(delivered, preference));
    });
    return;
  }
  // Each event's identity: its eventId and the hash of the bytes produced for it.
  auto state = std::make_shared<PushState>();
  state->ids.reserve(events.size());
  for (auto& e : events) state->ids.push_back(std::move(e.event_id));
  state->items.reserve(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    state->items.push_back({state->ids[i], sha256(events[i].value)});
  }
  state->plan = table->begin_events(state->items, s.token_name());
  auto& plan = state->plan;
  using Outcome = IdempotencyTable::Plan::Outcome;
  if (refusal && plan.outcome != Outcome::kReplay) {
    if (plan.outcome == Outcome::kProduce) table->release(state->items, plan);
    return s.send(std::move(*refusal));
  }
  switch (plan.outcome) {
    case Outcome::kConflict:
      return s.send(ids_answer(409, "these eventIds were already pushed with other content (or "
                                    "appear twice in this request with different content); an "
                                    "event, once accepted, cannot change: use a new eventId",
                               plan.ids));
    case Outcome::kBusy: {
      Answer a = ids_answer(409, "these eventIds are being pushed by another request just now; "
                                 "retry once it is answered",
                            plan.ids);
      a.headers.emplace_back("Retry-After", "1");
      return s.send(std::move(a));
    }
    case Outcome::kFull:
      return s.send(full_answer());
    case Outcome::kReplay: {
      log_accepted(s, token, 0, events.size());
      Answer a = pushed_answer(plan.receipt, preference);
      if (key) key->accept(a, events.size());
      a.headers.emplace_back(kReplayHeader, "true");
      return s.send(std::move(a));
    }
    case Outcome::kProduce:
      break;
  }
  // Only the events not accepted before are produced (all of them, usually).
  std::vector<PushEvent> fresh;
  fresh.reserve(plan.fresh.size());
  for (std::size_t i : plan.fresh) fresh.push_back(std::move(events[i]));
  server.pusher->push(
      std::move(fresh), [self = s.shared_from_this(), table, state, key, preference, token](
                            std::optional<std::string> error, std::vector<Delivered> delivered) {
        if (error) {
          // The fresh events stay reserved (a retry meanwhile is told to wait) until every
          // report is in: then those Kafka acknowledged after all are remembered, so the
          // retry does not produce them twice.
          state->failed = true;
          return Session::answer_later(self, not_acknowledged(*error));
        }
        table->accept(state->items, state->plan, delivered);
        log_accepted(*self, token, delivered.size(), state->plan.replayed);
        Answer a = pushed_answer(state->plan.receipt, preference);
        if (key) key->accept(a, state->items.size());
        if (state->plan.replayed > 0) {
          a.headers.emplace_back(kReplayHeader, "partial");
          a.headers.emplace_back("Idempotent-Replayed-Events",
                                 std::to_string(state->plan.replayed));
        }
        Session::answer_later(self, std::move(a));
      },
      [table, state](std::vector<std::optional<Delivered>> outcomes) {
        if (state->failed) table->settle(state->items, state->plan, outcomes);
      });
}

}  // namespace pemx::http_front::handlers
