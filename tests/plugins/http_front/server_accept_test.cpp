// The Server's listener under connection floods and descriptor exhaustion, over loopback
// (port 0): at max_connections it stops accepting (no CPU, no log flood) and resumes when
// connections end; out of file descriptors (RLIMIT_NOFILE lowered in a forked child) it backs
// off instead of retrying accept() in a loop, and recovers once descriptors are free; the
// connection cap follows the open-file limit.
#include "http_front/server.hpp"

#include <catch2/catch.hpp>

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
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace pemx;
using namespace pemx::http_front;
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

// A TCP connection to 127.0.0.1:port (connected: the kernel completes it from the backlog
// whether or not the server accepted it), or -1.
int connect_loopback(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& text) {
  std::size_t sent = 0;
  while (sent < text.size()) {
    ssize_t n = ::send(fd, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

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

// CPU time (user + system) this process has used, in seconds (/proc/self/stat fields 14, 15).
double cpu_seconds() {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));  // after "pid (comm) "
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

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

}  // namespace

TEST_CASE("the connection cap follows the open-file limit", "[unit][http][accept]") {
  CHECK(connection_cap(512, 1024) == 512);
  CHECK(connection_cap(512, 512 + kReservedFds) == 512);
  CHECK(connection_cap(512, 300) == 300 - kReservedFds);
  CHECK(connection_cap(512, 200) == 100);  // at least half of the limit
  CHECK(connection_cap(512, 1) == 1);
  CHECK(connection_cap(8, 64) == 8);  // never above max_connections
}

TEST_CASE("at max_connections the server stops accepting, idle, and resumes when they close",
          "[unit][http][accept]") {
  Metrics metrics;
  LineCounter log("connection limit reached");
  ServerSettings s;
  s.port = 0;
  s.io_threads = 1;
  s.query_threads = 1;
  s.idle_timeout = 10s;  // longer than the test: only the clients end these connections
  s.max_connections = 8;
  Server server(s, log.logger(), metrics, std::make_shared<NoReader>(), nullptr, nullptr);
  server.start();

  std::vector<int> idle;
  for (int i = 0; i < 50; ++i) {
    int fd = connect_loopback(server.port());
    REQUIRE(fd >= 0);
    idle.push_back(fd);
  }
  // The server takes 8 of them and leaves the rest in the backlog.
  REQUIRE(poll_until([&] { return open_connections(metrics) == 8; }, 5s));
  const double cpu_before = cpu_seconds();
  const long lines_before = log.all.load();
  std::this_thread::sleep_for(1s);  // the window measured, not a wait for an event
  const double cpu_used = cpu_seconds() - cpu_before;
  CHECK(cpu_used < 0.2);
  CHECK(open_connections(metrics) == 8);
  CHECK(log.all.load() - lines_before <= 1);
  CHECK(log.matching.load() >= 1);  // the operator is told, once
  CHECK(log.matching.load() <= 2);

  // A fresh client waits behind the cap and is not answered meanwhile.
  int fresh = connect_loopback(server.port());
  REQUIRE(fresh >= 0);
  REQUIRE(send_all(fresh, kHealthz));
  CHECK(read_until_closed(fresh, 200ms).empty());
  CHECK(open_connections(metrics) == 8);

  // Once the idle clients go, the listener resumes and the fresh one is answered.
  for (int fd : idle) ::close(fd);
  std::string answer = read_until_closed(fresh, 5s);
  ::close(fresh);
  CHECK(answer.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(answer.find(R"({"status":"ok"})") != std::string::npos);
  CHECK(metrics.counter_total("pemx_http_accept_pauses_total") >= 1);
  CHECK(metrics.counter_total("pemx_http_accept_errors_total") == 0);
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
