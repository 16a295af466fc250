#include "tools/simulate/simulate.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <memory>
#include <mutex>
#include <ostream>
#include <random>
#include <set>
#include <sstream>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/retry.hpp"
#include "core/supervisor.hpp"
#include "sim/event_generator.hpp"
#include "sim/pacer.hpp"
#include "sim/producer.hpp"
#include "tools/simulate/expected_topics.hpp"
#include "tools/simulate/http_push.hpp"
#include "tools/simulate/watcher.hpp"

namespace pemx::sim {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kKafkaBatch = 1000;  // events generated and routed per step

// SIGINT/SIGTERM, blocked in every thread (block_shutdown_signals) and taken here.
class Interrupts {
 public:
  // Waits up to `timeout` for a signal; true when one came.
  bool wait(milliseconds timeout) {
    if (wait_shutdown_signal(timeout) == 0) return false;
    ++count_;
    return true;
  }
  // A signal waits to be taken (for loops that cannot wait here).
  static bool pending() { return shutdown_signal_pending(); }
  int count() const { return count_; }

 private:
  int count_ = 0;
};

// The live line: on a terminal one line rewritten every second, otherwise a plain line every
// five seconds (logs and CI output stay readable).
class Progress {
 public:
  Progress(std::ostream& err, bool watch)
      : err_(err), tty_(isatty(STDERR_FILENO) == 1), watch_(watch), last_(Clock::now()) {}
  void update(std::uint64_t sent, std::uint64_t acked, std::uint64_t arrived,
              std::uint64_t outstanding, bool force = false) {
    auto now = Clock::now();
    auto every = tty_ ? std::chrono::seconds(1) : std::chrono::seconds(5);
    if (!force && now - last_ < every) return;
    double secs = std::chrono::duration<double>(now - last_).count();
    double rate = secs > 0 ? static_cast<double>(sent - last_sent_) / secs : 0;
    last_ = now;
    last_sent_ = sent;
    std::ostringstream line;
    line << "sent " << sent << "  " << std::fixed << std::setprecision(0) << rate << "/s  acked "
         << acked;
    if (watch_) line << "  arrived " << arrived << "  missing so far " << outstanding;
    if (tty_) {
      err_ << "\r" << line.str() << "\x1b[K" << std::flush;
      dirty_ = true;
    } else {
      err_ << "simulate: " << line.str() << "\n" << std::flush;
    }
  }
  void done() {
    if (dirty_) err_ << "\n" << std::flush;
    dirty_ = false;
  }

 private:
  std::ostream& err_;
  bool tty_;
  bool watch_;
  Clock::time_point last_;
  std::uint64_t last_sent_ = 0;
  bool dirty_ = false;
};

std::string random_tag(std::random_device& rd) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
  return buf;
}

std::string event_id_in(std::string_view json) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("eventId") || !d["eventId"].IsString()) {
    return {};
  }
  return d["eventId"].GetString();
}

double ms(std::chrono::microseconds us) { return static_cast<double>(us.count()) / 1000.0; }

}  // namespace

std::vector<std::string> Summary::notes() const {
  std::vector<std::string> out;
  if (interrupted) out.push_back("interrupted (SIGINT/SIGTERM): stopped early");
  if (untracked > 0) {
    out.push_back(std::to_string(untracked) + " events were sent untracked (more than " +
                  std::to_string(max_tracked) +
                  " outstanding, the --max-tracked cap): they are not checked for missing, "
                  "duplicates or latency");
  }
  if (forgotten > 0) {
    out.push_back(std::to_string(forgotten) +
                  " complete events were forgotten to stay within --max-tracked: later "
                  "duplicates of them count as untracked arrivals");
  }
  if (watch_errors > 0) {
    out.push_back("the watcher's consumer reported " + std::to_string(watch_errors) +
                  " errors, the first: " + first_watch_error);
  }
  if (watched && foreign > 0) {
    out.push_back(std::to_string(foreign) +
                  " messages from other producers on the watched topics were ignored");
  }
  return out;
}

