#include "core/supervisor.hpp"

#include <csignal>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <set>
#include <thread>

#include "core/reload_runner.hpp"
#include "core/target_check.hpp"
#include "kafka/embedded.hpp"

namespace pemx {

namespace {
sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}
}  // namespace

void block_shutdown_signals() {
  sigset_t set = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int wait_shutdown_signal(std::chrono::milliseconds timeout) {
  sigset_t set = shutdown_signals();
  timespec ts{static_cast<time_t>(timeout.count() / 1000),
              static_cast<long>((timeout.count() % 1000) * 1'000'000)};
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

void block_reload_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_run_signal(std::chrono::milliseconds timeout) {
  sigset_t set = shutdown_signals();
  sigaddset(&set, SIGHUP);
  timespec ts{static_cast<time_t>(timeout.count() / 1000),
              static_cast<long>((timeout.count() % 1000) * 1'000'000)};
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

bool shutdown_signal_pending() {
  sigset_t set;
  sigpending(&set);
  return sigismember(&set, SIGINT) == 1 || sigismember(&set, SIGTERM) == 1;
}

namespace {
constexpr std::chrono::milliseconds kStopGrace{3000};

std::string counters_summary(const Metrics& metrics) {
  std::string text = metrics.render_prometheus();
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#' || line.find("_total") == std::string::npos) continue;
    if (line.size() > 2 && line.compare(line.size() - 2, 2, " 0") == 0) continue;
    out += (out.empty() ? "" : "; ") + line;
  }
  return out;
}
}  // namespace

int Supervisor::run() {
  if (auto problem = role_problem(config_, role_)) {
    log_.error("cannot run the role", {{"role", role_}, {"error", *problem}});
    return 2;
  }
  const auto& names = config_.roles.at(role_);

  // Embedded Kafka first: stages connect to it.
  std::unique_ptr<kafka::EmbeddedCluster> embedded;
  std::string brokers = config_.common.kafka.brokers;
  if (config_.common.kafka.is_embedded()) {
    auto embedded_config = config_.common.kafka.embedded;
    // The stages' topics (a router's include every one its allowed values can render), up to
    // kMaxPrecreatedTopics: each takes the mock cluster a moment, and a topic it lacks is
    // created on first use anyway (with the embedded cluster's default partitions).
    std::size_t from_stages = 0, left_out = 0;
    for (const auto& name : names) {
      for (auto& t : config_.stage(name)->spec->topics()) {
        if (from_stages == kafka::kMaxPrecreatedTopics) {
          ++left_out;
          continue;
        }
        embedded_config.topics.push_back(t);
        ++from_stages;
      }
    }
    if (left_out > 0) {
      log_.warn("embedded Kafka: topics past the first ones are created on first use",
                {{"precreated", static_cast<std::int64_t>(from_stages)},
                 {"left_out", static_cast<std::int64_t>(left_out)}});
    }
    auto started = kafka::EmbeddedCluster::start(embedded_config);
    if (!started) {
      log_.error("embedded Kafka failed to start", {{"error", started.error().message}});
      return 1;
    }
    embedded = std::move(started.value());
    brokers = embedded->bootstrap();
    log_.warn("embedded Kafka cluster started: in memory, for demos and tests only",
              {{"bootstrap", brokers}, {"partitions", embedded_config.partitions}});
  }

  // Queues used by this role.
  std::map<std::string, std::unique_ptr<RecordQueue>> queues;
  for (const auto& name : names) {
    for (const auto& port : config_.stage(name)->spec->ports()) {
      if (queues.count(port.queue) != 0) continue;
      auto q = std::make_unique<RecordQueue>(port.queue, config_.queues.at(port.queue));
      auto* raw = q.get();
      Labels labels = {{"queue", port.queue}};
      metrics_.gauge_fn("pemx_queue_depth", "Records waiting in a queue", labels,
                        [raw] { return static_cast<double>(raw->depth()); });
      metrics_.gauge_fn("pemx_queue_capacity", "Capacity of a queue", labels,
                        [raw] { return static_cast<double>(raw->capacity()); });
      metrics_.counter_fn("pemx_queue_pushes_total", "Records pushed into a queue", labels,
                        [raw] { return static_cast<double>(raw->pushes()); });
      queues.emplace(port.queue, std::move(q));
    }
  }

  std::mutex fatal_mutex;
  std::string fatal_reason;
  std::atomic<bool> fatal{false};
  // Set when the shutdown starts: a running reload's target check ends at once and the reload
  // is refused (whether SIGHUP or POST /api/admin/reload started it).
  std::atomic<bool> stopping{false};

  // Services stages offer each other (a store's reader); outlives the stages.
  std::map<std::string, std::shared_ptr<EventReader>> readers;
  Activity activity;
  Readiness readiness;  // outlives the stages, like the readers
  std::shared_ptr<TopicDirectory> topic_directory;  // a sink's client, for the target check
  ClusterDirectories cluster_directories;           // the same per [clusters.<name>]
  activity.role = role_;
  activity.started_at_ms = epoch_ms_now();
  // Every router of the config offers its decision, whether this role enables it or not.
  std::map<std::string, std::shared_ptr<EventCheck>> event_checks;
  for (const auto& inst : config_.stages) {
    if (!inst.spec) continue;
    if (auto check = inst.spec->event_check()) event_checks.emplace(inst.name, std::move(check));
  }
  // The reload (SIGHUP, and the HTTP stage's admin endpoint): the routers' rules of this
  // config, read again by reload_config_. Outlives the stages, which may hold it.
  RulesReload reloader(
      config_, names,
      reload_config_ ? reload_config_ : RulesReload::Load([] {
        LoadResult r;
        r.errors.push_back({"", "", "this process has no config file to read again"});
        return r;
      }),
      log_.child("reload"), metrics_, &topic_directory,
      [&] { return fatal.load() || stopping.load(); }, &cluster_directories);
  // Construct in role order; a failure here is a start-up failure.
  std::vector<std::unique_ptr<Stage>> stages;
  for (const auto& name : names) {
    const StageInstance* inst = config_.stage(name);
    StageContext ctx;
    ctx.name = name;
    ctx.log = log_.child(name);
    ctx.metrics = &metrics_;
    ctx.kafka_brokers = brokers;
    ctx.readers = &readers;
    ctx.event_checks = event_checks;
    ctx.activity = &activity;
    ctx.readiness = &readiness;
    ctx.topic_directory = &topic_directory;
    ctx.cluster_directories = &cluster_directories;
    ctx.reloader = &reloader;
    for (const auto& port : inst->spec->ports()) ctx.queues[port.queue] = queues.at(port.queue).get();
    ctx.fatal = [&, name](const std::string& reason) {
      std::lock_guard<std::mutex> lock(fatal_mutex);
      if (!fatal.exchange(true)) fatal_reason = name + ": " + reason;
    };
    try {
      stages.push_back(inst->spec->create(ctx));
    } catch (const std::exception& e) {
      log_.error("stage failed to start", {{"stage", name}, {"error", e.what()}});
      return 1;
    }
  }
  // Before anything runs: a missing target topic is named once (docs/configuration.md,
  // missing_topics), and with "fail" refuses start-up like a config error.
  // A SIGINT/SIGTERM meanwhile ends it too (it stays pending: the loop below takes it).
  if (int code = check_role_targets(
          config_, names, topic_directory.get(), log_,
          [&] { return fatal.load() || shutdown_signal_pending(); }, &cluster_directories);
      code != 0) {
    return code;
  }
  std::string enabled;
  for (const auto& n : names) enabled += (enabled.empty() ? "" : ",") + n;
  log_.info("role starting", {{"role", role_}, {"stages", enabled}});

  // Start in reverse order: consumers of a queue run before its producer.
  std::vector<Stage*> started;
  for (auto it = stages.rbegin(); it != stages.rend(); ++it) {
    try {
      (*it)->start();
      started.push_back(it->get());
    } catch (const std::exception& e) {
      log_.error("stage failed to start", {{"error", e.what()}});
      std::lock_guard<std::mutex> lock(fatal_mutex);
      fatal_reason = std::string("start-up: ") + e.what();
      fatal = true;
      break;
    }
  }

  // SIGHUP's reloads run on their own thread (core/reload_runner.hpp): this thread keeps
  // waiting for signals while a reload waits for the cluster.
  ReloadRunner reloads({"supervisor", log_,
                        [&](const std::string& reason) {
                          std::lock_guard<std::mutex> lock(fatal_mutex);
                          if (!fatal.exchange(true)) fatal_reason = "reload: " + reason;
                        }},
                       [&] { reloader.reload("SIGHUP"); });
  int signal = 0;
  auto next_stats = Clock::now() + config_.common.stats_interval;
  while (!fatal && signal == 0) {
    signal = wait_run_signal(std::chrono::milliseconds(200));
    if (signal == SIGHUP) {
      if (reloads.request() == ReloadRunner::Requested::kCoalesced) {
        log_.info("SIGHUP during a reload: one more reload follows it");
      } else {
        log_.info("SIGHUP: reloading the config");
      }
      signal = 0;
    }
    if (Clock::now() >= next_stats) {
      next_stats = Clock::now() + config_.common.stats_interval;
      log_.info("stats", {{"counters", counters_summary(metrics_)}});
    }
  }
  if (fatal) {
    std::lock_guard<std::mutex> lock(fatal_mutex);
    log_.error("fatal stage error; draining and exiting", {{"reason", fatal_reason}});
  } else {
    log_.info("signal received; draining",
              {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"},
               {"drain_timeout_ms",
                static_cast<std::int64_t>(config_.common.drain_timeout.count())}});
  }

  stopping = true;
  Deadline deadline(Clock::now() + config_.common.drain_timeout);
  std::atomic<bool> done{false};
  // Watches for a second signal, and past the deadline (plus a grace for stop()) ends the
  // process whatever blocks it: offsets are committed only after delivery, so exiting here
  // loses nothing; what was not committed is redelivered.
  std::thread second_signal([&] {
    while (!done) {
      if (wait_shutdown_signal(std::chrono::milliseconds(100)) != 0) {
        log_.warn("second signal: stopping now");
        deadline.expire_now();
      }
      if (!done && Clock::now() > deadline.at() + kStopGrace) {
        log_.error("shutdown overran the drain deadline; exiting now",
                   {{"grace_ms", static_cast<std::int64_t>(kStopGrace.count())}});
        std::_Exit(1);
      }
    }
  });

  for (auto& s : stages) s->stop_accepting();
  for (auto& s : stages) s->shutting_down(deadline);
  // A running reload was cancelled above (stopping: its target check returns within a slice
  // of kTargetCheckSlice); it ends before a stage stops, since it may ask a sink's client.
  reloads.stop();
  bool drained = true;
  for (auto& s : stages) drained = s->drain(deadline) && drained;
  for (auto it = started.rbegin(); it != started.rend(); ++it) (*it)->stop();
  stages.clear();
  done = true;
  second_signal.join();

  // The exit code and, after a fatal stage error (one raised during the drain too, which no
  // earlier line reports), its reason: "drained": true alone would read as a clean exit.
  const int code = fatal || !drained ? 1 : 0;
  if (fatal) {
    std::lock_guard<std::mutex> lock(fatal_mutex);
    log_.info("stopped", {{"drained", drained},
                          {"exit_code", static_cast<std::int64_t>(code)},
                          {"fatal", fatal_reason},
                          {"counters", counters_summary(metrics_)}});
  } else {
    log_.info("stopped", {{"drained", drained},
                          {"exit_code", static_cast<std::int64_t>(code)},
                          {"counters", counters_summary(metrics_)}});
  }
  return code;
}

}  // namespace pemx
