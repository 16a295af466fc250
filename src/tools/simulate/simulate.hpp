#pragma once
// `pemx simulate`: reference-shaped random events at a paced rate into the role's input topic
// (or through a running pemx's POST /event), and with --watch a check of where they arrive.
// tools::simulate (src/tools/simulate_command.cpp) parses the options (options.hpp), loads the
// config, and calls simulate().
//
// Threads: simulate() runs on main's thread: it paces, generates, routes (for --watch),
// sends, serves the producer's delivery reports and prints progress. The Watcher has one
// consumer thread; the Tracker between them is guarded by one mutex.
// Signals: SIGINT/SIGTERM stop sending; the summary is still printed (a second signal also
// stops the wait for stragglers).
#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "tools/simulate/options.hpp"
#include "tools/simulate/tracker.hpp"

namespace pemx::sim {

struct Summary {
  std::string target;  // the topic, or the push URL
  std::uint64_t seed = 0;
  std::string run_tag;  // every event id of this run starts with it
  std::uint64_t sent = 0, acked = 0, failed = 0;
  std::string first_error;
  bool interrupted = false;
  double duration_s = 0;  // sending time
  bool watched = false;
  double watch_s = 0;  // time spent waiting for stragglers after sending
  Tracker::Result arrivals;
  std::uint64_t untracked = 0;  // sent but not tracked (the cap); not checked
  std::uint64_t forgotten = 0;  // complete events forgotten to make room (duplicates unseen)
  std::uint64_t foreign = 0;    // messages on the watched topics from other producers
  std::uint64_t max_tracked = 0;
  std::uint64_t watch_errors = 0;  // the watcher's consumer errors; first_watch_error says one
  std::string first_watch_error;
  std::uint64_t latency_count = 0;
  double latency_p50_ms = 0, latency_p99_ms = 0, latency_max_ms = 0;

  double rate() const { return duration_s > 0 ? static_cast<double>(sent) / duration_s : 0; }
  // Notes for the operator (the tracking cap, an interruption).
  std::vector<std::string> notes() const;
};

std::string summary_json(const Summary& s);
std::string summary_text(const Summary& s);
// 0 when every event was acknowledged and (with --watch) arrived where expected, else 1.
int summary_exit_code(const Summary& s);

// Runs the command; the exit code (2 for bad usage found only with the config at hand).
int simulate(const Config& config, const SimulateOptions& options, std::ostream& out,
             std::ostream& err);

}  // namespace pemx::sim
