// The HTTP I/O threads on a store whose history runs inline on them (SQLite's
// pemx::RowStreamReader): a query that blocks one I/O thread holds up no new connection
// when io_threads > 1 (server_impl.hpp: the threads share one io_context
// unless the store answers asynchronously). With an io_context per thread, the connections
// dealt to the blocked thread waited for the query.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http_front/server.hpp"
#include "pemx/activity.hpp"
#include "pemx/event_sink.hpp"
#include "pemx/metrics.hpp"
#include "pemx/stage.hpp"
#include "support/http_client.hpp"

namespace pemx::http_front {
namespace {

using namespace std::chrono_literals;

// A row-streaming reader whose query for product "SLOW" blocks the thread that runs it (an I/O
// thread inline, a query pool thread otherwise) until release() (as a SQLite query reading cold
// pages from disk would); any other query answers an empty page at once.
class GateReader final : public EventReader, public RowStreamReader {
 public:
  // The query pool's way (inline_queries = false): blocks a pool thread the same way.
  Result<EventPage> query(const EventQuery& q) override {
    gate(q);
    return EventPage{};
  }
  std::optional<Result<std::optional<std::string>>> try_query_into(const EventQuery& q,
                                                                   EventSink&) override {
    gate(q);
    return Result<std::optional<std::string>>(std::optional<std::string>());
  }
  std::optional<std::string> problem() override { return std::nullopt; }

  bool wait_entered() {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, 20s, [this] { return entered_; });
  }
  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  void gate(const EventQuery& q) {
    if (q.product_ids.at(0) != "SLOW") return;
    std::unique_lock<std::mutex> lock(mutex_);
    entered_ = true;
    changed_.notify_all();
    // Bounded, so that a broken server fails the test instead of hanging it.
    changed_.wait_for(lock, 60s, [this] { return released_; });
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  bool entered_ = false;
  bool released_ = false;
};

ServerSettings two_io_threads(bool inline_queries) {
  ServerSettings s;
  s.port = 0;
  s.io_threads = 2;
  s.query_threads = 1;
  s.idle_timeout = 30s;
  s.inline_queries = inline_queries;
  return s;
}

TEST_CASE("http_front: a history query blocking one I/O thread (SQLite inline) holds up no "
          "other connection when io_threads is 2",
          "[http_front][io_threads]") {
  auto reader = std::make_shared<GateReader>();
  Metrics metrics;
  Activity activity;
  activity.role = "web";
  Server server(two_io_threads(true), Logger{}, metrics, reader, nullptr, &activity);
  server.start();

  // The slow query, on whichever thread its connection was given.
  std::thread slow([&] {
    const auto r = pemx::test::http_get(server.port(), "/event?productIds=SLOW");
    CHECK(r.status == 200);
  });
  REQUIRE(reader->wait_entered());
  // While it blocks its thread: two new connections (dealt in turn, so one of them to the
  // blocked thread's io_context, were there one per thread), each answered.
  std::vector<int> answered;
  for (int i = 0; i < 2; ++i) {
    answered.push_back(pemx::test::http_get(server.port(), "/event?productIds=P1").status);
  }
  reader->release();
  slow.join();
  CHECK(answered == std::vector<int>{200, 200});
  server.stop();
}

// SIGTERM while a request waits off the I/O threads (the query pool here; a push waits for
// Kafka the same way): stop_accepting closes the acceptor, and the waiting session has no
// operation on the io_context. The I/O threads must still be there to send its answer when
// the work is done, and the drain must see the session end.
TEST_CASE("http_front: a request answered from the query pool after stop_accepting is still "
          "answered, and the drain ends",
          "[http_front][io_threads]") {
  auto reader = std::make_shared<GateReader>();
  Metrics metrics;
  Activity activity;
  activity.role = "web";
  // History on the query pool.
  Server server(two_io_threads(false), Logger{}, metrics, reader, nullptr, &activity);
  server.start();
  int status = 0;
  std::thread slow(
      [&] { status = pemx::test::http_get(server.port(), "/event?productIds=SLOW").status; });
  REQUIRE(reader->wait_entered());
  server.stop_accepting();
  // Time for the I/O threads to find no work left, were nothing keeping them.
  std::this_thread::sleep_for(300ms);
  reader->release();
  const Deadline deadline(Clock::now() + 10s);
  CHECK(server.drain(deadline));
  slow.join();
  CHECK(status == 200);
  server.stop();
}

}  // namespace
}  // namespace pemx::http_front
