// The store stages' writer (writer.hpp): the batch-and-acknowledge loop, moved here from
// sqlite_store unchanged so that every backend shares it.
#include "store/writer.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "core/worker.hpp"
#include "event/dead_letter.hpp"
#include "event/reasons.hpp"
#include "store/dead_letter.hpp"
#include "store/row_mapping.hpp"

namespace pemx::store {

namespace {

using namespace std::chrono_literals;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Writer final : public Stage {
 public:
  Writer(const WriterSettings& s, StageContext& ctx, std::unique_ptr<Backend> backend)
      : s_(s),
        log_(ctx.log),
        fatal_(ctx.fatal),
        stage_name_(ctx.name),
        activity_(ctx.activity),
        input_(ctx.queue(s.input)),
        acks_(ctx.queue(s.acks)),
        backoff_(s.retry),
        warn_limit_(5),
        bad_log_(10),
        worker_(thread_owner(ctx)) {
    Labels stage = {{"stage", ctx.name}};
    Metrics& m = *ctx.metrics;
    if (activity_ != nullptr) activity_->offer("stored");
    stored_ = &m.counter(metric("stored_total"), "Events stored (new rows)", stage);
    duplicates_ = &m.counter(metric("duplicates_total"),
                             "Events whose eventId was already stored (redeliveries)", stage);
    std::vector<std::string_view> reasons(std::begin(event::kJsonReasons),
                                          std::end(event::kJsonReasons));
    reasons.push_back(event::kReasonInvalidEvent);
    reasons.push_back(event::kReasonUnstorable);
    for (auto reason : reasons) {
      dead_[std::string(reason)] = &m.counter(
          metric("dead_lettered_total"), "Events sent to the dead-letter topic",
          {{"stage", ctx.name}, {"reason", std::string(reason)}});
    }
    for (auto field : event::kValidatedFields) {
      invalid_[std::string(field)] = &m.counter(
          metric("invalid_events_total"),
          "Events stored although they fail the reference push's field rule for `reason` "
          "(validation = \"report\"); one event can count under several reasons",
          {{"stage", ctx.name}, {"reason", std::string(field)}});
    }
    batches_ = &m.counter(metric("batches_total"), "Committed transactions", stage);
    pruned_ = &m.counter(metric("pruned_total"),
                         "Events deleted because they were older than the retention", stage);
    batch_seconds_ =
        &m.histogram(metric("batch_seconds"), "Time to write and commit one batch", stage);
    batch_size_ = &m.gauge(metric("batch_size"), "Rows in the last committed batch", stage);
    unacked_ = &m.gauge(metric("unacknowledged"),
                        "Records taken from the input and not yet acknowledged", stage);
    write_retries_ =
        &m.counter(metric("retries_total"), "Operations attempted again after a failure",
                   {{"stage", ctx.name}, {"op", "commit"}});
    Counter& dlq_retries =
        m.counter(metric("retries_total"), "Operations attempted again after a failure",
                  {{"stage", ctx.name}, {"op", "dead_letter"}});

    store_ = std::move(backend);
    if (ctx.readers != nullptr) (*ctx.readers)[ctx.name] = store_->reader();

    DeadLetterOptions dlq;
    dlq.topic = s.dead_letter_topic;
    dlq.kafka = s.kafka;
    dlq.kafka.brokers = ctx.kafka_brokers;
    dlq.properties = s.properties;
    dlq.min_message_bytes = s.limits.max_bytes + event::kHeaderAllowance;
    dlq.retry = s.retry;
    dlq.name = ctx.name + " dead letters";
    dlq.stage_type = s.stage_type;
    dlq.readiness = ctx.readiness;
    dead_letters_.emplace(std::move(dlq), log_, fatal_, dlq_retries);

    rows_.reserve(s.batch_size);
    batch_.reserve(s.batch_size);
  }

  ~Writer() override { stop(); }

  void start() override {
    worker_.start([this](std::stop_token st) { run(st); });
  }
  void stop_accepting() noexcept override {}
  bool drain(const Deadline& deadline) noexcept override {
    deadline_.store(&deadline);
    if (worker_.wait_done(deadline)) return true;
    // Past the deadline, the worker may be blocked in the database (a hung server, a
    // reconnect waiting for connect_timeout, a statement for statement_timeout): the backend
    // ends that call with an error, so the worker gives the batch up (unacknowledged) and
    // stop() joins it at once instead of the supervisor's hard exit.
    if (store_) store_->interrupt();
    return false;
  }
  void stop() noexcept override {
    if (store_) store_->interrupt();  // stop means now (after a drain, the worker is done)
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
    if (row && refused(rec, row.value(), st)) return;
    if (row) {
      rec->event_id = row.value().event_id;
      rec->event_type = row.value().event_type;
      if (batch_.empty()) batch_due_ = Clock::now() + s_.batch_linger;
      rows_.push_back(std::move(row.value()));
      batch_.push_back(std::move(rec));
      return;
    }
    dead_letter(std::move(rec), row.error(), st);
  }

  // A row the backend can never store (refuse_row) goes to the dead letters before the batch.
  bool refused(RecordPtr& rec, const EventRow& row, const std::stop_token& st) {
    auto why = store_->refuse_row(row);
    if (!why) return false;
    dead_letter(std::move(rec), Error{std::string(event::kReasonUnstorable), std::move(*why)}, st);
    return true;
  }

  // The record's value, as received, to the dead-letter topic with the reason; acknowledged
  // once the broker has it.
  void dead_letter(RecordPtr rec, const Error& why, const std::stop_token& st) {
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
      // As the router's dead letters: the event's own ids when it parsed, else the key.
      DeadLetterIds ids = dead_letter_ids(rec->value, s_.limits);
      activity_->dead_letter({.at_ms = epoch_ms_now(),
                              .stage = stage_name_,
                              .reason = why.code,
                              .detail = why.message,
                              .event_id = std::move(ids.event_id),
                              .product_id = ids.product_id.empty() ? rec->key
                                                                   : std::move(ids.product_id),
                              .source_topic = rec->topic,
                              .source_partition = rec->partition,
                              .source_offset = rec->offset,
                              .dead_letter_topic = s_.dead_letter_topic,
                              .payload = rec->value.substr(0, kMaxDeadLetterPayload + 1)});
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
  void publish_stored(std::size_t lo, const std::vector<std::size_t>& inserted) {
    if (activity_ == nullptr || !activity_->watched()) return;
    const std::int64_t now = epoch_ms_now();
    for (std::size_t i : inserted) {
      const EventRow& row = rows_[lo + i];
      activity_->publish(
          {0, "stored", now, row.event_id, row.product_id, row.event_type, {}, row.raw_json});
    }
  }

  enum class Written { kStored, kRowFault, kGaveUp };

  // Writes the batch in one transaction; on success its records go to the ack queue. When the
  // backend says a row's value failed it (row_fault: a value the database refuses), the batch
  // is written in halves until each offending row is alone, and those rows are dead-lettered
  // (kReasonUnstorable) while the others are stored: a poison event never stops the stage.
  // Returns false when it gave up (fatal, stop, or drain deadline): what was not written is
  // then never acknowledged.
  bool commit(const std::stop_token& st) {
    std::vector<std::pair<std::size_t, std::size_t>> todo{{0, rows_.size()}};  // a stack
    while (!todo.empty()) {
      const auto [lo, hi] = todo.back();
      todo.pop_back();
      Error fault;
      switch (write_range(lo, hi, st, fault)) {
        case Written::kStored:
          break;
        case Written::kGaveUp:
          forget_written();
          return false;
        case Written::kRowFault:
          if (hi - lo == 1) {
            dead_letter(std::move(batch_[lo]),
                        Error{std::string(event::kReasonUnstorable), std::move(fault.message)},
                        st);
            break;
          }
          if (split_log_.allow()) {
            log_.warn("the store refused a row of the batch; writing it in parts to isolate "
                      "the row (dead-lettered) and store the others",
                      {{"error", fault.message},
                       {"code", fault.code},
                       {"rows", static_cast<std::int64_t>(hi - lo)},
                       {"suppressed", static_cast<std::int64_t>(split_log_.take_suppressed())}});
          }
          todo.emplace_back(lo + (hi - lo) / 2, hi);
          todo.emplace_back(lo, lo + (hi - lo) / 2);
          break;
      }
    }
    rows_.clear();
    batch_.clear();
    push_finished();
    return true;
  }

  // After giving up part way through an isolating commit: the rows already stored or
  // dead-lettered (their records moved out) leave the batch; the rest stays unacknowledged.
  void forget_written() {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < batch_.size(); ++i) {
      if (!batch_[i]) continue;
      if (kept != i) {
        batch_[kept] = std::move(batch_[i]);
        rows_[kept] = std::move(rows_[i]);
      }
      ++kept;
    }
    batch_.resize(kept);
    rows_.resize(kept);
  }

  // rows_[lo, hi) in one transaction. A transient failure (busy, disk full, a lost connection)
  // is retried after a backoff, serving dead-letter reports meanwhile; a row fault is returned
  // (in `fault`) for the caller to isolate; any other failure, or one lasting give_up_after,
  // is fatal. kStored: committed, and the records are in finished_.
  Written write_range(std::size_t lo, std::size_t hi, const std::stop_token& st, Error& fault) {
    const std::span<const EventRow> rows(rows_.data() + lo, hi - lo);
    std::optional<Clock::time_point> first_failure;
    for (int attempt = 1;; ++attempt) {
      auto start = Clock::now();
      auto written = store_->write_batch(rows);
      if (written) {
        next_probe_ = Clock::now() + kProbeInterval;  // a write is as good as a probe
        batch_seconds_->observe(std::chrono::duration<double>(Clock::now() - start).count());
        stored_->inc(written.value().stored);
        duplicates_->inc(written.value().duplicates);
        batches_->inc();
        batch_size_->set(static_cast<double>(rows.size()));
        if (attempt > 1) {
          log_.info("store write succeeded after retries",
                    {{"attempt", attempt}, {"path", store_->location()}});
        }
        if (log_.enabled(LogLevel::kDebug)) {
          log_.debug("batch committed",
                     {{"rows", static_cast<std::int64_t>(rows.size())},
                      {"stored", static_cast<std::int64_t>(written.value().stored)},
                      {"duplicates", static_cast<std::int64_t>(written.value().duplicates)}});
        }
        backoff_.reset();
        // New rows only, like stored_: a redelivery of a stored event is not counted again.
        for (std::size_t i : written.value().inserted) {
          for (const auto& field : rows_[lo + i].invalid) invalid_.at(field)->inc();
        }
        publish_stored(lo, written.value().inserted);
        for (std::size_t i = lo; i < hi; ++i) {
          finished_.push_back(std::move(batch_[i]));  // committed: ackable
        }
        return Written::kStored;
      }
      const Error& e = written.error();
      if (!store_->transient(e)) {
        if (store_->row_fault(e)) {
          fault = e;
          return Written::kRowFault;
        }
        log_.error("store write failed", {{"error", e.message}, {"code", e.code}});
        fatal_(e.message);
        return Written::kGaveUp;
      }
      auto now = Clock::now();
      if (!first_failure) first_failure = now;
      if (now - *first_failure >= s_.give_up_after) {
        log_.error("store write still failing; giving up",
                   {{"error", e.message}, {"attempt", attempt}});
        fatal_("store writes failed for " + std::to_string(s_.give_up_after.count()) +
               " ms: " + e.message);
        return Written::kGaveUp;
      }
      write_retries_->inc();
      auto wait = backoff_.next();
      if (warn_limit_.allow()) {
        log_.warn("store write failed; retrying",
                  {{"error", e.message},
                   {"code", e.code},
                   {"attempt", attempt},
                   {"rows", static_cast<std::int64_t>(rows.size())},
                   {"retry_in_ms", static_cast<std::int64_t>(wait.count())}});
      }
      for (auto until = now + wait;;) {
        if (st.stop_requested() || deadline_passed()) return Written::kGaveUp;
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

  // Deletes one batch of events older than the retention (retention_batch at most).
  void prune() {
    const std::int64_t before = epoch_ms_now() - s_.retention.count();
    auto deleted = store_->prune(before, s_.retention_batch);
    if (!deleted) {
      if (deleted.error().code == "unsupported") {
        log_.error("retention is set but this store cannot prune; every event is kept",
                   {{"error", deleted.error().message}});
        s_.retention = std::chrono::milliseconds(0);
        return;
      }
      if (warn_limit_.allow()) {
        log_.warn("pruning events past the retention failed; trying again later",
                  {{"error", deleted.error().message}});
      }
      next_prune_ = Clock::now() + kPruneInterval;
      return;
    }
    pruned_->inc(deleted.value());
    next_prune_ = Clock::now() + (deleted.value() >= s_.retention_batch ? kPruneAgain
                                                                        : kPruneInterval);
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
      // Retention: one short delete between two batches when due, never a long one.
      if (s_.retention.count() > 0 && Clock::now() >= next_prune_) prune();
      // Idle: let the backend check its connection, so that /readyz shows a lost one even
      // when nothing is written.
      if (batch_.empty() && Clock::now() >= next_probe_) {
        store_->probe();
        next_probe_ = Clock::now() + kProbeInterval;
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

  // pemx_<stage type>_<name>: the stage's metric names.
  std::string metric(std::string_view name) const {
    return "pemx_" + s_.stage_type + "_" + std::string(name);
  }

  WriterSettings s_;
  Logger log_;
  std::function<void(const std::string&)> fatal_;
  std::string stage_name_;
  Activity* activity_;
  RecordQueue& input_;
  RecordQueue& acks_;
  Backoff backoff_;
  RateLimit warn_limit_;
  RateLimit bad_log_;
  RateLimit split_log_{5};
  static constexpr std::chrono::milliseconds kProbeInterval{1000};
  // Retention: after a full prune batch the next comes this soon (writes in between), after a
  // partial one (nothing older left) or a failure, a while later.
  static constexpr std::chrono::milliseconds kPruneAgain{200};
  static constexpr std::chrono::milliseconds kPruneInterval{60'000};
  Clock::time_point next_probe_{};  // when the idle writer next calls Backend::probe
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
  Counter* pruned_ = nullptr;
  Clock::time_point next_prune_{};  // when the writer next deletes events past the retention
  Histogram* batch_seconds_ = nullptr;
  Gauge* batch_size_ = nullptr;
  Gauge* unacked_ = nullptr;
  Counter* write_retries_ = nullptr;
  std::unique_ptr<Backend> store_;
  std::optional<DeadLetterProducer> dead_letters_;  // its callbacks use the members above
  Worker worker_;                                   // last: its thread uses everything above
};

}  // namespace

std::unique_ptr<Stage> make_writer(const WriterSettings& settings, StageContext& ctx,
                                   std::unique_ptr<Backend> backend) {
  return std::make_unique<Writer>(settings, ctx, std::move(backend));
}

}  // namespace pemx::store
