#include "store/writer_config.hpp"

#include "event/json.hpp"
#include "kafka/client.hpp"
#include "kafka/properties_config.hpp"
#include "kafka/topic_name.hpp"

namespace pemx::store {

using namespace std::chrono_literals;

void parse_writer_settings(ConfigSection& section, const CommonConfig& common,
                           WriterSettings& s) {
  s.kafka = common.kafka;
  s.limits = common.events;
  s.input = section.string("input", s.input);
  s.acks = section.string("acks", s.acks);
  s.batch_size = static_cast<std::size_t>(
      section.integer("batch_size", static_cast<std::int64_t>(s.batch_size), 1, 100'000));
  s.batch_linger = section.duration("batch_linger", s.batch_linger, 0ms, 10s);
  s.validation = *event::parse_validation_mode(section.one_of(
      "validation", std::string(event::validation_mode_name(s.validation)),
      {std::begin(event::kValidationModeNames), std::end(event::kValidationModeNames)}));
  s.dead_letter_topic = section.string("dead_letter_topic", s.dead_letter_topic);
  if (auto p = kafka::topic_name_problem(s.dead_letter_topic)) {
    section.error("dead_letter_topic", *p);
  }
  s.retry.initial = section.duration("retry_initial", s.retry.initial, 1ms, 1min);
  s.retry.max = section.duration("retry_max", s.retry.max, 1ms, 1h);
  s.give_up_after = section.duration("give_up_after", s.give_up_after, 0ms, 24h);
  s.retention = section.duration("retention", s.retention, 0ms, std::chrono::hours(24 * 36'500));
  if (s.retention.count() > 0 && s.retention < 1h) {
    section.error("retention", "keep at least an hour of events (\"1h\"), or 0 for all");
  }
  s.retention_batch = static_cast<std::size_t>(section.integer(
      "retention_batch", static_cast<std::int64_t>(s.retention_batch), 1, 100'000));
  s.properties = kafka::read_properties(section);
  for (const auto& unsafe : kafka::unsafe_producer_properties(
           s.properties, common.events.max_bytes + event::kHeaderAllowance)) {
    section.error("properties", unsafe);
  }
  if (auto err = kafka::check_properties(s.properties)) section.error("properties", *err);
}

}  // namespace pemx::store
