#pragma once
// The bookkeeping of one replay, apart from its IO so that tests reach it: what the router
// decided for each stored event, what --topics leaves out, what was handed to the sink and
// what the broker acknowledged, per topic. Main's thread only.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "pemx/record.hpp"

namespace pemx::replay {

// The header every replayed output carries (besides the router's, pemx-rules-version among
// them): its value is the run's id, so consumers and lineage tell a replay from the original.
inline constexpr const char* kReplayHeader = "pemx-replay";
// How many decisions --dry-run prints.
inline constexpr std::size_t kShownDecisions = 10;

struct TopicCount {
  std::uint64_t planned = 0;  // outputs decided (handed to the sink; --dry-run: would be)
  std::uint64_t acked = 0;    // outputs the broker acknowledged
  std::uint64_t skipped = 0;  // outputs left out by --topics
};

class Tally {
 public:
  // topics: --topics (empty: every topic).
  Tally(std::vector<std::string> topics, std::string run_id, bool dry_run);

  // After the router: counts the decision, drops the targets --topics leaves out and adds the
  // replay header. True when the record has outputs left to produce.
  bool routed(Record& rec);
  // The sink handed the record back: every one of its outputs is acknowledged.
  void acked(const Record& rec);

  const std::map<std::string, TopicCount>& topics() const { return topics_; }
  // Dead letters the router decided, by reason (whether or not --topics keeps them).
  const std::map<std::string, std::uint64_t>& dead_letters() const { return dead_letters_; }
  // Where the router sent its dead letters (empty until the first one).
  const std::string& dead_letter_topic() const { return dead_letter_topic_; }
  std::uint64_t routed_events() const { return routed_; }
  std::uint64_t planned_outputs() const { return planned_; }
  std::uint64_t acked_outputs() const { return acked_; }
  std::uint64_t skipped_outputs() const { return skipped_; }
  // Events none of whose outputs --topics keeps.
  std::uint64_t skipped_events() const { return skipped_events_; }
  // The first decisions, as lines "EVENT_ID -> topic, topic" (dead letters name their reason).
  const std::vector<std::string>& decisions() const { return decisions_; }

 private:
  std::set<std::string> only_;
  std::string run_id_;
  bool dry_run_;
  std::map<std::string, TopicCount> topics_;
  std::map<std::string, std::uint64_t> dead_letters_;
  std::string dead_letter_topic_;
  std::uint64_t routed_ = 0, planned_ = 0, acked_ = 0, skipped_ = 0, skipped_events_ = 0;
  std::vector<std::string> decisions_;
};

// Where an interrupted replay may resume: the first event, in the scan's (created_ms,
// event_id) order, that is not finished (its outputs not all acknowledged, or not yet read).
// Every event before it is finished. Main's thread only.
struct Position {
  std::int64_t created_ms = 0;
  std::string event_id;
};

class Frontier {
 public:
  // An event read from the store, handed on as `rec` (the record keeps its address while it
  // travels: the router and the sink hand the same record back).
  void started(const Record* rec, Position at);
  // The record came back: acknowledged, or left with no output (--topics, a dry run).
  void finished(const Record* rec);
  // Events read and handed on, not finished.
  std::size_t open() const { return open_.size(); }
  // The first unfinished event; else `next_unread` (the first event not handed on, when the
  // caller knows it); else nullopt (every event handed on is finished).
  std::optional<Position> resume(const std::optional<Position>& next_unread) const;

 private:
  std::uint64_t next_ = 0;
  std::map<std::uint64_t, Position> open_;  // by reading order
  std::map<const Record*, std::uint64_t> order_;
};

}  // namespace pemx::replay