std::string summary_json(const Summary& s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto text = [&](const char* key, const std::string& value) {
    w.Key(key);
    w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
  };
  auto count = [&](const char* key, std::uint64_t value) {
    w.Key(key);
    w.Uint64(value);
  };
  auto number = [&](const char* key, double value) {
    w.Key(key);
    w.Double(value);
  };
  auto flag = [&](const char* key, bool value) {
    w.Key(key);
    w.Bool(value);
  };
  auto list = [&](const char* key, const std::vector<std::string>& values) {
    w.Key(key);
    w.StartArray();
    for (const auto& v : values) w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
    w.EndArray();
  };
  w.StartObject();
  text("target", s.target);
  count("seed", s.seed);
  text("run_tag", s.run_tag);
  count("sent", s.sent);
  count("acked", s.acked);
  count("failed", s.failed);
  if (!s.first_error.empty()) text("first_error", s.first_error);
  number("duration_s", s.duration_s);
  number("rate", s.rate());
  flag("interrupted", s.interrupted);
  flag("watched", s.watched);
  if (s.watched) {
    w.Key("per_topic");
    w.StartObject();
    for (const auto& [topic, c] : s.arrivals.per_topic) {
      w.Key(topic.c_str());
      w.StartObject();
      count("expected", c.expected);
      count("arrived", c.arrived);
      count("missing", c.missing);
      count("duplicates", c.duplicates);
      count("unexpected", c.unexpected);
      count("untracked", c.untracked);
      w.EndObject();
    }
    w.EndObject();
    count("missing", s.arrivals.missing);
    list("missing_sample", s.arrivals.missing_sample);
    count("duplicates", s.arrivals.duplicates);
    count("unexpected", s.arrivals.unexpected);
    count("untracked", s.untracked);
    count("forgotten", s.forgotten);
    count("foreign", s.foreign);
    count("watch_errors", s.watch_errors);
    count("max_tracked", s.max_tracked);
    number("watch_s", s.watch_s);
    w.Key("latency_ms");
    w.StartObject();
    count("count", s.latency_count);
    number("p50", s.latency_p50_ms);
    number("p99", s.latency_p99_ms);
    number("max", s.latency_max_ms);
    w.EndObject();
  }
  list("notes", s.notes());
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

std::string summary_text(const Summary& s) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1);
  out << "sent " << s.sent << " events to " << s.target << " in " << s.duration_s << " s ("
      << s.rate() << "/s), seed " << s.seed << ", event ids start with " << s.run_tag << "\n";
  out << "acked " << s.acked << ", failed " << s.failed;
  if (!s.first_error.empty()) out << " (first error: " << s.first_error << ")";
  out << "\n";
  if (s.watched) {
    out << "watched " << s.arrivals.per_topic.size() << " topics, waited " << s.watch_s
        << " s after sending:\n";
    std::size_t width = 5;
    for (const auto& [topic, c] : s.arrivals.per_topic) width = std::max(width, topic.size());
    out << "  " << std::left << std::setw(static_cast<int>(width)) << "topic" << std::right;
    for (const char* h : {"expected", "arrived", "missing", "dupl.", "unexp."}) {
      out << std::setw(10) << h;
    }
    out << "\n";
    for (const auto& [topic, c] : s.arrivals.per_topic) {
      out << "  " << std::left << std::setw(static_cast<int>(width)) << topic << std::right;
      for (auto v : {c.expected, c.arrived, c.missing, c.duplicates, c.unexpected}) {
        out << std::setw(10) << v;
      }
      out << "\n";
    }
    out << "missing " << s.arrivals.missing << " events, duplicates " << s.arrivals.duplicates
        << ", unexpected " << s.arrivals.unexpected << "\n";
    for (const auto& id : s.arrivals.missing_sample) out << "  missing: " << id << "\n";
    out << std::setprecision(2) << "latency, sent to arrival (" << s.latency_count
        << " arrivals): p50 " << s.latency_p50_ms << " ms, p99 " << s.latency_p99_ms << " ms, max "
        << s.latency_max_ms << " ms\n";
  }
  for (const auto& n : s.notes()) out << "note: " << n << "\n";
  out << (summary_exit_code(s) == 0 ? "ok" : "FAILED") << "\n";
  return out.str();
}

int summary_exit_code(const Summary& s) {
  bool bad = s.failed > 0 || (s.watched && (s.arrivals.missing > 0 || s.arrivals.unexpected > 0));
  return bad ? 1 : 0;
}

