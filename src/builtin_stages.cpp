// The one list of compiled-in stages. Adding a stage: a folder under plugins/, a CMake target
// of the same name, and one line here.
#include "builtin_stages.hpp"

#include "http_front/http_front.hpp"
#include "kafka_ingest/kafka_ingest.hpp"
#include "kafka_sink/kafka_sink.hpp"
#include "rules_router/rules_router.hpp"
#include "simulator/simulator.hpp"
#include "sqlite_store/sqlite_store.hpp"

namespace pemx {

Registry builtin_stages() {
  Registry registry;
  registry.add(kafka_ingest::factory());
  registry.add(rules_router::factory());
  registry.add(kafka_sink::factory());
  registry.add(sqlite_store::factory());
  registry.add(http_front::factory());
  registry.add(simulator::factory());
  return registry;
}

}  // namespace pemx
