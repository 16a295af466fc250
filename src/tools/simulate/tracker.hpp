#pragma once
// Tracker: the bookkeeping of `pemx simulate --watch`. For every event sent it remembers the
// topics the event is expected at, and for every arrival it decides: first arrival (with its
// latency), duplicate, unexpected topic, an event of this run that is not tracked, or a
// message from somebody else. Pure: no IO, no threads, times passed in; the caller locks.
//
// Memory is bounded: at most `capacity` events are remembered (about 100 bytes each). An
// event that has arrived everywhere stays remembered, for duplicate detection, until room is
// needed; then the oldest such events are forgotten first. When every remembered event is
// still outstanding, new events are sent untracked (counted, and said in the summary).
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tools/simulate/latency.hpp"

namespace pemx::sim {

struct TopicCounts {
  std::uint64_t expected = 0;    // tracked events expected here (failed sends excluded)
  std::uint64_t arrived = 0;     // of those, arrived here (first arrival)
  std::uint64_t duplicates = 0;  // arrivals of an event already seen here
  std::uint64_t unexpected = 0;  // tracked events of this run that arrived here unexpectedly
  std::uint64_t untracked = 0;   // this run's events that arrived here but were not tracked
  std::uint64_t missing = 0;     // filled in by finish()
};

class Tracker {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxTopics = 64;

  // run_tag: the id prefix of this run's events (see GeneratorOptions::id_prefix).
  Tracker(std::string run_tag, std::size_t capacity);

  // Remembers an event before it is sent; false when it cannot be tracked (full, or an event
  // id that is not a UUID, or more than kMaxTopics distinct topics).
  bool add(std::string_view event_id, const std::vector<std::string>& topics,
           Clock::time_point sent_at);
  // The send failed: the event is not expected anywhere any more.
  void failed(std::string_view event_id);
  // A message arrived at `topic` carrying `event_id`.
  void arrived(std::string_view topic, std::string_view event_id, Clock::time_point at);

  std::uint64_t tracked() const { return tracked_; }
  std::uint64_t untracked_sent() const { return untracked_sent_; }
  std::uint64_t complete() const { return complete_; }
  // Tracked events not yet arrived everywhere they are expected (and not failed).
  std::uint64_t outstanding() const { return outstanding_; }
  std::uint64_t foreign() const { return foreign_; }
  std::uint64_t forgotten() const { return forgotten_; }
  const LatencyHistogram& latency() const { return latency_; }

  struct Result {
    std::map<std::string, TopicCounts> per_topic;
    std::uint64_t missing = 0;  // events not arrived at one or more expected topics
    std::uint64_t duplicates = 0;
    std::uint64_t unexpected = 0;
    std::vector<std::string> missing_sample;  // up to `sample` ids, for the operator
  };
  // Counts what is missing now (call after the wait for stragglers).
  Result finish(std::size_t sample = 10) const;

 private:
  struct Key {
    std::uint64_t hi = 0, lo = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const { return k.hi ^ (k.lo * 0x9E3779B97F4A7C15ull); }
  };
  struct Entry {
    std::int64_t sent_ns = 0;    // steady clock
    std::uint64_t expected = 0;  // topic bits
    std::uint64_t seen = 0;
    bool failed = false;
  };
  static std::optional<Key> parse_uuid(std::string_view id);
  static std::string format_uuid(const Key& key);
  std::optional<std::size_t> topic_index(std::string_view topic, bool create);
  bool make_room();

  std::string run_tag_;
  std::size_t capacity_;
  std::unordered_map<Key, Entry, KeyHash> entries_;
  std::deque<Key> completed_;  // in completion order: the first to forget
  std::vector<std::string> topics_;
  std::vector<TopicCounts> counts_;
  LatencyHistogram latency_;
  std::uint64_t tracked_ = 0, untracked_sent_ = 0, complete_ = 0, outstanding_ = 0;
  std::uint64_t foreign_ = 0, forgotten_ = 0;
};

}  // namespace pemx::sim
