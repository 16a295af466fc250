#include "tools/simulate/tracker.hpp"

#include <bit>

namespace pemx::sim {

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
std::int64_t ns(Tracker::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
}  // namespace

Tracker::Tracker(std::string run_tag, std::size_t capacity)
    : run_tag_(std::move(run_tag)), capacity_(capacity) {
  entries_.reserve(std::min<std::size_t>(capacity_, 1 << 16));
}

std::optional<Tracker::Key> Tracker::parse_uuid(std::string_view id) {
  if (id.size() != 36) return std::nullopt;
  Key key;
  int digits = 0;
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (id[i] != '-') return std::nullopt;
      continue;
    }
    int v = hex_value(id[i]);
    if (v < 0) return std::nullopt;
    std::uint64_t& half = digits < 16 ? key.hi : key.lo;
    half = (half << 4) | static_cast<std::uint64_t>(v);
    ++digits;
  }
  return key;
}

std::string Tracker::format_uuid(const Key& key) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) s += '-';
    std::uint64_t half = i < 16 ? key.hi : key.lo;
    s += kDigits[(half >> (4 * (15 - i % 16))) & 0xF];
  }
  return s;
}

std::optional<std::size_t> Tracker::topic_index(std::string_view topic, bool create) {
  for (std::size_t i = 0; i < topics_.size(); ++i) {
    if (topics_[i] == topic) return i;
  }
  if (!create || topics_.size() >= kMaxTopics) return std::nullopt;
  topics_.emplace_back(topic);
  counts_.emplace_back();
  return topics_.size() - 1;
}

bool Tracker::make_room() {
  if (entries_.size() < capacity_) return true;
  if (completed_.empty()) return false;
  entries_.erase(completed_.front());
  completed_.pop_front();
  ++forgotten_;
  return true;
}

bool Tracker::add(std::string_view event_id, const std::vector<std::string>& topics,
                  Clock::time_point sent_at) {
  auto key = parse_uuid(event_id);
  std::uint64_t mask = 0;
  for (const auto& t : topics) {
    auto index = topic_index(t, true);
    if (!index)
      key.reset();  // too many topics to track this one
    else
      mask |= std::uint64_t{1} << *index;
  }
  if (!key || mask == 0 || entries_.count(*key) != 0 || !make_room()) {
    ++untracked_sent_;
    return false;
  }
  entries_.emplace(*key, Entry{ns(sent_at), mask, 0, false});
  for (std::size_t i = 0; i < topics_.size(); ++i) {
    if (mask & (std::uint64_t{1} << i)) ++counts_[i].expected;
  }
  ++tracked_;
  ++outstanding_;
  return true;
}

void Tracker::failed(std::string_view event_id) {
  auto key = parse_uuid(event_id);
  if (!key) return;
  auto it = entries_.find(*key);
  if (it == entries_.end() || it->second.failed || it->second.seen == it->second.expected) return;
  it->second.failed = true;
  for (std::size_t i = 0; i < topics_.size(); ++i) {
    if (it->second.expected & (std::uint64_t{1} << i)) --counts_[i].expected;
  }
  --outstanding_;
  completed_.push_back(*key);
}

void Tracker::arrived(std::string_view topic, std::string_view event_id, Clock::time_point at) {
  auto key = parse_uuid(event_id);
  if (!key || event_id.substr(0, run_tag_.size()) != run_tag_) {
    ++foreign_;
    return;
  }
  auto index = topic_index(topic, true);
  if (!index) {
    ++foreign_;
    return;
  }
  TopicCounts& counts = counts_[*index];
  std::uint64_t bit = std::uint64_t{1} << *index;
  auto it = entries_.find(*key);
  if (it == entries_.end()) {
    ++counts.untracked;
    return;
  }
  Entry& e = it->second;
  if ((e.expected & bit) == 0) {
    ++counts.unexpected;
  } else if (e.seen & bit) {
    ++counts.duplicates;
  } else if (!e.failed) {
    e.seen |= bit;
    ++counts.arrived;
    latency_.record(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::nanoseconds(ns(at) - e.sent_ns)));
    if (e.seen == e.expected) {
      ++complete_;
      --outstanding_;
      completed_.push_back(*key);
    }
  }
}

Tracker::Result Tracker::finish(std::size_t sample) const {
  Result r;
  std::vector<TopicCounts> counts = counts_;
  for (const auto& [key, e] : entries_) {
    std::uint64_t missing = e.failed ? 0 : e.expected & ~e.seen;
    if (missing == 0) continue;
    ++r.missing;
    if (r.missing_sample.size() < sample) r.missing_sample.push_back(format_uuid(key));
    for (std::size_t i = 0; i < counts.size(); ++i) {
      if (missing & (std::uint64_t{1} << i)) ++counts[i].missing;
    }
  }
  for (std::size_t i = 0; i < topics_.size(); ++i) {
    r.duplicates += counts[i].duplicates;
    r.unexpected += counts[i].unexpected;
    r.per_topic[topics_[i]] = counts[i];
  }
  return r;
}

}  // namespace pemx::sim
