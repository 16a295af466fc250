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
#include "support/http_client.hpp"

namespace pemx::http_front {
namespace {

using namespace std::chrono_literals;

// A row-streaming reader whose inline query for product "SLOW" blocks the I/O thread that runs
// it until release() (as a SQLite query reading cold pages from disk would); any other query
// answers an empty page at once.
class GateReader final : public EventReader, public RowStreamReader {
 public:
  Result<EventPage> query(const EventQuery&) override { return EventPage{}; }
  std::optional<Result<std::optional<std::string>>> try_query_into(const EventQuery& q,
                                                                   EventSink&) override {
    if (q.product_ids.at(0) == "SLOW") {
      std::unique_lock<std::mutex> lock(mutex_);
      entered_ = true;
      changed_.notify_all();
      // Bounded, so that a broken server fails the test instead of hanging it.
      changed_.wait_for(lock, 60s, [this] { return released_; });
    }
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
  std::mutex mutex_;
  std::condition_variable changed_;
  bool entered_ = false;
  bool released_ = false;
};

TEST_CASE("http_front: a history query blocking one I/O thread (SQLite inline) holds up no "
          "other connection when io_threads is 2",
          "[http_front][io_threads]") {
  auto reader = std::make_shared<GateReader>();
  Metrics metrics;
  Activity activity;
  activity.role = "web";
  ServerSettings s;
  s.port = 0;
  s.io_threads = 2;
  s.query_threads = 1;
  s.idle_timeout = 30s;
  s.inline_queries = true;
  Server server(s, Logger{}, metrics, reader, nullptr, &activity);
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

}  // namespace
}  // namespace pemx::http_front
