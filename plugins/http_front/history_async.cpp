#include "http_front/history_async.hpp"

#include <unistd.h>

#include <string>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>

#include "http_front/history_answer.hpp"
#include "http_front/session.hpp"

namespace pemx::http_front {

namespace net = boost::asio;

namespace {

class PendingHistory : public std::enable_shared_from_this<PendingHistory> {
 public:
  PendingHistory(std::shared_ptr<Session> session, std::unique_ptr<HistoryCall> call,
                 EventQuery q)
      : session_(std::move(session)), call_(std::move(call)), q_(std::move(q)) {}

  // Abandoned (the server stops, or the socket could not be watched): the connection goes
  // back unfinished, for the reader's upkeep to cancel and drain.
  ~PendingHistory() { release(); }

  // On the strand, right after the call was started.
  void start() { step(); }

 private:
  void step() {
    const HistoryCall::Wait wait = call_->advance();
    if (wait == HistoryCall::Wait::done) return answer();
    if (!socket_.is_open()) {
      const int fd = ::dup(call_->socket());
      boost::system::error_code ec;
      if (fd >= 0) socket_.assign(fd, ec);
      if (fd < 0 || ec) {
        if (fd >= 0) ::close(fd);
        return fall_back(fd < 0 ? std::string("dup failed") : ec.message());  // out of fds
      }
      // Server::stop cancels the session, which cancels this wait (on the strand).
      session_->on_cancel([weak = weak_from_this()] {
        if (auto self = weak.lock()) {
          boost::system::error_code ignored;
          self->socket_.cancel(ignored);
        }
      });
    }
    socket_.async_wait(wait == HistoryCall::Wait::readable
                           ? net::posix::stream_descriptor::wait_read
                           : net::posix::stream_descriptor::wait_write,
                       [self = shared_from_this()](boost::system::error_code ec) {
                         if (ec == net::error::operation_aborted) return;  // Server::stop
                         if (ec) return self->fall_back(ec.message());
                         self->step();
                       });
  }

  // The socket cannot be watched: the query is abandoned (upkeep cancels it) and the pool
  // answers.
  void fall_back(const std::string& why) {
    release();
    session_->server().log.warn("cannot wait for the store's socket; history on the pool",
                                {{"error", why}});
    answer_history_on_pool(*session_, std::move(q_));
  }

  // Closes our dup of the socket (deregistered from the reactor), then gives the connection
  // back to the reader; once is enough.
  void release() {
    if (!call_) return;
    session_->on_cancel(nullptr);
    boost::system::error_code ec;
    socket_.close(ec);
    call_.reset();
    schedule_history_upkeep(*session_);
  }

  void answer() {
    HistoryAnswer written;
    auto next = call_->finish(written);
    release();  // the rows are in `written`: the connection is free before the answer is sent
    if (!next) return answer_history_on_pool(*session_, std::move(q_));  // connection lost
    if (!*next) return session_->send(store_error_answer(next->error()));
    session_->send(
        std::move(written).finish(next->value(), session_->path(), session_->query()));
  }

  std::shared_ptr<Session> session_;
  std::unique_ptr<HistoryCall> call_;
  EventQuery q_;  // for the pool, when the connection is lost
  // A dup of the call's socket on the session's strand (its handlers run there).
  net::posix::stream_descriptor socket_{session_->executor()};
};

}  // namespace

void answer_history_async(Session& s, std::unique_ptr<HistoryCall> call, EventQuery q) {
  std::make_shared<PendingHistory>(s.shared_from_this(), std::move(call), std::move(q))->start();
}

void answer_history_on_pool(Session& s, EventQuery q) {
  auto& server = s.server();
  s.offload([&server, q = std::move(q), p = std::string(s.path()),
             qs = std::string(s.query())]() {
    auto page = server.reader->query(q);
    if (!page) return store_error_answer(page.error());
    return history_answer(page.value(), p, qs);
  });
}

void schedule_history_upkeep(Session& s) {
  auto& server = s.server();
  if (server.async_history == nullptr || server.queries_closed.load() ||
      !server.async_history->claim_upkeep()) {
    return;
  }
  net::post(server.queries, [reader = server.reader, async = server.async_history] {
    async->upkeep();  // `reader` keeps it alive
  });
}

}  // namespace pemx::http_front
