// The page: its files (embedded, static_files.hpp), /api/info, /api/overview and the schemas
// (/api/schemas, /api/schemas/{eventType}).
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "http_front/admin_handler.hpp"
#include "http_front/handlers.hpp"
#include "http_front/session.hpp"
#include "http_front/static_files.hpp"
#include "pemx/version.hpp"

namespace pemx::http_front::handlers {

namespace {

// The page's files may only load from this server: no inline script or style, no framing.
constexpr const char* kPagePolicy =
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

std::string info_json(Server::Impl& server) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("version");
  w.String(kVersion);
  w.Key("role");
  w.String(server.activity ? server.activity->role.c_str() : "");
  w.Key("history");
  w.Bool(server.reader != nullptr);
  w.Key("push");
  w.Bool(server.settings.push_enabled);
  w.Key("tokenRequired");
  {
    std::lock_guard<std::mutex> lock(server.access_mutex);  // the credentials in force
    w.Bool(server.access->credentials.writes_guarded);
  }
  if (server.settings.reloader != nullptr) {
    // The routing rules' version, and the reloads (POST /api/admin/reload, SIGHUP).
    const std::string rules = rules_status_json(server.settings.reloader->status());
    w.Key("rules");
    w.RawValue(rules.data(), rules.size(), rapidjson::kObjectType);
  }
  w.Key("live");
  w.StartArray();
  if (server.activity) {
    for (const auto& k : server.activity->kinds()) w.String(k.c_str());
  }
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

}  // namespace

void schemas(Session& s) {
  s.send(schema_list_answer(s.server().settings.push_rules.schemas.get()));
}

bool is_schema(std::string_view path) {
  return path.size() > kSchemasPath.size() + 1 &&
         path.substr(0, kSchemasPath.size()) == kSchemasPath && path[kSchemasPath.size()] == '/' &&
         path.find('/', kSchemasPath.size() + 1) == std::string_view::npos;
}

void schema(Session& s) {
  s.send(schema_answer(s.server().settings.push_rules.schemas.get(),
                       s.path().substr(kSchemasPath.size() + 1)));
}

void info(Session& s) { s.send({200, info_json(s.server()), {}}); }

void overview(Session& s) { s.send({200, s.server().overview.render(epoch_ms_now()), {}}); }

bool is_page(std::string_view path) { return find_static(path) != nullptr; }

void page(Session& s) {
  const StaticFile* f = find_static(s.path());
  s.send({200,
          std::string(f->data),
          {{"Cache-Control", "no-cache"},
           {"Content-Security-Policy", kPagePolicy},
           {"X-Frame-Options", "DENY"},
           {"Referrer-Policy", "no-referrer"}}},
         content_type_for(f->name));
}

}  // namespace pemx::http_front::handlers
