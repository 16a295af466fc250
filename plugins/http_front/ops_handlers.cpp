// /healthz, /readyz, /metrics and /openapi.json: they answer any method alike.
#include "http_front/handlers.hpp"
#include "http_front/openapi.hpp"
#include "http_front/pusher.hpp"
#include "http_front/session.hpp"

namespace pemx::http_front::handlers {

void healthz(Session& s) { s.send({200, R"({"status":"ok"})", {}}); }

// On the query pool: it reads only the state the store and the Kafka clients report.
void readyz(Session& s) {
  s.offload([&server = s.server()]() {
    std::string problems;
    if (server.reader) {
      if (auto p = server.reader->problem()) problems += "store: " + *p + "; ";
    }
    if (server.pusher) {
      if (auto p = server.pusher->kafka_problem()) problems += "kafka: " + *p + "; ";
    }
    if (problems.empty()) return Answer{200, R"({"status":"ready"})", {}};
    return error_answer(503, "not ready: " + problems.substr(0, problems.size() - 2));
  });
}

void metrics(Session& s) {
  s.send({200, s.server().metrics.render_prometheus(), {}},
         "text/plain; version=0.0.4; charset=utf-8");
}

void openapi(Session& s) { s.send({200, std::string(openapi_json()), {}}); }

}  // namespace pemx::http_front::handlers
