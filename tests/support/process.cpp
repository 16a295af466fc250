#include "support/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pemx::test {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Process::Process(const std::string& binary, const std::vector<std::string>& args,
                 const std::string& log_path, const std::string& stdin_text)
    : log_path_(log_path), out_path_(log_path + ".out") {
  std::string in_path = log_path + ".in";
  {
    std::ofstream in(in_path);
    in << stdin_text;
  }
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int in = open(in_path.c_str(), O_RDONLY);
    int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    // Tests block no signals in the child: pemx sets its own mask.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
}

Process::~Process() {
  if (running()) {
    kill(pid_, SIGKILL);
    wait(std::chrono::seconds(10));
  }
}

void Process::signal(int sig) {
  if (!status_) kill(pid_, sig);
}

bool Process::running() {
  if (status_) return false;
  return !wait(std::chrono::milliseconds(0)).has_value();
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string Process::log() const { return read_file(log_path_); }
std::string Process::stdout_text() const { return read_file(out_path_); }

bool Process::wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (log().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

RunResult run(const std::string& binary, const std::vector<std::string>& args,
              const std::string& stdin_text) {
  TempDir dir;
  Process p(binary, args, dir.file("stderr"), stdin_text);
  auto code = p.wait(std::chrono::seconds(60));
  if (!code) throw std::runtime_error("command did not finish in 60 s");
  return {*code, p.stdout_text(), p.log()};
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "pemx-test-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void TempDir::write(const std::string& name, const std::string& text) const {
  std::ofstream out(file(name));
  out << text;
}

}  // namespace pemx::test
