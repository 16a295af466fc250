#pragma once
// A child process for integration tests: the pemx binary with arguments, its stderr in a
// file, signals, and bounded waits.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace pemx::test {

class Process {
 public:
  Process(const std::string& binary, const std::vector<std::string>& args,
          const std::string& log_path, const std::string& stdin_text = {});
  ~Process();  // SIGKILLs a child still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  int pid() const { return pid_; }
  void signal(int sig);
  // The exit code (128+signal when killed), or nullopt if still running at the timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool running();
  std::string log() const;  // what it wrote to stderr so far
  // Waits until its log contains `text` (bounded); true when found.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const;
  std::string stdout_text() const;

 private:
  int pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
  std::string out_path_;
};

// Runs to completion: exit code, stdout and stderr.
struct RunResult {
  int code;
  std::string out;
  std::string err;
};
RunResult run(const std::string& binary, const std::vector<std::string>& args,
              const std::string& stdin_text = {});

// A fresh temporary directory, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

std::string read_file(const std::string& path);

}  // namespace pemx::test
