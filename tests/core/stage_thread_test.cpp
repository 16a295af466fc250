// Failures are never silent: a stage thread whose body throws is caught on that thread, logged
// with the stage's name, and reported to the supervisor, which drains and exits 1 (never
// std::terminate without a word).
#include "core/stage_thread.hpp"

#include <catch2/catch.hpp>

#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/supervisor.hpp"
#include "core/worker.hpp"
#include "pemx/metrics.hpp"
#include "pemx/stage.hpp"

using namespace pemx;
using namespace std::chrono_literals;

namespace {

// Collects log lines and fatal reports, from any thread.
struct Seen {
  std::mutex mutex;
  std::vector<std::string> lines;
  std::vector<std::string> fatal;

  Logger logger(const std::string& component) {
    return Logger(make_line_sink(LogLevel::kInfo,
                                 [this](const std::string& line) {
                                   std::lock_guard<std::mutex> lock(mutex);
                                   lines.push_back(line);
                                 }),
                  component);
  }
  ThreadOwner owner(const std::string& stage) {
    return {stage, logger(stage), [this](const std::string& reason) {
              std::lock_guard<std::mutex> lock(mutex);
              fatal.push_back(reason);
            }};
  }
  bool logged(const std::string& a, const std::string& b = "") {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& l : lines) {
      if (l.find(a) != std::string::npos && l.find(b) != std::string::npos) return true;
    }
    return false;
  }
};

}  // namespace

TEST_CASE("run_guarded catches what a thread's body throws, logs it and reports it",
          "[unit][core][stage_thread]") {
  Seen seen;
  auto owner = seen.owner("router");
  CHECK(run_guarded(owner, "worker", [] {}));
  CHECK(seen.fatal.empty());
  CHECK_FALSE(run_guarded(owner, "worker", [] { throw std::runtime_error("boom"); }));
  REQUIRE(seen.fatal.size() == 1);
  CHECK(seen.fatal[0] == "thread worker failed: boom");
  CHECK(seen.logged(R"("stage":"router")", R"("error":"boom")"));
  CHECK(seen.logged(R"("thread":"worker")"));
  CHECK(seen.logged(R"("level":"error")"));
  CHECK_FALSE(run_guarded(owner, "io", [] { throw 42; }));
  REQUIRE(seen.fatal.size() == 2);
  CHECK(seen.fatal[1] == "thread io failed: an exception that is not a std::exception");
}

TEST_CASE("a Worker whose body throws reports the failure and counts as done",
          "[unit][core][stage_thread]") {
  Seen seen;
  Worker worker(seen.owner("sink"));
  worker.start([](std::stop_token) { throw std::runtime_error("no more room"); });
  // Done (not hung, not terminated): drain returns at once.
  CHECK(worker.wait_done(Deadline(Clock::now() + 10s)));
  worker.stop();
  std::lock_guard<std::mutex> lock(seen.mutex);
  REQUIRE(seen.fatal.size() == 1);
  CHECK(seen.fatal[0] == "thread worker failed: no more room");
}

namespace {

// A stage whose one thread throws as soon as it runs.
class ThrowingStage final : public Stage {
 public:
  explicit ThrowingStage(StageContext& ctx) : worker_(thread_owner(ctx)) {}
  void start() override {
    worker_.start([](std::stop_token) { throw std::runtime_error("invariant broken in test"); });
  }
  void stop_accepting() noexcept override {}
  bool drain(const Deadline& deadline) noexcept override { return worker_.wait_done(deadline); }
  void stop() noexcept override { worker_.stop(); }

 private:
  Worker worker_;
};

class ThrowingSpec final : public StageSpec {
 public:
  std::vector<QueuePort> ports() const override { return {}; }
  std::unique_ptr<Stage> create(StageContext& ctx) const override {
    return std::make_unique<ThrowingStage>(ctx);
  }
};

}  // namespace

TEST_CASE("a stage thread that throws makes the supervisor drain and return 1, naming the stage",
          "[unit][core][stage_thread][supervisor]") {
  Config config;
  config.common.kafka.brokers = "127.0.0.1:1";  // not embedded: no cluster is started
  config.common.drain_timeout = 10s;
  config.roles["test"] = {"thrower"};
  config.stages.push_back({"thrower", "throwing", std::make_unique<ThrowingSpec>()});
  Seen seen;
  Metrics metrics;
  Supervisor supervisor(config, "test", seen.logger("pemx"), metrics);
  CHECK(supervisor.run() == 1);
  CHECK(seen.logged("stage thread failed", R"("stage":"thrower")"));
  CHECK(seen.logged("fatal stage error; draining and exiting",
                    "thrower: thread worker failed: invariant broken in test"));
  CHECK(seen.logged(R"("msg":"stopped")", R"("drained":true)"));
  // The last line says the exit code and why, though the drain itself went well.
  CHECK(seen.logged(R"("msg":"stopped")", R"("exit_code":1)"));
  CHECK(seen.logged(R"("msg":"stopped")", R"("fatal":"thrower: thread worker failed)"));
}
