// sqlite_store stage: stores each consumed event in SQLite, batching many rows per
// transaction, and hands each record back on its ack queue only after the transaction that
// holds it has committed (or, for an event that cannot be stored, after its dead-letter copy
// is acknowledged by the broker). So an input offset is committed only once the event is
// durable somewhere: a crash at any instant redelivers, never loses; redelivery never
// duplicates a row (the table is keyed by eventId).
//
// Threads: one worker thread pops records, maps them to rows (row_mapping.hpp), writes the
// batches (SqliteEventStore), produces dead letters and serves their delivery reports
// (rd_kafka_poll runs the callback on this same thread, so the bookkeeping needs no lock).
// The supervisor's thread calls the lifecycle methods. HTTP threads use the reader, which
// has its own connections (event_store.hpp).
#include "sqlite_store/sqlite_store.hpp"

#include <atomic>
#include <deque>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "core/config.hpp"
#include "core/config_section.hpp"
#include "core/retry.hpp"
#include "core/worker.hpp"
#include "event/dead_letter.hpp"
#include "kafka/client.hpp"
#include "kafka/topic_name.hpp"
#include "sqlite_store/dead_letter.hpp"
#include "sqlite_store/event_store.hpp"
#include "sqlite_store/import.hpp"
#include "sqlite_store/row_mapping.hpp"

