// pemx_bench_queue_handoff: hand-offs through pemx::BoundedQueue at a paced rate, one writer
// thread and one reader parked in pop() between items, as between two stage threads of the dist
// role at a low rate (docs/benchmarks.md, "Latency"). Prints the reader's voluntary context
// switches per item (getrusage, RUSAGE_THREAD) and the hand-off time (push -> pop returns).
//
//   pemx_bench_queue_handoff [ITEMS [GAP_US]]   (default 20000 items, one every 200 us)
//
// Compare two versions of include/pemx/queue.hpp by building this file against each.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "pemx/queue.hpp"

namespace {

struct Item {
  pemx::Clock::time_point pushed;
};

long voluntary_switches() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return u.ru_nvcsw;
}

}  // namespace

int main(int argc, char** argv) {
  const int items = argc > 1 ? std::max(100, std::atoi(argv[1])) : 20000;
  const int gap_us = argc > 2 ? std::max(0, std::atoi(argv[2])) : 200;
  pemx::BoundedQueue<Item> queue("handoff", 1024);
  std::vector<double> handoff_us;
  handoff_us.reserve(static_cast<std::size_t>(items));
  long reader_switches = 0;
  std::thread reader([&] {
    const long before = voluntary_switches();
    for (int i = 0; i < items; ++i) {
      std::unique_ptr<Item> item;
      if (queue.pop(item, pemx::Clock::time_point::max()) != pemx::QueueStatus::kOk) break;
      handoff_us.push_back(
          std::chrono::duration<double, std::micro>(pemx::Clock::now() - item->pushed).count());
    }
    reader_switches = voluntary_switches() - before;
  });
  for (int i = 0; i < items; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
    auto item = std::make_unique<Item>(Item{pemx::Clock::now()});
    while (!queue.try_push(item)) std::this_thread::yield();  // 1024 slots: never full here
  }
  reader.join();
  std::sort(handoff_us.begin(), handoff_us.end());
  const auto at = [&](double q) {
    return handoff_us[static_cast<std::size_t>(q * static_cast<double>(handoff_us.size() - 1))];
  };
  std::printf("{\"items\":%d,\"gap_us\":%d,\"reader_switches_per_item\":%.3f,"
              "\"handoff_p50_us\":%.1f,\"handoff_p99_us\":%.1f,\"handoff_p999_us\":%.1f}\n",
              items, gap_us, static_cast<double>(reader_switches) / items, at(0.5), at(0.99),
              at(0.999));
  return 0;
}
