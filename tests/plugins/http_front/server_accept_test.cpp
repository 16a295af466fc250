// The Server's listener under connection floods and descriptor exhaustion, over loopback
// (port 0): at max_connections it closes the connection idle the longest (silent or sending a
// header slowly) to admit a new one, never one being answered or a live stream; when every
// connection is busy it stops accepting (no wakeups, no log flood) and resumes when one ends;
// out of file descriptors (RLIMIT_NOFILE lowered in a forked child) it backs
// off instead of retrying accept() in a loop, and recovers once descriptors are free; the
// connection cap follows the open-file limit.
#include "http_front/server.hpp"

#include "support/http_client.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <condition_variable>
#include <mutex>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace pemx;
using namespace pemx::http_front;
using pemx::test::connect_loopback;
using pemx::test::HttpStream;
using pemx::test::send_all;
using namespace std::chrono_literals;

namespace {

// Answers nothing: these tests never query the history.
class NoReader final : public EventReader {
 public:
  Result<EventPage> query(const EventQuery&) override { return EventPage{}; }
  std::optional<std::string> problem() override { return std::nullopt; }
};

// Counts the log lines that contain `text`.
struct LineCounter {
  explicit LineCounter(std::string text) : text(std::move(text)) {}
  Logger logger() {
    return Logger(make_line_sink(LogLevel::kInfo,
                                 [this](const std::string& line) {
                                   ++all;
                                   if (line.find(text) != std::string::npos) ++matching;
                                 }),
                  "http");
  }
  std::string text;
  std::atomic<long> all{0};
  std::atomic<long> matching{0};
};

// Reads until the peer closes or `timeout` passes; what arrived.
std::string read_until_closed(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  auto until = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return out;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return out;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

// Whether the peer closed the connection (end of stream or reset) within `timeout`; what it
// sent meanwhile is read and dropped. A timeout of 0 looks without waiting.
bool closed_within(int fd, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(left.count(), 0))) <= 0) return false;
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return true;
  }
}