namespace pemx::sqlite_store {

namespace {

using namespace std::chrono_literals;

struct Settings {
  std::string input = "events";
  std::string acks = "acks";
  StoreOptions store;  // path: the stage's `path`, else store.path
  std::size_t batch_size = 500;
  std::chrono::milliseconds batch_linger{20};
  std::string dead_letter_topic = "product-event-dlq-pemx";
  kafka::KafkaConfig kafka;
  kafka::Properties properties;  // dead-letter producer overrides
  RetryPolicy retry{100ms, 5s, 2.0, 0};
  std::chrono::milliseconds give_up_after{60s};  // a write failing this long is fatal
  event::JsonLimits limits;                      // [events]
  // kReport and kOff store what the reference stored (any event with a string eventId);
  // kStrict dead-letters events failing the reference's field rules (row_mapping.hpp).
  event::ValidationMode validation = event::ValidationMode::kReport;
};

const char* sync_name(SyncMode mode) { return mode == SyncMode::kFull ? "full" : "normal"; }

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class SqliteStore final : public Stage {
 public:
  SqliteStore(const Settings& s, StageContext& ctx)
      : s_(s),
        log_(ctx.log),
        fatal_(ctx.fatal),
        stage_name_(ctx.name),
        activity_(ctx.activity),
        input_(ctx.queue(s.input)),
        acks_(ctx.queue(s.acks)),
        backoff_(s.retry),
        warn_limit_(5),
        bad_log_(10) {
    Labels stage = {{"stage", ctx.name}};
    Metrics& m = *ctx.metrics;
    if (activity_ != nullptr) activity_->offer("stored");
    stored_ = &m.counter("pemx_sqlite_store_stored_total", "Events stored (new rows)", stage);
    duplicates_ = &m.counter("pemx_sqlite_store_duplicates_total",
                             "Events whose eventId was already stored (redeliveries)", stage);
    std::vector<std::string_view> reasons(std::begin(event::kJsonReasons),
                                          std::end(event::kJsonReasons));
    reasons.push_back(kInvalidEvent);
    for (auto reason : reasons) {
      dead_[std::string(reason)] = &m.counter(
          "pemx_sqlite_store_dead_lettered_total", "Events sent to the dead-letter topic",
          {{"stage", ctx.name}, {"reason", std::string(reason)}});
    }
    for (auto field : event::kValidatedFields) {
      invalid_[std::string(field)] = &m.counter(
          "pemx_sqlite_store_invalid_events_total",
          "Events stored although they fail the reference push's field rule for `reason` "
          "(validation = \"report\"); one event can count under several reasons",
          {{"stage", ctx.name}, {"reason", std::string(field)}});
    }
    batches_ = &m.counter("pemx_sqlite_store_batches_total", "Committed transactions", stage);
    batch_seconds_ = &m.histogram("pemx_sqlite_store_batch_seconds",
                                  "Time to write and commit one batch", stage);
    batch_size_ =
        &m.gauge("pemx_sqlite_store_batch_size", "Rows in the last committed batch", stage);
    unacked_ = &m.gauge("pemx_sqlite_store_unacknowledged",
                        "Records taken from the input and not yet acknowledged", stage);
    write_retries_ =
        &m.counter("pemx_sqlite_store_retries_total", "Operations attempted again after a failure",
                   {{"stage", ctx.name}, {"op", "commit"}});
    Counter& dlq_retries =
        m.counter("pemx_sqlite_store_retries_total", "Operations attempted again after a failure",
                  {{"stage", ctx.name}, {"op", "dead_letter"}});

    auto opened = SqliteEventStore::open(s.store);
    if (!opened) throw std::runtime_error(opened.error().message);
    store_ = std::move(opened.value());
    if (ctx.readers != nullptr) (*ctx.readers)[ctx.name] = store_->reader();

    DeadLetterOptions dlq;
    dlq.topic = s.dead_letter_topic;
    dlq.kafka = s.kafka;
    dlq.kafka.brokers = ctx.kafka_brokers;
    dlq.properties = s.properties;
    dlq.retry = s.retry;
    dlq.name = ctx.name + " dead letters";
    dlq.readiness = ctx.readiness;
    dead_letters_.emplace(std::move(dlq), log_, fatal_, dlq_retries);

    log_.info("store opened",
              {{"path", store_->path()},
               {"schema_version", store_->schema_version()},
               {"migrated_from", store_->migrated_from()},
               {"synchronous", sync_name(s.store.synchronous)},
               {"batch_size", static_cast<std::int64_t>(s.batch_size)},
               {"batch_linger_ms", static_cast<std::int64_t>(s.batch_linger.count())}});
    rows_.reserve(s.batch_size);
    batch_.reserve(s.batch_size);
  }

  ~SqliteStore() override { stop(); }

  void start() override {
    worker_.start([this](std::stop_token st) { run(st); });
  }
  void stop_accepting() noexcept override {}
  bool drain(const Deadline& deadline) noexcept override {
    deadline_.store(&deadline);
    return worker_.wait_done(deadline);
  }
  void stop() noexcept override {
    worker_.stop();
    acks_.close();
    // Close the writer (the readers stay open for whoever still holds them; their problem()
    // now says the writer is closed). The dead-letter producer purges what is in flight.
    dead_letters_.reset();
    store_.reset();
  }

 private:
  bool deadline_passed() const {
    const Deadline* d = deadline_.load();
    return d != nullptr && d->passed();
  }

  void update_unacked() {
    unacked_->set(
        static_cast<double>(batch_.size() + finished_.size() + dead_letters_->in_flight()));
  }

  // A record becomes a row of the batch, or a dead letter.
  void take(RecordPtr rec, const std::stop_token& st) {
    auto row = map_event_row(rec->value,
                             {rec->topic, rec->partition, rec->offset, rec->timestamp_ms},
                             now_ms(), s_.limits, s_.validation);
    if (row) {
      rec->event_id = row.value().event_id;
      rec->event_type = row.value().event_type;
      if (batch_.empty()) batch_due_ = Clock::now() + s_.batch_linger;
      rows_.push_back(std::move(row.value()));
      batch_.push_back(std::move(rec));
      return;
    }
    const Error& why = row.error();
    dead_.at(why.code)->inc();
    if (bad_log_.allow()) {
      log_.warn("event dead-lettered",
                {{"reason", why.code},
                 {"detail", why.message},
                 {"topic", rec->topic},
                 {"partition", rec->partition},
                 {"offset", rec->offset},
                 {"suppressed", static_cast<std::int64_t>(bad_log_.take_suppressed())}});
    }
    if (activity_ != nullptr) {
      activity_->dead_letter({epoch_ms_now(), stage_name_, why.code, why.message, {}, rec->key});
    }
    rec->dead_letter_reason = why.code;
    rec->dead_letter_detail = why.message;
    rec->targets.assign(1, s_.dead_letter_topic);
    rec->out_headers = {{"pemx-dlq-reason", why.code},
                        {"pemx-dlq-detail", why.message},
                        {"pemx-dlq-stage", stage_name_},
                        {"pemx-source-topic", rec->topic},
                        {"pemx-source-partition", std::to_string(rec->partition)},
                        {"pemx-source-offset", std::to_string(rec->offset)}};
    event::fit_dead_letter(rec->value, rec->key, rec->out_headers, s_.limits);
    dead_letters_->send(std::move(rec), st);
  }

  // The committed batch's new rows, for the live view (only while someone watches). A row the
  // store already held (a redelivery, or a repeat within the batch) was not stored now, so it
  // is not shown again.
  void publish_stored(const std::vector<std::size_t>& inserted) {
    if (activity_ == nullptr || !activity_->watched()) return;
    const std::int64_t now = epoch_ms_now();
    for (std::size_t i : inserted) {
      const EventRow& row = rows_[i];
      activity_->publish(
          {0, "stored", now, row.event_id, row.product_id, row.event_type, {}, row.raw_json});
    }
  }

  // Writes the batch in one transaction; on success its records go to the ack queue. A
  // transient failure (busy, disk full, I/O) is retried after a backoff, serving dead-letter
  // reports meanwhile; a permanent one, or one lasting give_up_after, is fatal. Returns false
  // when it gave up (fatal, stop, or drain deadline): the batch is then never acknowledged.
  bool commit(const std::stop_token& st) {
    std::optional<Clock::time_point> first_failure;
    for (int attempt = 1;; ++attempt) {
      auto start = Clock::now();
      auto written = store_->write_batch(rows_);
      if (written) {
        batch_seconds_->observe(std::chrono::duration<double>(Clock::now() - start).count());
        stored_->inc(written.value().stored);
        duplicates_->inc(written.value().duplicates);
        batches_->inc();
        batch_size_->set(static_cast<double>(rows_.size()));
        if (attempt > 1) {
          log_.info("store write succeeded after retries",
                    {{"attempt", attempt}, {"path", store_->path()}});
        }
        if (log_.enabled(LogLevel::kDebug)) {
          log_.debug("batch committed",
                     {{"rows", static_cast<std::int64_t>(rows_.size())},
                      {"stored", static_cast<std::int64_t>(written.value().stored)},
                      {"duplicates", static_cast<std::int64_t>(written.value().duplicates)}});
        }
        backoff_.reset();
        // New rows only, like stored_: a redelivery of a stored event is not counted again.
        for (std::size_t i : written.value().inserted) {
          for (const auto& field : rows_[i].invalid) invalid_.at(field)->inc();
        }
        publish_stored(written.value().inserted);
        rows_.clear();
        for (auto& rec : batch_) finished_.push_back(std::move(rec));  // committed: ackable
        batch_.clear();
        push_finished();
        return true;
      }
      const Error& e = written.error();
      if (!transient(e)) {
        log_.error("store write failed", {{"error", e.message}, {"code", e.code}});
        fatal_(e.message);
        return false;
      }
      auto now = Clock::now();
      if (!first_failure) first_failure = now;
      if (now - *first_failure >= s_.give_up_after) {
        log_.error("store write still failing; giving up",
                   {{"error", e.message}, {"attempt", attempt}});
        fatal_("store writes failed for " + std::to_string(s_.give_up_after.count()) +
               " ms: " + e.message);
        return false;
      }
      write_retries_->inc();
      auto wait = backoff_.next();
      if (warn_limit_.allow()) {
        log_.warn("store write failed; retrying",
                  {{"error", e.message},
                   {"code", e.code},
                   {"attempt", attempt},
                   {"rows", static_cast<std::int64_t>(rows_.size())},
                   {"retry_in_ms", static_cast<std::int64_t>(wait.count())}});
      }
      for (auto until = now + wait;;) {
        if (st.stop_requested() || deadline_passed()) return false;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
        if (left <= 0ms) break;
        dead_letters_->poll(std::min<std::chrono::milliseconds>(left, 50ms), finished_, st);
        push_finished();
      }
    }
  }

  void push_finished() {
    while (!finished_.empty() && acks_.try_push(finished_.front())) finished_.pop_front();
    update_unacked();
  }

  // The ack queue is full: wait for the ingest stage rather than take more input, so memory
  // stays bounded.
  void wait_for_acks(const std::stop_token& st) {
    dead_letters_->poll(0ms, finished_, st);
    auto status = acks_.push(finished_.front(), Clock::now() + 20ms, st);
    if (status == QueueStatus::kOk) finished_.pop_front();
    if (status == QueueStatus::kClosed) {
      log_.warn("ack queue closed early; stored records stay uncommitted (redelivered)",
                {{"records", static_cast<std::int64_t>(finished_.size())}});
      finished_.clear();
    }
    update_unacked();
  }

  void run(std::stop_token st) {
    bool input_done = false;
    bool gave_up = false;
    while (!st.stop_requested() && !gave_up) {
      dead_letters_->poll(0ms, finished_, st);
      push_finished();
      if (!finished_.empty()) {
        wait_for_acks(st);
        continue;
      }
      if (!batch_.empty() &&
          (input_done || batch_.size() >= s_.batch_size || Clock::now() >= batch_due_)) {
        gave_up = !commit(st);
        continue;
      }
      if (input_done) {
        if (dead_letters_->in_flight() == 0) break;
        dead_letters_->poll(20ms, finished_, st);
        continue;
      }
      // Wait for input until the batch is due; briefly when dead letters await reports.
      auto until = batch_.empty() ? Clock::now() + 100ms : batch_due_;
      if (dead_letters_->in_flight() > 0) until = std::min(until, Clock::now() + 5ms);
      RecordPtr rec;
      auto status = input_.pop(rec, until, st);
      if (status == QueueStatus::kClosed) input_done = true;
      if (status != QueueStatus::kOk) continue;
      take(std::move(rec), st);
      // Take what is already queued without waiting, up to a full batch.
      while (batch_.size() < s_.batch_size && (rec = input_.try_pop())) take(std::move(rec), st);
      update_unacked();
    }
    // Stored records go back; whatever is still in the batch was not committed.
    push_finished();
    while (!finished_.empty() && !st.stop_requested()) wait_for_acks(st);
    if (!batch_.empty()) {
      log_.warn("stopping with events not stored; they will be redelivered",
                {{"records", static_cast<std::int64_t>(batch_.size())}});
    }
    acks_.close();
  }

  Settings s_;
  Logger log_;
  std::function<void(const std::string&)> fatal_;
  std::string stage_name_;
  Activity* activity_;
  RecordQueue& input_;
  RecordQueue& acks_;
  Backoff backoff_;
  RateLimit warn_limit_;
  RateLimit bad_log_;
  std::atomic<const Deadline*> deadline_{nullptr};
  std::vector<EventRow> rows_;  // the open batch: rows_[i] is batch_[i]'s row
  std::vector<RecordPtr> batch_;
  Clock::time_point batch_due_{};   // the batch's first record + batch_linger
  std::deque<RecordPtr> finished_;  // committed or dead-lettered, waiting for room in acks
  Counter* stored_ = nullptr;
  Counter* duplicates_ = nullptr;
  std::map<std::string, Counter*> dead_;
  std::map<std::string, Counter*> invalid_;  // event::kValidatedFields -> counter
  Counter* batches_ = nullptr;
  Histogram* batch_seconds_ = nullptr;
  Gauge* batch_size_ = nullptr;
  Gauge* unacked_ = nullptr;
  Counter* write_retries_ = nullptr;
  std::unique_ptr<SqliteEventStore> store_;
  std::optional<DeadLetterProducer> dead_letters_;  // its callbacks use the members above
  Worker worker_;                                   // last: its thread uses everything above
};

class Spec final : public StageSpec {
 public:
  explicit Spec(Settings s) : s_(std::move(s)) {}
  std::vector<QueuePort> ports() const override {
    return {{s_.input, PortDirection::kIn}, {s_.acks, PortDirection::kOut}};
  }
  std::vector<std::string> topics() const override { return {s_.dead_letter_topic}; }
  std::string describe() const override {
    std::ostringstream out;
    out << "SQLite store " << s_.store.path << " (" << s_.input << " -> events table, stored -> "
        << s_.acks << "): WAL, synchronous=" << sync_name(s_.store.synchronous)
        << ", batches of up to " << s_.batch_size << " rows or " << s_.batch_linger.count()
        << " ms, " << s_.store.reader_connections << " reader connections; validation "
        << event::validation_mode_name(s_.validation) << "; unstorable events -> "
        << s_.dead_letter_topic << "\n";
    return out.str();
  }
  std::unique_ptr<Stage> create(StageContext& ctx) const override {
    return std::make_unique<SqliteStore>(s_, ctx);
  }
  // `pemx import FILE`: into this stage's file, with its batch size, busy timeout, retry
  // policy and [events] limits (import.hpp).
  int run_command(const ToolCall& call) const override {
    if (call.tool != "import") return -1;
    ImportOptions options;
    options.store = s_.store;
    options.batch_size = s_.batch_size;
    options.limits = s_.limits;
    options.validation = s_.validation;
    options.retry = s_.retry;
    options.give_up_after = s_.give_up_after;
    return run_import(call.operands, call.in, call.err, options);
  }

