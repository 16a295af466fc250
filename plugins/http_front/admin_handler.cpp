// POST /api/admin/reload: the admin guard (guards.hpp), then the process's reload on the query
// pool (it reads a file and may ask the cluster for its topics: never on an I/O thread).
#include "http_front/admin_handler.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "event/time.hpp"
#include "http_front/handlers.hpp"
#include "http_front/session.hpp"

namespace pemx::http_front {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void string(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void strings(Writer& w, const char* key, const std::vector<std::string>& items) {
  w.Key(key);
  w.StartArray();
  for (const auto& i : items) string(w, i);
  w.EndArray();
}

// "version" and "loadedAt" of the first router (null without one), then "stages".
void rules(Writer& w, const std::vector<StageRules>& stages) {
  w.Key("version");
  if (stages.empty()) {
    w.Null();
  } else {
    string(w, stages.front().rules.version);
  }
  w.Key("loadedAt");
  if (stages.empty()) {
    w.Null();
  } else {
    string(w, event::epoch_ms_to_iso8601(stages.front().rules.loaded_at_ms));
  }
  w.Key("stages");
  w.StartArray();
  for (const auto& s : stages) {
    w.StartObject();
    w.Key("stage");
    string(w, s.stage);
    w.Key("version");
    string(w, s.rules.version);
    w.Key("loadedAt");
    string(w, event::epoch_ms_to_iso8601(s.rules.loaded_at_ms));
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace

std::string rules_status_json(const ReloadStatus& status) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  rules(w, status.rules);
  w.Key("reloads");
  w.Uint64(status.reloads);
  w.Key("reloadFailures");
  w.Uint64(status.failures);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

ReloadAnswer reload_answer(const ReloadOutcome& outcome) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("ok");
  w.Bool(outcome.ok);
  if (!outcome.ok) {
    w.Key("error");
    string(w, outcome.error);
  }
  rules(w, outcome.rules);
  w.Key("reloadedAt");
  string(w, event::epoch_ms_to_iso8601(outcome.at_ms));
  if (outcome.ok) {
    strings(w, "swapped", outcome.swapped);
    strings(w, "needsRestart", outcome.restart_keys);
    if (outcome.rules.empty()) {
      w.Key("note");
      w.String("the config was read and is valid; it has no rules_router stage, so there were "
               "no rules to swap");
    }
  }
  w.EndObject();
  return {outcome.ok ? 200 : 422, std::string(buf.GetString(), buf.GetSize())};
}

namespace handlers {

void admin_reload(Session& s) {
  // The session admitted the request: an admin token (Access::kAdmin, auth.hpp).
  auto& server = s.server();
  if (server.settings.reloader == nullptr) {
    return s.send(error_answer(503, "this process offers no reload"));
  }
  s.offload([reloader = server.settings.reloader] {
    ReloadAnswer a = reload_answer(reloader->reload("POST /api/admin/reload"));
    return Answer{a.status, std::move(a.body), {}};
  });
}

}  // namespace handlers
}  // namespace pemx::http_front
