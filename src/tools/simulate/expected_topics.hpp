#pragma once
// Where a role sends each generated event, and where it reads them from. The routing is the
// role's own: its routing stage answers through its offline "route" tool (the one behind
// `pemx route`, StageSpec::run_tool), so the simulator shares the router's code and the
// config's rules instead of repeating them, and the core never includes a stage's header.
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "pemx/result.hpp"

namespace pemx::sim {

class ExpectedTopics {
 public:
  // The role's routing stage; an error naming the role when it has none.
  static Result<ExpectedTopics> for_role(const Config& config, const std::string& role);
  // The topics each event goes to (the dead-letter topic when the router refuses one), in
  // order; an error if the router's answer cannot be read.
  Result<std::vector<std::vector<std::string>>> route(
      const std::vector<std::string_view>& events) const;

 private:
  explicit ExpectedTopics(const StageSpec* router) : router_(router) {}
  const StageSpec* router_;
};

// The topic the role's first kafka_ingest stage reads (its first topic), or an error.
Result<std::string> input_topic(const Config& config, const std::string& role);

}  // namespace pemx::sim