int simulate(const Config& config, const SimulateOptions& o, std::ostream& out, std::ostream& err) {
  block_shutdown_signals();  // before any thread exists: every thread inherits the mask
  auto usage = [&](const std::string& message) {
    err << "pemx simulate: " << message << "\nRun pemx simulate --help for usage.\n";
    return 2;
  };
  auto failure = [&](const std::string& message) {
    err << "pemx simulate: " << message << "\n";
    return 1;
  };
  Logger log(make_stderr_sink(LogLevel::kWarn), "simulate");

  const std::string brokers = o.brokers.empty() ? config.common.kafka.brokers : o.brokers;
  if ((o.via.empty() || o.watch) && brokers == "embedded") {
    return usage(
        "kafka.brokers is \"embedded\": that cluster lives inside a running pemx. Pass "
        "--brokers with the bootstrap address it logs (\"embedded Kafka cluster "
        "started\"), or push through it with --via http://127.0.0.1:8080");
  }
  std::unique_ptr<HttpPusher> pusher;
  std::string target = o.topic;
  if (!o.via.empty()) {
    auto url = parse_http_url(o.via);
    if (!url) return usage("--via: " + url.error().message);
    pusher = std::make_unique<HttpPusher>(url.value(), o.token);
    target = o.via;
  } else if (target.empty()) {
    auto topic = input_topic(config, o.role);
    if (!topic) return usage(topic.error().message);
    target = topic.value();
  }
  std::optional<ExpectedTopics> routes;
  if (o.watch) {
    auto r = ExpectedTopics::for_role(config, o.role);
    if (!r) return usage(r.error().message);
    routes = r.value();
  }

  std::random_device rd;
  Summary s;
  s.target = target;
  s.seed = o.seed ? *o.seed : (static_cast<std::uint64_t>(rd()) << 32 | rd());
  s.run_tag = random_tag(rd);
  s.watched = o.watch;
  s.max_tracked = o.max_tracked;
  EventGenerator generator(generator_options(o.mix, o.regions, s.seed, s.run_tag));

  std::mutex mutex;  // guards tracker: the watcher's thread and this one
  Tracker tracker(s.run_tag, o.max_tracked);
  std::unique_ptr<Watcher> watcher;
  if (o.watch) {
    auto w = Watcher::create(config.common.kafka, brokers, "pemx-simulate-" + s.run_tag,
                             [&](const std::string& topic, std::string_view id) {
                               auto now = Clock::now();
                               std::lock_guard<std::mutex> lock(mutex);
                               tracker.arrived(topic, id, now);
                             },
                             {log.child("simulate_watch"), "simulate_watch"});
    if (!w) return failure("--watch: " + w.error().message);
    watcher = std::move(w.value());
  }
  auto fail_event = [&](std::string_view id, const std::string& error) {
    ++s.failed;
    if (s.first_error.empty()) s.first_error = error;
    if (o.watch) {
      std::lock_guard<std::mutex> lock(mutex);
      tracker.failed(id);
    }
  };
  std::unique_ptr<EventProducer> producer;
  if (!pusher) {
    auto p = EventProducer::create(config.common.kafka, brokers, target,
                                   [&](std::string_view value, const char* error) {
                                     if (error == nullptr)
                                       ++s.acked;
                                     else
                                       fail_event(o.watch ? event_id_in(value) : "", error);
                                   },
                                   {log.child("simulate_producer"), "simulate_producer"});
    if (!p) return failure("Kafka producer: " + p.error().message);
    producer = std::move(p.value());
  }

  Interrupts interrupts;
  Progress progress(err, o.watch);
  auto show = [&](bool force = false) {
    std::uint64_t arrived = 0, outstanding = 0;
    if (o.watch) {
      std::lock_guard<std::mutex> lock(mutex);
      arrived = tracker.complete();
      outstanding = tracker.outstanding();
    }
    progress.update(s.sent, s.acked, arrived, outstanding, force);
  };

  const auto start = Clock::now();
  const auto stop_at = o.duration ? start + *o.duration : Clock::time_point::max();
  const std::uint64_t limit = o.count.value_or(Pacer::kUnlimited);
  Pacer pacer(o.rate, start);
  std::vector<GeneratedEvent> batch;
  std::vector<std::string_view> values;
  std::set<std::string> new_topics;
  std::string fatal;
  while (s.sent < limit && fatal.empty()) {
    if (Interrupts::pending()) interrupts.wait(milliseconds(0));
    if (interrupts.count() > 0) break;
    auto now = Clock::now();
    if (now >= stop_at) break;
    pacer.limit_backlog(now, s.sent);
    std::uint64_t due = std::min(pacer.due(now), limit);
    if (due <= s.sent) {
      auto wait = std::chrono::ceil<milliseconds>(std::min(pacer.when(s.sent), stop_at) - now);
      // Pushing: wait a little longer so that a request carries several events.
      wait = std::clamp(wait, milliseconds(pusher ? 20 : 1), milliseconds(100));
      if (producer) producer->poll(milliseconds(0));
      interrupts.wait(wait);
      show();
      continue;
    }
    std::size_t n = static_cast<std::size_t>(
        std::min<std::uint64_t>(due - s.sent, pusher ? kMaxPushBatch : kKafkaBatch));
    batch.clear();
    values.clear();
    for (std::size_t i = 0; i < n; ++i) batch.push_back(generator.next());
    for (const auto& e : batch) values.push_back(e.json);  // views: batch no longer grows
    if (o.watch) {
      auto topics = routes->route(values);
      if (!topics) {
        fatal = topics.error().message;
        break;
      }
      new_topics.clear();
      for (const auto& list : topics.value()) new_topics.insert(list.begin(), list.end());
      if (auto problem = watcher->watch({new_topics.begin(), new_topics.end()})) {
        fatal = "--watch: " + *problem;
        break;
      }
      auto sent_at = Clock::now();
      std::lock_guard<std::mutex> lock(mutex);
      for (std::size_t i = 0; i < n; ++i)
        tracker.add(batch[i].event_id, topics.value()[i], sent_at);
    }
    if (producer) {
      std::size_t queued = 0;
      for (; queued < n; ++queued) {
        const auto& e = batch[queued];
        auto error = producer->produce(e.product_id, e.json, &Interrupts::pending);
        if (error && Interrupts::pending()) break;  // interrupted while the queue was full
        if (error) fail_event(e.event_id, *error);
      }
      for (std::size_t i = queued; i < n && o.watch; ++i) {  // never sent: not expected
        std::lock_guard<std::mutex> lock(mutex);
        tracker.failed(batch[i].event_id);
      }
      n = queued;
      producer->poll(milliseconds(0));
    } else {
      auto error = retry_call(
          {milliseconds(200), milliseconds(5000), 2.0, 10}, log, "POST /event",
          [&] {
            auto answer = pusher->post(values);
            if (answer.status == 201) return Attempt::success();
            std::string e = answer.status == 0 ? answer.text
                                               : "HTTP " + std::to_string(answer.status) + ": " +
                                                     answer.text.substr(0, 300);
            return Attempt::failure(e, answer.status == 0 || answer.status == 503);
          },
          &Interrupts::pending);
      if (error) {
        for (const auto& e : batch) fail_event(e.event_id, *error);
      } else {
        s.acked += n;
      }
    }
    s.sent += n;
    show();
  }
  s.duration_s = std::chrono::duration<double>(Clock::now() - start).count();

  // The waits below (delivery reports, bounded by message.timeout.ms; stragglers, by
  // --watch-timeout) end early at the next signal.
  const int signals_after_sending = interrupts.count();
  auto waiting = [&] {
    if (Interrupts::pending()) interrupts.wait(milliseconds(0));
    return interrupts.count() == signals_after_sending;
  };
  while (producer && producer->in_flight() > 0 && waiting()) {
    producer->poll(milliseconds(100));
    show();
  }
  if (producer && producer->in_flight() > 0) {
    s.failed += producer->in_flight();
    if (s.first_error.empty()) s.first_error = "not acknowledged before the interrupt";
  }
  if (watcher) {
    auto watch_start = Clock::now();
    auto until = watch_start + o.watch_timeout;
    while (fatal.empty() && waiting() && Clock::now() < until) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (tracker.outstanding() == 0) break;
      }
      interrupts.wait(milliseconds(100));
      show();
    }
    s.watch_s = std::chrono::duration<double>(Clock::now() - watch_start).count();
    watcher->stop();
    s.foreign = tracker.foreign() + watcher->without_id();
    s.watch_errors = watcher->errors();
    s.first_watch_error = watcher->first_error();
    s.arrivals = tracker.finish();
    s.untracked = tracker.untracked_sent();
    s.forgotten = tracker.forgotten();
    const auto& latency = tracker.latency();
    s.latency_count = latency.count();
    s.latency_p50_ms = ms(latency.percentile(0.50));
    s.latency_p99_ms = ms(latency.percentile(0.99));
    s.latency_max_ms = ms(latency.max());
  }
  s.interrupted = interrupts.count() > 0;
  show(true);
  progress.done();
  if (!fatal.empty()) err << "pemx simulate: " << fatal << "\n";
  out << (o.json ? summary_json(s) : summary_text(s)) << std::flush;
  return fatal.empty() ? summary_exit_code(s) : 1;
}

}  // namespace pemx::sim
