#include "postgres_store/async_history.hpp"

#include <libpq-fe.h>

#include <utility>

namespace pemx::postgres_store {

// ---- the set ------------------------------------------------------------------------------

AsyncHistorySet::~AsyncHistorySet() {
  for (auto& conn : care_) {
    if (conn->abandoned) cancel_and_drain(*conn);
  }
}

void AsyncHistorySet::add(std::unique_ptr<ReaderConnection> conn) {
  std::lock_guard<std::mutex> lock(mutex_);
  free_.push_back(std::move(conn));
  ++stats_.size;
}

std::unique_ptr<ReaderConnection> AsyncHistorySet::take() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (free_.empty()) return nullptr;
  auto conn = std::move(free_.front());
  free_.pop_front();
  ++stats_.started;
  return conn;
}

void AsyncHistorySet::give_back(std::unique_ptr<ReaderConnection> conn) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (conn->abandoned || conn->broken || !connection_ok(conn->conn.get())) {
    if (conn->abandoned) {
      ++stats_.abandoned;
    } else {
      ++stats_.lost;
    }
    care_.push_back(std::move(conn));
  } else {
    free_.push_back(std::move(conn));
  }
}

bool AsyncHistorySet::claim_upkeep() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (claimed_ || care_.empty() || std::chrono::steady_clock::now() < next_upkeep_) return false;
  claimed_ = true;
  return true;
}

std::vector<std::unique_ptr<ReaderConnection>> AsyncHistorySet::take_for_upkeep() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(care_, {});
}

void AsyncHistorySet::upkeep_done(std::vector<std::unique_ptr<ReaderConnection>> repaired,
                                  std::vector<std::unique_ptr<ReaderConnection>> failed) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& conn : repaired) free_.push_back(std::move(conn));
  if (!failed.empty()) next_upkeep_ = std::chrono::steady_clock::now() + kUpkeepRetry;
  for (auto& conn : failed) care_.push_back(std::move(conn));
  claimed_ = false;
}

AsyncHistoryStats AsyncHistorySet::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  AsyncHistoryStats out = stats_;
  out.free = free_.size();
  return out;
}

void cancel_and_drain(ReaderConnection& c) {
  PGconn* conn = c.conn.get();
  c.abandoned = false;
  if (!connection_ok(conn)) {
    c.broken = true;
    return;
  }
  PQsetnonblocking(conn, 0);
  // PQcancel opens a connection of its own to the server (blocking): why this runs in upkeep.
  if (PGcancel* cancel = PQgetCancel(conn)) {
    char error[256];
    PQcancel(cancel, error, sizeof error);  // failing, the drain below waits for the query
    PQfreeCancel(cancel);
  }
  // The cancelled query's error (or its rows, if it ended first), then null: the connection
  // is idle again. A lost connection ends the drain too (and is re-established by upkeep).
  while (ResultPtr result{PQgetResult(conn)}) {
    if (!connection_ok(conn)) break;
  }
  if (!connection_ok(conn)) c.broken = true;
}

// ---- the call -----------------------------------------------------------------------------

namespace {

using Answer = std::optional<Result<std::optional<std::string>>>;

class DoneCall final : public HistoryCall {
 public:
  explicit DoneCall(Result<std::optional<std::string>> answer) : answer_(std::move(answer)) {}
  int socket() const override { return -1; }
  Wait advance() override { return Wait::done; }
  Answer finish(EventSink&) override { return std::move(answer_); }

 private:
  Result<std::optional<std::string>> answer_;
};

class PgHistoryCall final : public HistoryCall {
 public:
  PgHistoryCall(std::shared_ptr<AsyncHistorySet> set, std::unique_ptr<ReaderConnection> conn,
                const HistoryStatement& statement, std::size_t limit)
      : set_(std::move(set)), c_(std::move(conn)), limit_(limit) {
    PGconn* conn_ptr = c_->conn.get();
    const auto values = statement.values();
    // The parameters are copied into libpq's output buffer here: `statement` may go.
    if (PQsetnonblocking(conn_ptr, 1) != 0 ||
        PQsendQueryPrepared(conn_ptr, statement.name, static_cast<int>(values.size()),
                            values.data(), nullptr, nullptr, 0) == 0) {
      lose_connection();
    }
  }

  ~PgHistoryCall() override {
    // Sent and not read to the end: the server may still be running it (upkeep cancels it).
    if (!done_) c_->abandoned = true;
    set_->give_back(std::move(c_));
  }

  int socket() const override { return PQsocket(c_->conn.get()); }

  Wait advance() override {
    if (done_) return Wait::done;
    PGconn* conn = c_->conn.get();
    if (!flushed_) {
      const int flushed = PQflush(conn);
      if (flushed < 0) return lose_connection();
      if (flushed == 1) return Wait::writable;  // a full socket buffer: rare, a few hundred bytes
      flushed_ = true;
    }
    if (PQconsumeInput(conn) == 0) return lose_connection();
    // One statement: its result (rows, or an error), then null once the server is ready for
    // the next query.
    while (!PQisBusy(conn)) {
      ResultPtr result(PQgetResult(conn));
      if (!result) return finished();
      if (!result_) result_ = std::move(result);
    }
    return Wait::readable;
  }

  Answer finish(EventSink& sink) override {
    PGconn* conn = c_->conn.get();
    const PGresult* r = result_.get();
    if (lost_ || r == nullptr || PQresultStatus(r) != PGRES_TUPLES_OK) {
      if (lost_ || lost_connection(conn, r)) {
        // As the pool's run_read does: the server dropped the connection (restarted, the
        // backend terminated). The caller runs the query again the blocking way, which
        // reconnects; this connection waits for upkeep.
        c_->broken = true;
        return std::nullopt;
      }
      return Result<std::optional<std::string>>(
          pg_error(conn, r, "query history", set_->where(), set_->conninfo()));
    }
    auto text = [r](int row, int column) {
      return std::string_view(PQgetvalue(r, row, column),
                              static_cast<std::size_t>(PQgetlength(r, row, column)));
    };
    StoredEventView view;
    auto next = page_rows(r, limit_, [&](int row) {
      view.event_id = text(row, 0);
      view.event_type = text(row, 1);
      view.product_id = text(row, 2);
      view.region = text(row, 3);
      view.created_at = text(row, 4);
      view.data_json = text(row, 5);
      sink.event(view);
    });
    return Result<std::optional<std::string>>(std::move(next));
  }

 private:
  Wait lose_connection() {
    // A send or a read fails on a connection the server closed (EPIPE, end of stream) or that
    // libpq found bad: lost; upkeep re-establishes it.
    lost_ = true;
    c_->broken = true;
    return finished();
  }
  Wait finished() {
    done_ = true;
    return Wait::done;
  }

  std::shared_ptr<AsyncHistorySet> set_;
  std::unique_ptr<ReaderConnection> c_;
  const std::size_t limit_;
  ResultPtr result_;
  bool flushed_ = false;
  bool done_ = false;
  bool lost_ = false;
};

}  // namespace

std::unique_ptr<HistoryCall> start_history_call(std::shared_ptr<AsyncHistorySet> set,
                                                std::unique_ptr<ReaderConnection> conn,
                                                const HistoryStatement& statement,
                                                std::size_t limit) {
  return std::make_unique<PgHistoryCall>(std::move(set), std::move(conn), statement, limit);
}

std::unique_ptr<HistoryCall> done_history_call(Result<std::optional<std::string>> answer) {
  return std::make_unique<DoneCall>(std::move(answer));
}

}  // namespace pemx::postgres_store
