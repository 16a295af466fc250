// POST /event: the fallback push. Guards first (token and rate limit in the session; then
// enabled, JSON, origin), then the
// reference's validations and the router's decision (api.hpp); the answer comes once Kafka
// acknowledged every event (pusher.hpp), posted back to the session's strand.
#include "http_front/handlers.hpp"
#include "http_front/pusher.hpp"
#include "http_front/session.hpp"

namespace pemx::http_front::handlers {

namespace beast = boost::beast;
namespace http = beast::http;

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
  auto parsed = parse_push_request(req.body(), server.settings.push_rules);
  if (auto* a = std::get_if<Answer>(&parsed)) return s.send(std::move(*a));
  auto events = std::get<std::vector<PushEvent>>(std::move(parsed));
  // The reference's text 201, or the JSON receipt for a client that asks for it (RFC 7240).
  // Every Prefer field counts, as one comma-separated list.
  std::string prefer;
  for (const auto& f : req) {
    if (f.name() != http::field::prefer) continue;
    prefer += (prefer.empty() ? "" : ",");
    prefer.append(f.value().data(), f.value().size());
  }
  // Every accepted push is logged with the name of the token that made it (never the token).
  std::string token = s.token_name().empty() ? std::string("(none)") : std::string(s.token_name());
  server.pusher->push(
      std::move(events), [self = s.shared_from_this(), preference = return_preference(prefer),
                          token = std::move(token)](std::optional<std::string> error,
                                                    std::vector<Delivered> delivered) {
        if (!error) {
          self->server().log.info("push accepted",
                                  {{"token", token},
                                   {"events", delivered.size()},
                                   {"client", self->peer().to_string()}});
        }
        Answer a = error ? error_answer(503, "Kafka did not acknowledge every event (" + *error +
                                                 "); retry the request: pushes are idempotent "
                                                 "on eventId in the store")
                         : pushed_answer(delivered, preference);
        Session::answer_later(self, std::move(a));
      });
}

}  // namespace pemx::http_front::handlers
