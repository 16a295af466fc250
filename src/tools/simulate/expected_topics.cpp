#include "tools/simulate/expected_topics.hpp"

#include <sstream>

#include <rapidjson/document.h>

namespace pemx::sim {

namespace {
Result<const std::vector<std::string>*> role_stages(const Config& config, const std::string& role) {
  auto it = config.roles.find(role);
  if (it == config.roles.end()) {
    return Error{"no_role", "no role \"" + role + "\" in " + config.file + "; pass --role"};
  }
  return &it->second;
}
}  // namespace

Result<ExpectedTopics> ExpectedTopics::for_role(const Config& config, const std::string& role) {
  auto stages = role_stages(config, role);
  if (!stages) return stages.error();
  for (const auto& name : *stages.value()) {
    const StageInstance* stage = config.stage(name);
    std::istringstream none;
    std::ostringstream out;
    if (stage != nullptr && stage->spec && stage->spec->run_tool("route", none, out) >= 0) {
      return ExpectedTopics(stage->spec.get());
    }
  }
  return Error{"no_router", "role \"" + role +
                                "\" has no routing stage, so --watch cannot tell "
                                "where events should arrive; pass --role with the routing role"};
}

Result<std::vector<std::vector<std::string>>> ExpectedTopics::route(
    const std::vector<std::string_view>& events) const {
  std::string input;
  for (auto e : events) {
    input.append(e);
    input += '\n';
  }
  std::istringstream in(input);
  std::ostringstream out;
  router_->run_tool("route", in, out);
  std::vector<std::vector<std::string>> topics;
  std::istringstream lines(out.str());
  std::string line;
  rapidjson::Document doc;
  while (std::getline(lines, line)) {
    doc.Parse(line.c_str());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("topics") ||
        !doc["topics"].IsArray()) {
      return Error{"route", "unreadable answer from the routing stage: " + line};
    }
    auto& list = topics.emplace_back();
    for (const auto& t : doc["topics"].GetArray()) {
      if (t.IsString()) list.emplace_back(t.GetString(), t.GetStringLength());
    }
  }
  if (topics.size() != events.size()) {
    return Error{"route", "the routing stage answered " + std::to_string(topics.size()) +
                              " lines for " + std::to_string(events.size()) + " events"};
  }
  return topics;
}

Result<std::string> input_topic(const Config& config, const std::string& role) {
  auto stages = role_stages(config, role);
  if (!stages) return stages.error();
  for (const auto& name : *stages.value()) {
    const StageInstance* stage = config.stage(name);
    if (stage != nullptr && stage->type == "kafka_ingest" && stage->spec &&
        !stage->spec->topics().empty()) {
      return stage->spec->topics().front();
    }
  }
  return Error{"no_input", "role \"" + role +
                               "\" has no kafka_ingest stage to take the "
                               "topic from; pass --topic"};
}

}  // namespace pemx::sim
