#pragma once
// The backend contract: what a database must provide to be a PEMX event store. Everything
// that is not database-specific is shared and written once in src/store/: the row mapping
// (row_mapping.hpp), the history cursor (cursor.hpp), the dead-letter producer
// (dead_letter.hpp), the batch-and-acknowledge writer stage (writer.hpp) and the generic part
// of `pemx import` (import.hpp). A backend (e.g. plugins/sqlite_store) provides:
//
//   open and migrate   its own static open(options) that creates or checks the schema and
//                      returns a ready Backend, or one Error naming the database and the fix;
//   write_batch        rows in one transaction, idempotent on event_id, new/duplicate per row;
//   transient          which of its errors are worth retrying;
//   refuse_row         (optional) a row it can never hold, refused before the batch;
//   row_fault          (optional) which errors a row's value causes (the writer isolates it);
//   probe              (optional) a cheap check of the connection while the writer is idle;
//   interrupt          (optional) ends a blocked write_batch or probe at the drain deadline;
//   prune              (optional) deletes a batch of events older than the retention;
//   reader             the pemx::EventReader (include/pemx/event_store.hpp) for the history,
//                      whose problem() is the store's readiness (StoreHealth below helps).
//
// README.md in this folder shows how a new backend is added, step by step.
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pemx/event_store.hpp"
#include "pemx/result.hpp"
#include "store/row_mapping.hpp"

namespace pemx::store {

struct WriteStats {
  std::size_t stored = 0;             // new rows
  std::size_t duplicates = 0;         // rows whose event_id was already stored (left unchanged)
  std::vector<std::size_t> inserted;  // the new rows' indexes in the batch, ascending
};

// The writer's state as the readers report it (problem()): set by a failed write, cleared by
// the next successful one, "closed" once the writer is gone. Thread-safe.
class StoreHealth {
 public:
  void set(std::string problem) {
    std::lock_guard<std::mutex> lock(mutex_);
    problem_ = std::move(problem);
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    problem_.reset();
  }
  std::optional<std::string> get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return problem_;
  }

 private:
  mutable std::mutex mutex_;
  std::optional<std::string> problem_;
};

// One open store. Thread-compatible: the writer's worker thread (or `pemx import`'s thread) is
// its only user; the reader it hands out is thread-safe and may outlive it.
class Backend {
 public:
  virtual ~Backend() = default;

  // Stores the rows in one transaction. A row whose event_id is already stored (or repeated
  // earlier in the batch) is a duplicate: counted, not changed. On error nothing of the batch
  // is stored and the Error says why. When it returns a value the batch is durable, so the
  // writer may acknowledge (commit the offsets of) its records.
  virtual Result<WriteStats> write_batch(std::span<const EventRow> rows) = 0;
  // Whether a write_batch error is worth retrying with a backoff (a lock held elsewhere, a
  // full disk, a lost connection); the others are fatal for the writer.
  virtual bool transient(const Error& error) const = 0;
  // Poison rows. A row the database can never hold (e.g. PostgreSQL text cannot hold a NUL
  // byte) would fail its whole batch permanently, and the restart would meet it again: the
  // writer asks first and dead-letters a refused row (reason event::kReasonUnstorable) with
  // this detail instead of batching it. Pure and cheap (called for every row); nullopt: ok.
  virtual std::optional<std::string> refuse_row(const EventRow& /*row*/) const {
    return std::nullopt;
  }
  // Whether a (non-transient) write_batch error is one a row's value can cause (a value out
  // of the database's range or encoding, an index entry too large) rather than the database
  // (a missing table, a permission): the writer then writes the batch in halves until the
  // offending rows are alone and dead-letters them (kReasonUnstorable, the error as detail),
  // instead of stopping. Other non-transient errors stay fatal.
  virtual bool row_fault(const Error& /*error*/) const { return false; }
  // Called by the writer's thread while it has nothing to write (at most about once a
  // second): a backend with a connection checks it, re-establishes it and records a failure
  // in the readers' StoreHealth, so that /readyz shows a lost writer connection even when no
  // event arrives. Bounded like write_batch (interrupt() ends it).
  virtual void probe() {}
  // Thread-safe; called by the writer's drain on another thread once the drain deadline has
  // passed: a write_batch or probe blocked on the database (a hung server, a reconnect)
  // returns an error at once, and later calls fail at once (the stage is stopping). Never
  // makes a failed batch look stored.
  virtual void interrupt() noexcept {}
  // Retention: deletes at most `limit` stored events whose createdAt is before `before_ms`
  // (epoch milliseconds), oldest first, in one short transaction, through the
  // (created_ms, event_id) index; answers how many it deleted (fewer than `limit`: none older
  // is left). The writer's thread calls it between two batches. Default: "unsupported".
  virtual Result<std::size_t> prune(std::int64_t /*before_ms*/, std::size_t /*limit*/) {
    return Error{"unsupported", "this store cannot prune old events"};
  }
  // The history reader; its problem() is the store's readiness (/readyz).
  virtual std::shared_ptr<EventReader> reader() const = 0;
  // Names the store in log lines and messages: a file path, a database name.
  virtual const std::string& location() const = 0;
  // The schema version the store is at after open (its migrations ran).
  virtual int schema_version() const = 0;
};

// Opens (and migrates) a backend; used where the opening is left to shared code (`pemx
// import` opens the store only once its input file checks out).
using BackendOpener = std::function<Result<std::unique_ptr<Backend>>()>;

}  // namespace pemx::store
