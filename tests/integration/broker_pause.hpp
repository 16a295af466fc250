#pragma once
// A broker of tests/broker/kafka.sh that stops answering: its JVM SIGSTOPped (connections stay
// open, nothing answers) and SIGCONTed again. Shared by broker_hang_test.cpp and
// clusters_test.cpp.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <string>

#include "support/process.hpp"

namespace pemx::test {

// The broker JVM's pid, from the pid file tests/broker/kafka.sh keeps in its state dir.
inline int broker_pid(const std::string& brokers) {
  std::string port = brokers.substr(brokers.rfind(':') + 1);
  const char* state = std::getenv("PEMX_KAFKA_STATE");
  std::string file = (state != nullptr ? std::string(state) : "/tmp/pemx-kafka-" + port) +
                     "/kafka.pid";
  std::string text = read_file(file);
  INFO("broker pid file " << file << " (start the broker with tests/broker/kafka.sh start "
                          << port << ")");
  REQUIRE(!text.empty());
  int pid = std::atoi(text.c_str());
  REQUIRE(pid > 0);
  REQUIRE(::kill(pid, 0) == 0);
  return pid;
}

// SIGSTOPs the broker; SIGCONT when resumed or destroyed, so that a failing test never leaves
// the shared broker hung.
class BrokerPause {
 public:
  explicit BrokerPause(int pid) : pid_(pid) { REQUIRE(::kill(pid_, SIGSTOP) == 0); }
  ~BrokerPause() { resume(); }
  BrokerPause(const BrokerPause&) = delete;
  BrokerPause& operator=(const BrokerPause&) = delete;
  void resume() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
    pid_ = 0;
  }

 private:
  int pid_;
};

}  // namespace pemx::test
