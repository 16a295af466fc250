#pragma once
// Starts the pemx binary on a test config in a temporary directory.
#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "support/kafka_util.hpp"
#include "support/process.hpp"

namespace pemx::test {

class PemxRunner {
 public:
  explicit PemxRunner(std::string config_text) : config_(std::move(config_text)) {
    dir_.write("pemx.toml", config_);
  }
  Process& start(const std::string& role, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--role=" + role, "--config", dir_.file("pemx.toml"),
                                     "--set", "log.stats_interval=1s",
                                     "--set", "store.path=" + db_path()};
    args.insert(args.end(), extra.begin(), extra.end());
    proc_.reset();
    proc_ = std::make_unique<Process>(PEMX_BINARY, args,
                                      dir_.file("pemx-" + std::to_string(++runs_) + ".log"));
    return *proc_;
  }
  Process& start_on(const std::string& brokers) {
    return start("dist", {"--set", "kafka.brokers=" + brokers});
  }
  Process& process() { return *proc_; }
  std::string db_path() const { return dir_.file("pemx.db"); }
  const TempDir& dir() const { return dir_; }

 private:
  std::string config_;
  TempDir dir_;
  std::unique_ptr<Process> proc_;
  int runs_ = 0;
};

}  // namespace pemx::test
