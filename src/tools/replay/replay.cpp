#include "tools/replay/replay.hpp"

#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <iomanip>
#include <memory>
#include <mutex>
#include <ostream>
#include <sstream>

#include "core/config.hpp"
#include "core/supervisor.hpp"
#include "event/time.hpp"
#include "pemx/registry.hpp"
#include "tools/replay/tally.hpp"

namespace pemx::replay {

namespace {

using SteadyClock = std::chrono::steady_clock;

// How long main's thread waits on a queue when nothing moved, before it looks at the others.
constexpr auto kIdleWait = std::chrono::milliseconds(5);
// After a producer failure: how long the sink may take to hand back what it still holds.
constexpr auto kFailureDrain = std::chrono::seconds(5);
// After SIGINT/SIGTERM: how long the outputs in flight may take to be acknowledged (a second
// signal ends the wait at once).
constexpr auto kInterruptWait = std::chrono::seconds(10);

std::string port(const StageSpec& spec, PortDirection direction) {
  for (const auto& p : spec.ports()) {
    if (p.direction == direction) return p.queue;
  }
  return {};
}

int refuse(std::ostream& err, const std::string& message) {
  err << "pemx replay: " << message << "\n";
  return 2;
}

std::string run_id() {
  return "replay-" + std::to_string(epoch_ms_now()) + "-" + std::to_string(::getpid());
}

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

struct Progress {
  std::uint64_t read = 0;      // events read from the store
  std::uint64_t produced = 0;  // outputs handed to the sink (the producer)
};

// A SIGINT/SIGTERM and where the run stopped.
struct Interruption {
  int signal = 0;  // 0: not interrupted
  bool second = false;  // a second signal ended the wait for the outputs in flight
  std::size_t open_events = 0;  // events read whose outputs were not all acknowledged
  std::optional<Position> resume;  // the first event not finished
  bool resume_after = false;  // resume is the last event read (finished): start after it
};

std::string signal_name(int sig) { return sig == SIGTERM ? "SIGTERM" : "SIGINT"; }

void print_summary(std::ostream& out, const std::string& id, const ReplayOptions& o,
                   const std::string& rules_version,
                   const Tally& tally, const Progress& progress, std::uint64_t failures,
                   double elapsed, const Interruption& stop) {
  out << "replay " << id << ": createdAt in [" << event::epoch_ms_to_iso8601(o.from_ms) << ", "
      << event::epoch_ms_to_iso8601(o.to_ms) << "), rules " << rules_version
      << (o.dry_run ? ", dry run: nothing produced" : "") << "\n";
  std::size_t width = 5;  // "topic"
  for (const auto& [topic, c] : tally.topics()) width = std::max(width, topic.size());
  const int w = static_cast<int>(width) + 2;
  out << "  " << std::left << std::setw(w) << "topic" << std::right << std::setw(10)
      << (o.dry_run ? "would" : "produced") << std::setw(10) << "acked" << std::setw(10)
      << "unacked" << std::setw(10) << "skipped" << "\n";
  for (const auto& [topic, c] : tally.topics()) {
    const std::uint64_t unacked = o.dry_run ? 0 : c.planned - c.acked;
    out << "  " << std::left << std::setw(w) << topic << std::right << std::setw(10)
        << c.planned << std::setw(10) << c.acked << std::setw(10) << unacked << std::setw(10)
        << c.skipped << "\n";
  }
  std::uint64_t dead = 0;
  std::string reasons;
  for (const auto& [reason, n] : tally.dead_letters()) {
    dead += n;
    reasons += (reasons.empty() ? "" : ", ") + reason + " " + std::to_string(n);
  }
  out << "  dead letters: " << dead;
  if (dead > 0) out << " (" << reasons << ") to " << tally.dead_letter_topic();
  out << "\n  skipped: " << tally.skipped_outputs() << " outputs not in --topics ("
      << tally.skipped_events() << " events with none left)\n";
  if (stop.signal != 0) {
    out << "  interrupted by " << signal_name(stop.signal) << ": stopped reading; "
        << progress.produced - tally.acked_outputs()
        << " outputs handed to the producer not acknowledged"
        << (stop.second ? " (a second signal cut the wait for them short)" : "") << "; "
        << stop.open_events << " events read not done\n";
    if (stop.resume && stop.resume->event_id.empty()) {
      out << "  resume: --from " << event::epoch_ms_to_iso8601(o.from_ms) << " --to "
          << event::epoch_ms_to_iso8601(o.to_ms) << " (no event was read)\n";
    } else if (stop.resume) {
      const std::string at = event::epoch_ms_to_iso8601(stop.resume->created_ms);
      out << "  resume: --from " << at << " --to " << event::epoch_ms_to_iso8601(o.to_ms);
      if (stop.resume_after) {
        out << " (every event up to " << stop.resume->event_id << ", createdAt " << at
            << ", is acknowledged; the events of that millisecond are sent again)\n";
      } else {
        out << " (the first event not acknowledged is " << stop.resume->event_id
            << ", createdAt " << at << "; every event before it is; the events of that "
               "millisecond before it are sent again)\n";
      }
    } else {
      out << "  resume: nothing left: every event of the range was read and acknowledged\n";
    }
  }
  out << "  failures: " << failures << "\n";
  out << "  read " << progress.read << " events, routed " << tally.routed_events()
      << ", produced " << progress.produced << " outputs, acked " << tally.acked_outputs()
      << ", elapsed " << std::fixed << std::setprecision(2) << elapsed << " s\n";
  out.unsetf(std::ios::floatfield);
  if (o.dry_run && !tally.decisions().empty()) {
    out << "  first decisions:\n";
    for (const auto& d : tally.decisions()) out << "    " << d << "\n";
  }
}

}  // namespace

int run(const Config& config, const std::string& role, const ReplayOptions& o,
        std::ostream& out, std::ostream& err) {
  // SIGINT/SIGTERM are taken by main's loop (below), never by a thread of the stages or of
  // librdkafka: blocked before any thread exists, so every thread inherits the mask.
  block_shutdown_signals();
  auto role_it = config.roles.find(role);
  if (role_it == config.roles.end()) return refuse(err, "no role \"" + role + "\" in the config");
  const std::vector<std::string>& names = role_it->second;

  // The role's router (the stage that offers an event check), and the sink that reads its
  // output queue.
  const StageInstance* router = nullptr;
  for (const auto& name : names) {
    const StageInstance* inst = config.stage(name);
    if (inst != nullptr && inst->spec && inst->spec->event_check()) {
      router = inst;
      break;
    }
  }
  if (router == nullptr) {
    return refuse(err, "role \"" + role + "\" has no routing stage (rules_router); name the "
                       "role whose rules to apply with --role");
  }
  const std::string router_in = port(*router->spec, PortDirection::kIn);
  const std::string router_out = port(*router->spec, PortDirection::kOut);
  const StageInstance* sink = nullptr;
  std::string sink_acks;
  if (!o.dry_run) {
    for (const auto& name : names) {
      const StageInstance* inst = config.stage(name);
      if (inst == nullptr || inst == router || !inst->spec) continue;
      if (port(*inst->spec, PortDirection::kIn) == router_out) {
        sink = inst;
        break;
      }
    }
    if (sink == nullptr) {
      return refuse(err, "role \"" + role + "\" has no stage reading the router's output queue \"" +
                             router_out + "\" (a kafka_sink)");
    }
    if (sink->spec->delivery() == DeliveryRole::kExactlyOnce) {
      return refuse(err, "the sink " + sink->name +
                             " delivers exactly once (Kafka transactions with input offsets); a "
                             "replay has no input offsets: run it with --set stages." +
                             sink->name + ".delivery=\"at_least_once\"");
    }
    sink_acks = port(*sink->spec, PortDirection::kOut);
    if (config.common.kafka.is_embedded()) {
      return refuse(err, "kafka.brokers is \"embedded\": the in-memory cluster lives only inside "
                         "a running pemx; name the real cluster with --set kafka.brokers=HOST:PORT");
    }
  }

  // The store: the role's store stage, else the web role's. Opening it runs its migrations
  // (schema version 2 adds the time range index).
  std::shared_ptr<EventReader> reader;
  std::string store_name;
  for (const std::string& r : {role, std::string("web")}) {
    auto it = config.roles.find(r);
    if (it == config.roles.end()) continue;
    for (const auto& name : it->second) {
      const StageInstance* inst = config.stage(name);
      if (inst == nullptr || !inst->spec) continue;
      auto opened = inst->spec->open_reader();
      if (opened) {
        reader = std::move(opened.value());
        store_name = name;
        break;
      }
      if (opened.error().code != "not_a_store") {
        err << "pemx replay: store stage " << name << ": " << opened.error().message << "\n";
        return 1;
      }
    }
    if (reader) break;
  }
  if (!reader) {
    return refuse(err, "neither role \"" + role + "\" nor role \"web\" has a store stage "
                       "(sqlite_store, postgres_store) to read the events from");
  }

  // The stages, as the supervisor builds them, with queues of their own.
  LogLevel level = std::max(config.common.log_level, LogLevel::kWarn);
  Logger log(make_stderr_sink(level), "replay");
  Metrics metrics;
  Activity activity;
  Readiness readiness;
  std::map<std::string, std::shared_ptr<EventReader>> readers;
  std::mutex fatal_mutex;
  std::string fatal_reason;
  std::atomic<bool> fatal{false};
  auto capacity = [&](const std::string& q) {
    auto it = config.queues.find(q);
    return it == config.queues.end() ? std::size_t{1024} : std::min(it->second, kMaxRecords);
  };
  RecordQueue to_router(router_in, capacity(router_in));
  RecordQueue routed(router_out, capacity(router_out));
  RecordQueue to_sink(router_out, capacity(router_out));
  RecordQueue acks(sink_acks.empty() ? "acks" : sink_acks, kMaxRecords);  // never full
  auto context = [&](const StageInstance& inst, std::map<std::string, RecordQueue*> queues) {
    StageContext ctx;
    ctx.name = inst.name;
    ctx.log = log.child(inst.name);
    ctx.metrics = &metrics;
    ctx.queues = std::move(queues);
    ctx.kafka_brokers = config.common.kafka.brokers;
    ctx.readers = &readers;
    ctx.activity = &activity;
    ctx.readiness = &readiness;
    ctx.fatal = [&, name = inst.name](const std::string& reason) {
      std::lock_guard<std::mutex> lock(fatal_mutex);
      if (!fatal.exchange(true)) fatal_reason = name + ": " + reason;
    };
    return ctx;
  };
  // The contexts outlive their stages (declared first, destroyed last), as in the supervisor.
  StageContext router_ctx = context(*router, {{router_in, &to_router}, {router_out, &routed}});
  std::optional<StageContext> sink_ctx;
  if (sink != nullptr) sink_ctx = context(*sink, {{router_out, &to_sink}, {sink_acks, &acks}});
  std::unique_ptr<Stage> router_stage, sink_stage;
  try {
    router_stage = router->spec->create(router_ctx);
    if (sink_ctx) sink_stage = sink->spec->create(*sink_ctx);
  } catch (const std::exception& e) {
    err << "pemx replay: " << e.what() << "\n";
    return 1;
  }
  const std::string rules = router->spec->live_rules() ? router->spec->live_rules()->current().version
                                                       : std::string("?");

  const std::string id = run_id();
  Tally tally(o.topics, id, o.dry_run);
  Frontier frontier;
  Interruption stop;
  std::optional<Clock::time_point> stop_waiting_at;  // set by a signal
  Position held_at;   // the event `held` was made from
  Position last_read;  // the last event handed to the router
  Progress progress;
  const auto started = SteadyClock::now();
  if (sink_stage) sink_stage->start();
  router_stage->start();

  // The loop on main's thread: store pages into the router, the router's decisions (filtered,
  // marked) into the sink, the sink's acknowledged records out. Each step is non-blocking;
  // when none moved, it waits briefly on the queue it expects next.
  RangeScan scan;
  scan.from_ms = o.from_ms;
  scan.to_ms = o.to_ms;
  scan.product_ids = o.products;
  scan.limit = o.page_size;
  std::vector<ArchivedEvent> page;
  std::size_t page_pos = 0;
  bool exhausted = false, source_done = false, router_done = false, sink_done = !sink_stage;
  std::size_t alive = 0;     // records made and not yet finished
  std::size_t in_sink = 0;   // records handed to the sink, not yet back
  std::deque<RecordPtr> for_sink;
  RecordPtr held;            // made from a row, waiting for room in the router's queue
  std::string read_error;
  auto next_progress = started + std::chrono::seconds(1);
  auto finish = [&](RecordPtr rec) {
    frontier.finished(rec.get());
    rec.reset();
    --alive;
  };
  auto take_routed = [&](RecordPtr rec) {
    if (tally.routed(*rec)) {
      for_sink.push_back(std::move(rec));
    } else {
      finish(std::move(rec));
    }
  };
  auto take_acked = [&](RecordPtr rec) {
    --in_sink;
    tally.acked(*rec);
    finish(std::move(rec));
  };

  while (!fatal.load()) {
    bool moved = false;
    // 0. SIGINT/SIGTERM: stop reading; the outputs in flight get kInterruptWait to be
    //    acknowledged (a second signal ends the wait), then the summary says where to resume.
    if (shutdown_signal_pending()) {
      const int sig = wait_shutdown_signal(std::chrono::milliseconds(0));
      if (sig != 0 && stop.signal == 0) {
        stop.signal = sig;
        stop_waiting_at = Clock::now() + kInterruptWait;
        err << "replay: " << signal_name(sig) << ": stopped reading; waiting up to "
            << kInterruptWait.count() << " s for the outputs in flight (again to stop now)\n";
        // Where to resume unless an event handed on is still open at the end: the event
        // held back, else the page's next row, else (more pages to read) after the last
        // event read, else nowhere (the whole range was read).
        if (held) {
          stop.resume = held_at;
          held.reset();
          --alive;
          --progress.read;
        } else if (page_pos < page.size()) {
          stop.resume = Position{page[page_pos].created_ms, page[page_pos].event_id};
        } else if (!exhausted && progress.read > 0) {
          stop.resume = last_read;
          stop.resume_after = true;
        } else if (!exhausted) {
          stop.resume = Position{o.from_ms, {}};
        }
        if (!source_done) {
          source_done = true;
          to_router.close();
        }
      } else if (sig != 0) {
        stop.second = true;
        break;
      }
    }
    if (stop_waiting_at && Clock::now() >= *stop_waiting_at) break;
    // 1. Rows into the router, one page at a time (keyset: after the last row read).
    while (!source_done) {
      if (!held) {
        if (page_pos == page.size()) {
          if (exhausted) {
            source_done = true;
            to_router.close();
            break;
          }
          auto next = reader->scan(scan);
          if (!next) {
            read_error = next.error().message;
            source_done = true;
            to_router.close();
            break;
          }
          page = std::move(next.value());
          page_pos = 0;
          exhausted = page.size() < scan.limit;
          if (!page.empty()) {
            scan.after_ms = page.back().created_ms;
            scan.after_id = page.back().event_id;
          }
          continue;
        }
        if (alive >= kMaxRecords) break;
        ArchivedEvent& e = page[page_pos++];
        held = std::make_unique<Record>();
        held->topic = std::move(e.source_topic);
        held->replay = true;
        held->partition = e.source_partition;
        held->offset = e.source_offset;
        held->timestamp_ms = e.created_ms;
        held->has_key = !e.product_id.empty();
        held->key = std::move(e.product_id);
        held->value = std::move(e.raw_json);
        held_at = {e.created_ms, e.event_id};
        ++alive;
        ++progress.read;
      }
      const Record* handed = held.get();
      if (!to_router.try_push(held)) break;
      frontier.started(handed, held_at);
      last_read = held_at;
      moved = true;
    }
    // 2. The router's decisions.
    while (!router_done) {
      RecordPtr rec = routed.try_pop();
      if (!rec) {
        if (routed.closed() && routed.depth() == 0) router_done = true;
        break;
      }
      take_routed(std::move(rec));
      moved = true;
    }
    // 3. Into the sink (after a signal, no more: only what the sink holds is waited for).
    while (stop.signal == 0 && !for_sink.empty()) {
      const std::size_t outputs = for_sink.front()->targets.size();
      if (!to_sink.try_push(for_sink.front())) break;
      progress.produced += outputs;
      for_sink.pop_front();
      ++in_sink;
      moved = true;
    }
    if ((router_done && for_sink.empty()) || stop.signal != 0) {
      if (!to_sink.closed()) to_sink.close();
    }
    // 4. Acknowledged.
    while (!sink_done) {
      RecordPtr rec = acks.try_pop();
      if (!rec) {
        if (acks.closed() && acks.depth() == 0) sink_done = true;
        break;
      }
      take_acked(std::move(rec));
      moved = true;
    }
    const auto now = SteadyClock::now();
    if (now >= next_progress) {
      next_progress = now + std::chrono::seconds(1);
      const double s = seconds_since(started);
      err << "replay: read " << progress.read << " events, produced " << progress.produced
          << ", acked " << tally.acked_outputs() << " (" << static_cast<std::uint64_t>(
                 s > 0 ? progress.read / s : 0)
          << " events/s)\n";
    }
    if (router_done && sink_done && (for_sink.empty() || stop.signal != 0)) break;
    if (!moved) {
      RecordPtr rec;
      if (!sink_done && (in_sink > 0 || router_done) &&
          acks.pop(rec, Clock::now() + kIdleWait) == QueueStatus::kOk) {
        take_acked(std::move(rec));
      } else if (in_sink == 0 && !router_done &&
                 routed.pop(rec, Clock::now() + kIdleWait) == QueueStatus::kOk) {
        take_routed(std::move(rec));
      }
    }
  }

  // Shutdown: on success every queue is closed and empty and both workers are done; after a
  // producer failure the sink gets a short while to hand back what it holds; after a signal
  // the wait for the outputs in flight is over.
  Deadline deadline(Clock::now() + (fatal.load() ? kFailureDrain : std::chrono::seconds(0)));
  to_router.close();
  router_stage->stop_accepting();
  if (sink_stage) sink_stage->stop_accepting();
  router_stage->drain(deadline);
  if (sink_stage) sink_stage->drain(deadline);
  for (RecordPtr rec; (rec = acks.try_pop());) take_acked(std::move(rec));
  if (sink_stage) sink_stage->stop();
  router_stage->stop();
  if (stop.signal != 0) {
    stop.open_events = frontier.open();
    // An event still open is where to resume (before the one held or next on the page).
    if (frontier.open() > 0) {
      stop.resume = frontier.resume(std::nullopt);
      stop.resume_after = false;
    }
  }

  // Failures: outputs never acknowledged (a producer failure), and outputs the sink replaced
  // by a dead letter because their topic stayed unavailable (unavailable_topic_timeout).
  // After a signal, the outputs still in flight are not failures: the summary counts them
  // apart, and says where to resume.
  std::uint64_t failures = stop.signal != 0 ? 0 : progress.produced - tally.acked_outputs();
  if (sink != nullptr) {
    // Every cluster's series of the sink (each carries a cluster label).
    for (const auto& sample : metrics.read("pemx_kafka_sink_dead_lettered_total")) {
      bool stage = false;
      bool unavailable = false;
      for (const auto& [k, v] : sample.labels) {
        stage = stage || (k == "stage" && v == sink->name);
        unavailable = unavailable || (k == "reason" && v == "topic_unavailable");
      }
      if (stage && unavailable) failures += static_cast<std::uint64_t>(sample.value);
    }
  }
  print_summary(out, id, o, rules, tally, progress, failures, seconds_since(started), stop);
  out << std::flush;
  if (fatal.load()) {
    std::lock_guard<std::mutex> lock(fatal_mutex);
    err << "pemx replay: the producer failed: " << fatal_reason << "\n";
  }
  if (!read_error.empty()) {
    err << "pemx replay: reading the store (" << store_name << ") failed: " << read_error
        << "; the events after " << event::epoch_ms_to_iso8601(scan.after_ms.value_or(o.from_ms))
        << " were not replayed\n";
  }
  if (fatal.load() || !read_error.empty()) return 1;
  if (stop.signal != 0) return kExitInterrupted;
  if (failures > 0) return 1;
  return 0;
}

}  // namespace pemx::replay