 private:
  Settings s_;
};

std::unique_ptr<StageSpec> parse(ConfigSection& section, const CommonConfig& common) {
  Settings s;
  s.kafka = common.kafka;
  s.limits = common.events;
  s.input = section.string("input", s.input);
  s.acks = section.string("acks", s.acks);
  s.store.path = section.string("path", common.store.path);
  if (s.store.path.empty()) {
    section.error("path", "must name a file (leave it out to use store.path)");
  } else if (s.store.path == ":memory:" || s.store.path.rfind("file:", 0) == 0) {
    section.error("path", "\"" + s.store.path +
                              "\": name a plain file: readers open it on their own connections");
  }
  s.batch_size = static_cast<std::size_t>(
      section.integer("batch_size", static_cast<std::int64_t>(s.batch_size), 1, 100'000));
  s.batch_linger = section.duration("batch_linger", s.batch_linger, 0ms, 10s);
  std::string sync = section.string("synchronous", sync_name(s.store.synchronous));
  if (sync == "full") {
    s.store.synchronous = SyncMode::kFull;
  } else if (sync == "normal") {
    s.store.synchronous = SyncMode::kNormal;
  } else {
    section.error("synchronous", "\"" + sync + "\": expected \"full\" or \"normal\"");
  }
  s.store.busy_timeout = section.duration("busy_timeout", s.store.busy_timeout, 0ms, 10min);
  s.store.reader_connections = static_cast<std::size_t>(
      section.integer("readers", static_cast<std::int64_t>(s.store.reader_connections), 1, 64));
  s.validation = *event::parse_validation_mode(section.one_of(
      "validation", std::string(event::validation_mode_name(s.validation)),
      {std::begin(event::kValidationModeNames), std::end(event::kValidationModeNames)}));
  s.dead_letter_topic = section.string("dead_letter_topic", s.dead_letter_topic);
  if (auto p = kafka::topic_name_problem(s.dead_letter_topic)) {
    section.error("dead_letter_topic", *p);
  }
  s.retry.initial = section.duration("retry_initial", s.retry.initial, 1ms, 1min);
  s.retry.max = section.duration("retry_max", s.retry.max, 1ms, 1h);
  s.give_up_after = section.duration("give_up_after", s.give_up_after, 0ms, 24h);
  s.properties = section.string_map("properties");
  for (const auto& unsafe : kafka::unsafe_producer_properties(
           s.properties, common.events.max_bytes + event::kHeaderAllowance)) {
    section.error("properties", unsafe);
  }
  if (auto err = kafka::check_properties(s.properties)) section.error("properties", *err);
  return std::make_unique<Spec>(std::move(s));
}

}  // namespace

StageFactory factory() {
  return {"sqlite_store",
          "stores events in SQLite (batched, idempotent on eventId); acknowledges after commit",
          &parse};
}

}  // namespace pemx::sqlite_store
