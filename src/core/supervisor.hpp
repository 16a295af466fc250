#pragma once
// Supervisor: builds one role (queues, then stages), starts it, waits for a signal or a fatal
// stage error, and shuts it down in the documented order:
//   1. stop_accepting() on every stage, in role order (sources first);
//   2. drain(deadline) on every stage, in role order: queues empty, sinks report what is
//      durable, sources commit exactly that;
//   3. stop() in reverse start order (a stack).
// One deadline (shutdown.drain_timeout) covers 2 and 3; a second signal moves it to now.
// SIGHUP while the role runs reloads the routing rules (core/reload.hpp) and changes nothing
// else; the same reload is offered to the stages (StageContext::reloader).
// Thread: run() is called from main's thread with SIGINT/SIGTERM (and SIGHUP, see
// block_reload_signal) blocked in every thread.
#include <chrono>
#include <string>

#include "core/config.hpp"
#include "core/reload.hpp"
#include "pemx/log.hpp"
#include "pemx/metrics.hpp"

namespace pemx {

class Supervisor {
 public:
  // reload_config: how a reload reads the config again (main: load_config with the file and
  // --set overrides of start-up); unset, a reload is refused.
  Supervisor(const Config& config, std::string role, Logger log, Metrics& metrics,
             RulesReload::Load reload_config = {})
      : config_(config),
        role_(std::move(role)),
        log_(std::move(log)),
        metrics_(metrics),
        reload_config_(std::move(reload_config)) {}
  // The process exit code: 0 after a clean drain, 1 after a fatal error or a missed deadline.
  int run();

 private:
  const Config& config_;
  std::string role_;
  Logger log_;
  Metrics& metrics_;
  RulesReload::Load reload_config_;
};

// Blocks SIGINT and SIGTERM in the calling thread (call first in main, before any thread
// exists, so every thread inherits the mask) and ignores SIGPIPE.
void block_shutdown_signals();

// Blocks SIGHUP too (call in main after block_shutdown_signals, before any thread exists): a
// running role takes it as "reload the rules" (wait_run_signal) instead of dying of it.
void block_reload_signal();

// Waits up to `timeout` for SIGINT, SIGTERM or SIGHUP and takes it; the signal number, or 0.
int wait_run_signal(std::chrono::milliseconds timeout);

// Waits up to `timeout` for SIGINT/SIGTERM (blocked by block_shutdown_signals) and takes it;
// the signal number, or 0 when none came.
int wait_shutdown_signal(std::chrono::milliseconds timeout);

// Whether SIGINT or SIGTERM waits to be taken, without taking it.
bool shutdown_signal_pending();

}  // namespace pemx