// A store whose readiness check blocks until open() (or the end of the test): /readyz requests
// stay "being answered" for as long as the test wants.
class GateReader final : public EventReader {
 public:
  Result<EventPage> query(const EventQuery&) override { return EventPage{}; }
  std::optional<std::string> problem() override {
    std::unique_lock<std::mutex> lock(mutex_);
    ++waiting_;
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
    return std::nullopt;
  }
  void open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  int waiting() {
    std::lock_guard<std::mutex> lock(mutex_);
    return waiting_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
  int waiting_ = 0;
};

// Opens the gate when the test ends, however it ends, before the server (declared earlier)
// joins its query threads.
struct OpenAtEnd {
  std::shared_ptr<GateReader> gate;
  ~OpenAtEnd() { gate->open(); }
};

struct Sockets {
  std::vector<int> fds;
  ~Sockets() {
    for (int fd : fds) ::close(fd);
  }
};

double open_connections(const Metrics& metrics) {
  auto samples = metrics.read("pemx_http_connections");
  return samples.empty() ? -1 : samples.front().value;
}

template <class Pred>
bool poll_until(Pred pred, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

constexpr const char* kHealthz =
    "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
constexpr const char* kReadyz =
    "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

// `n` connections, each with a /readyz that the gate holds, so they stay busy.
void open_busy(std::uint16_t port, std::size_t n, GateReader& gate, Sockets& into) {
  for (std::size_t i = 0; i < n; ++i) {
    int fd = connect_loopback(port);
    REQUIRE(fd >= 0);
    into.fds.push_back(fd);
    REQUIRE(send_all(fd, kReadyz));
  }
  REQUIRE(poll_until([&] { return gate.waiting() == static_cast<int>(n); }, 5s));
}
// The start of a request whose header never ends (a slowloris).
constexpr const char* kPartial = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a";

}  // namespace

TEST_CASE("the connection cap follows the open-file limit", "[unit][http][accept]") {
  CHECK(connection_cap(512, 1024) == 512);
  CHECK(connection_cap(512, 512 + kReservedFds) == 512);
  CHECK(connection_cap(512, 300) == 300 - kReservedFds);
  CHECK(connection_cap(512, 200) == 100);  // at least half of the limit
  CHECK(connection_cap(512, 1) == 1);
  CHECK(connection_cap(8, 64) == 8);  // never above max_connections
}

TEST_CASE("at max_connections the connection idle the longest is closed to admit a new one",
          "[unit][http][accept]") {
  Metrics metrics;
  LineCounter log("closed the longest-idle connection");
  ServerSettings s;
  s.port = 0;
  s.io_threads = 1;  // sessions start in the order they were accepted
  s.query_threads = 1;
  s.idle_timeout = 20s;  // longer than the test: only eviction or the client ends these
  s.max_connections = 8;
  Server server(s, log.logger(), metrics, std::make_shared<NoReader>(), nullptr, nullptr);
  server.start();

  // 8 connections, one after the other: the odd ones send nothing, the even ones start a
  // header that never ends. The first is the oldest.
  Sockets idle;
  for (int i = 0; i < 8; ++i) {
    int fd = connect_loopback(server.port());
    REQUIRE(fd >= 0);
    idle.fds.push_back(fd);
    if (i % 2 == 0) REQUIRE(send_all(fd, kPartial));
    REQUIRE(poll_until([&] { return open_connections(metrics) == i + 1; }, 5s));
  }
  // A slowloris keeps sending: a byte more does not make the oldest one any younger.
  REQUIRE(send_all(idle.fds[0], "b"));
  REQUIRE(send_all(idle.fds[2], "b"));

  // A probe is answered at once, not after idle_timeout.
  int fresh = connect_loopback(server.port());
  REQUIRE(fresh >= 0);
  REQUIRE(send_all(fresh, kHealthz));
  std::string answer = read_until_closed(fresh, 2s);
  ::close(fresh);
  CHECK(answer.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(answer.find(R"({"status":"ok"})") != std::string::npos);
  // The oldest was closed to make room, and only it.
  CHECK(closed_within(idle.fds[0], 2s));
  for (std::size_t i = 1; i < idle.fds.size(); ++i) {
    INFO("connection " << i);
    CHECK_FALSE(closed_within(idle.fds[i], 0ms));
  }
  CHECK(metrics.counter_total("pemx_http_evicted_total") == 1);
  CHECK(metrics.counter_total("pemx_http_accept_pauses_total") == 0);
  CHECK(log.matching.load() == 1);  // the operator is told

  // A flood of silent connections churns through the slots, never past the cap, and a probe
  // behind it is still answered.
  Sockets flood;
  for (int i = 0; i < 50; ++i) {
    int fd = connect_loopback(server.port());
    REQUIRE(fd >= 0);
    flood.fds.push_back(fd);
  }
  fresh = connect_loopback(server.port());
  REQUIRE(fresh >= 0);
  REQUIRE(send_all(fresh, kHealthz));
  answer = read_until_closed(fresh, 2s);
  ::close(fresh);
  CHECK(answer.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(open_connections(metrics) <= 8);
  CHECK(metrics.counter_total("pemx_http_evicted_total") >= 50);
  CHECK(log.matching.load() <= 3);  // one line a second at most
  server.stop();
}

TEST_CASE("at max_connections a connection being answered or streaming is never closed",
          "[unit][http][accept]") {
  Metrics metrics;
  Activity activity;
  activity.offer("stored");  // what /api/live streams by default
  auto gate = std::make_shared<GateReader>();
  ServerSettings s;
  s.port = 0;
  s.io_threads = 1;
  s.query_threads = 4;  // every /readyz below waits in the store's check at once
  s.idle_timeout = 20s;
  s.max_connections = 8;
  Server server(s, Logger{}, metrics, gate, nullptr, &activity);
  server.start();
  OpenAtEnd open_at_end{gate};

  // The oldest connections are busy: 4 requests being answered, 3 live streams. The youngest
  // is a slowloris.
  Sockets busy;
  open_busy(server.port(), 4, *gate, busy);
  std::vector<std::unique_ptr<HttpStream>> streams;
  for (int i = 0; i < 3; ++i) {
    streams.push_back(std::make_unique<HttpStream>(server.port(), "/api/live"));
    REQUIRE(streams.back()->read_until("event: hello", 5s));
  }
  int slow = connect_loopback(server.port());
  REQUIRE(slow >= 0);
  Sockets slow_guard{{slow}};
  REQUIRE(send_all(slow, kPartial));
  REQUIRE(poll_until([&] { return open_connections(metrics) == 8; }, 5s));

  int fresh = connect_loopback(server.port());
  REQUIRE(fresh >= 0);
  REQUIRE(send_all(fresh, kHealthz));
  std::string answer = read_until_closed(fresh, 2s);
  ::close(fresh);
  CHECK(answer.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(closed_within(slow, 2s));  // the only idle one, though the youngest
  CHECK(metrics.counter_total("pemx_http_evicted_total") == 1);
  for (const auto& stream : streams) {
    CHECK_FALSE(stream->read_until("never sent", 200ms));  // reads, so a close would show
    CHECK_FALSE(stream->closed());
  }
  gate->open();
  for (int fd : busy.fds) {
    std::string ready = read_until_closed(fd, 5s);
    CHECK(ready.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(ready.find(R"({"status":"ready"})") != std::string::npos);
  }
  server.stop();
}

TEST_CASE("at max_connections with every connection busy the server stops accepting, idle, "
          "and resumes when one ends",
          "[unit][http][accept]") {
  Metrics metrics;
  LineCounter log("connection limit reached");
  auto gate = std::make_shared<GateReader>();
  ServerSettings s;
  s.port = 0;
  s.io_threads = 1;
  s.query_threads = 8;
  s.idle_timeout = 20s;  // longer than the test: only the clients end these connections
  s.max_connections = 8;
  Server server(s, log.logger(), metrics, gate, nullptr, nullptr);
  server.start();
  OpenAtEnd open_at_end{gate};

  Sockets busy;
  open_busy(server.port(), 8, *gate, busy);
  // More clients wait behind the cap; a fresh one among them is not answered meanwhile.
  Sockets waiting;
  for (int i = 0; i < 20; ++i) {
    int fd = connect_loopback(server.port());
    REQUIRE(fd >= 0);
    waiting.fds.push_back(fd);
  }
  int fresh = connect_loopback(server.port());
  REQUIRE(fresh >= 0);
  Sockets fresh_guard{{fresh}};
  REQUIRE(send_all(fresh, kHealthz));
  // The listener sleeps: over this window it neither accepts, nor retries, nor logs again.
  REQUIRE(poll_until([&] { return metrics.counter_total("pemx_http_accept_pauses_total") >= 1; },
                     5s));
  const auto pauses_before = metrics.counter_total("pemx_http_accept_pauses_total");
  const long lines_before = log.all.load();
  CHECK(read_until_closed(fresh, 1s).empty());  // the window
  CHECK(metrics.counter_total("pemx_http_accept_pauses_total") == pauses_before);
  CHECK(metrics.counter_total("pemx_http_accept_errors_total") == 0);
  CHECK(metrics.counter_total("pemx_http_evicted_total") == 0);
  CHECK(open_connections(metrics) == 8);
  CHECK(log.all.load() == lines_before);
  CHECK(log.matching.load() == 1);  // the operator is told, once

  // Once the busy requests are answered (and close), the waiting clients are accepted and the
  // fresh one is answered; none of the busy ones was closed unanswered.
  gate->open();
  for (int fd : busy.fds) CHECK(read_until_closed(fd, 5s).rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  std::string answer = read_until_closed(fresh, 5s);
  CHECK(answer.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(answer.find(R"({"status":"ok"})") != std::string::npos);
  server.stop();
}

namespace {

// The forked child's side of the next test: a Server under RLIMIT_NOFILE = `limit`, with every
// descriptor used up while the parent's clients wait; reports on `report` as text:
// "port P", then "full", then after the parent's "connected" (on `orders`) a 1 s window:
// "errors E lines L logged T warned W" (accept errors and "accept failed" lines in the window,
// such lines in all, warnings about the open-file limit) once the descriptors are free again,
// then waits for "done".
[[noreturn]] void descriptor_child(int orders, int report, rlim_t limit) {
  ::alarm(30);  // never outlives a parent that went away
  auto say = [&](const std::string& text) {
    std::string line = text + "\n";
    if (::write(report, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(3);
  };
  auto hear = [&] {
    char c = 0;
    return ::read(orders, &c, 1) == 1 ? c : '\0';
  };
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = limit;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(4);
  {
    Metrics metrics;
    std::atomic<long> failed{0};
    std::atomic<long> limit_warnings{0};
    Logger log(make_line_sink(LogLevel::kInfo,
                              [&](const std::string& line) {
                                if (line.find("accept failed") != std::string::npos) ++failed;
                                if (line.find("open-file limit too low") != std::string::npos) {
                                  ++limit_warnings;
                                }
                              }),
               "http");
    ServerSettings s;
    s.port = 0;
    s.io_threads = 1;
    s.query_threads = 1;
    s.idle_timeout = 10s;
    Server server(s, log, metrics, std::make_shared<NoReader>(), nullptr, nullptr);
    server.start();
    say("port " + std::to_string(server.port()));
    // Use up every descriptor left.
    std::vector<int> filler;
    for (;;) {
      int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      filler.push_back(fd);
    }
    say("full");
    if (hear() != 'c') _exit(5);  // the parent's clients are in the backlog
    const auto errors_before = metrics.counter_total("pemx_http_accept_errors_total");
    const long lines_before = failed.load();
    std::this_thread::sleep_for(1s);  // the window measured
    const auto errors = metrics.counter_total("pemx_http_accept_errors_total") - errors_before;
    const long lines = failed.load() - lines_before;
    for (int fd : filler) ::close(fd);
    say("errors " + std::to_string(errors) + " lines " + std::to_string(lines) + " logged " +
        std::to_string(failed.load()) + " warned " + std::to_string(limit_warnings.load()));
    if (hear() != 'd') _exit(6);
    server.stop();
  }
  _exit(0);
}

// Reads one line from `fd` within `timeout` ("" when none came).
std::string read_line(int fd, std::chrono::milliseconds timeout) {
  std::string line;
  auto until = std::chrono::steady_clock::now() + timeout;
  char c = 0;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
    if (::read(fd, &c, 1) != 1) return "";
    if (c == '\n') return line;
    line += c;
  }
}

}  // namespace

TEST_CASE("out of file descriptors, the listener backs off and recovers", "[unit][http][accept]") {
#ifdef PEMX_SANITIZED
  // UBSan checks that memory is readable through a pipe: with every descriptor used up it
  // cannot, and reports each virtual call as one on an invalid object. The normal build runs
  // this test (scripts/test.sh runs both).
  WARN("skipped in the sanitizer build: its runtime needs file descriptors");
  return;
#endif
  int orders[2];
  int report[2];
  REQUIRE(::pipe2(orders, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(report, O_CLOEXEC) == 0);
  // Low enough to be below the default max_connections + the reserve, with room for the
  // descriptors this process already holds.
  const rlim_t limit = 256;
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(orders[1]);
    ::close(report[0]);
    descriptor_child(orders[0], report[1], limit);
  }
  ::close(orders[0]);
  ::close(report[1]);
  // Whatever happens, the child does not outlive the test.
  struct Reap {
    pid_t pid;
    int orders, report;
    ~Reap() {
      ::close(orders);
      ::close(report);
      int status = 0;
      if (pid > 0 && ::waitpid(pid, &status, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
      }
    }
  } reap{pid, orders[1], report[0]};

  std::string port_line = read_line(report[0], 10s);
  REQUIRE(port_line.rfind("port ", 0) == 0);
  const auto port = static_cast<std::uint16_t>(std::stoi(port_line.substr(5)));
  REQUIRE(read_line(report[0], 10s) == "full");
  std::vector<int> clients;
  for (int i = 0; i < 20; ++i) {
    int fd = connect_loopback(port);
    REQUIRE(fd >= 0);
    clients.push_back(fd);
  }
  REQUIRE(send_all(clients.front(), kHealthz));
  REQUIRE(::write(orders[1], "c", 1) == 1);

  std::string result = read_line(report[0], 10s);
  INFO(result);
  long errors = -1, lines = -1, logged = -1, warned = -1;
  REQUIRE(std::sscanf(result.c_str(), "errors %ld lines %ld logged %ld warned %ld", &errors,
                      &lines, &logged, &warned) == 4);
  CHECK(errors >= 1);   // accept() did fail in the window: the descriptors were used up
  CHECK(errors < 50);   // 10 ms doubling to 1 s: about 7 in the first second
  CHECK(logged >= 1);   // the failure is logged (perhaps just before the window)
  CHECK(lines <= 2);    // at most one warning a second
  CHECK(warned == 1);   // RLIMIT_NOFILE 256 < 512 + 128: the cap was lowered, and said so

  // The descriptors are free again: the waiting client is accepted and answered.
  std::string answer = read_until_closed(clients.front(), 5s);
  CHECK(answer.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  for (int fd : clients) ::close(fd);
  REQUIRE(::write(orders[1], "d", 1) == 1);
  int status = 0;
  bool exited = poll_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 10s);
  REQUIRE(exited);
  reap.pid = -1;
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
