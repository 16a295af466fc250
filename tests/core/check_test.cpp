// PEMX_CHECK: a violated invariant logs one JSON line (condition, message, file, line) and
// aborts. Catch2 has no death tests: the check runs in a forked child, its stderr in a pipe.
#include "core/check.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

namespace {

struct Death {
  bool aborted = false;
  std::string err;
};

// Runs fn in a child process; waits (bounded) for it to end.
template <class Fn>
Death run_child(Fn fn) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Catch2's own SIGABRT handler would report the abort as a failure of this test.
    ::signal(SIGABRT, SIG_DFL);
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    fn();
    ::_exit(0);
  }
  ::close(fds[1]);
  Death d;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  char buf[4096];
  for (;;) {
    pollfd p{fds[0], POLLIN, 0};
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    until - std::chrono::steady_clock::now())
                                    .count());
    if (left <= 0 || ::poll(&p, 1, left) <= 0) break;
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;  // EOF: the child is gone
    d.err.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL("the child did not end");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling the child, bounded
  }
  d.aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  return d;
}

void violate(int queue_depth) {
  PEMX_CHECK(queue_depth >= 0, "queue depth went negative");
}
constexpr int kViolateLine = __LINE__ - 2;

}  // namespace

TEST_CASE("PEMX_CHECK passes silently when the condition holds", "[unit][core][check]") {
  int evaluated = 0;
  PEMX_CHECK(++evaluated == 1, "evaluated once");
  CHECK(evaluated == 1);
}

TEST_CASE("PEMX_CHECK logs the condition, message, file and line, then aborts",
          "[unit][core][check]") {
  auto d = run_child([] { violate(-1); });
  CHECK(d.aborted);
  INFO(d.err);
  CHECK(d.err.find(R"("level":"error")") != std::string::npos);
  CHECK(d.err.find("invariant violated") != std::string::npos);
  CHECK(d.err.find(R"("condition":"queue_depth >= 0")") != std::string::npos);
  CHECK(d.err.find(R"("detail":"queue depth went negative")") != std::string::npos);
  CHECK(d.err.find("check_test.cpp") != std::string::npos);
  CHECK(d.err.find(R"("line":)" + std::to_string(kViolateLine)) != std::string::npos);
}
