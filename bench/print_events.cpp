// pemx_bench_events: prints N reference-shaped events (pemx::sim::EventGenerator, fixed seed),
// one JSON object per line, as a source system would send them. The push benchmark builds
// its POST /event body and the baseline's messages from the same lines.
#include <iostream>
#include <string>

#include "bench_util.hpp"
#include "sim/event_generator.hpp"

namespace {

constexpr const char* kProgram = "pemx_bench_events";
constexpr const char* kUsage = R"(pemx_bench_events — print generated events as JSON lines

Usage: pemx_bench_events [options]
  --count N     events (default 200)
  --seed S      generator seed (default 1)
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace pemx::bench;
  Options opts(kProgram, kUsage, {"count", "seed"});
  opts.parse(argc, argv);
  const std::int64_t count = opts.integer("count", 200, 0, 100'000'000);
  pemx::sim::GeneratorOptions gen_options;
  gen_options.seed = static_cast<std::uint64_t>(opts.integer("seed", 1, 0, INT64_MAX));
  pemx::sim::EventGenerator generator(gen_options);
  std::ios::sync_with_stdio(false);
  for (std::int64_t i = 0; i < count; ++i) std::cout << generator.next().json << '\n';
  std::cout.flush();
  return std::cout ? 0 : 1;
}
