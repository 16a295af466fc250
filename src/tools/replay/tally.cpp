#include "tools/replay/tally.hpp"

#include <algorithm>

namespace pemx::replay {

Tally::Tally(std::vector<std::string> topics, std::string run_id, bool dry_run)
    : only_(topics.begin(), topics.end()), run_id_(std::move(run_id)), dry_run_(dry_run) {}

bool Tally::routed(Record& rec) {
  ++routed_;
  if (rec.dead_lettered()) {
    ++dead_letters_[rec.dead_letter_reason];
    if (!rec.targets.empty()) dead_letter_topic_ = rec.targets.front();
  }
  if (decisions_.size() < kShownDecisions) {
    std::string line = rec.event_id.empty() ? "(no eventId)" : rec.event_id;
    line += " -> ";
    if (rec.dead_lettered()) line += "dead letter (" + rec.dead_letter_reason + "): ";
    for (std::size_t i = 0; i < rec.targets.size(); ++i) {
      line += (i ? ", " : "") + rec.targets[i];
      if (!only_.empty() && only_.count(rec.targets[i]) == 0) line += " (skipped)";
    }
    decisions_.push_back(std::move(line));
  }
  auto keep = std::remove_if(rec.targets.begin(), rec.targets.end(), [&](const std::string& t) {
    if (only_.empty() || only_.count(t) != 0) return false;
    ++topics_[t].skipped;
    ++skipped_;
    return true;
  });
  rec.targets.erase(keep, rec.targets.end());
  if (rec.targets.empty()) {
    ++skipped_events_;
    return false;
  }
  for (const auto& t : rec.targets) ++topics_[t].planned;
  planned_ += rec.targets.size();
  rec.out_headers.push_back({kReplayHeader, run_id_});
  return !dry_run_;
}

void Tally::acked(const Record& rec) {
  for (const auto& t : rec.targets) ++topics_[t].acked;
  acked_ += rec.targets.size();
}

void Frontier::started(const Record* rec, Position at) {
  order_[rec] = next_;
  open_.emplace(next_++, std::move(at));
}

void Frontier::finished(const Record* rec) {
  auto it = order_.find(rec);
  if (it == order_.end()) return;
  open_.erase(it->second);
  order_.erase(it);
}

std::optional<Position> Frontier::resume(const std::optional<Position>& next_unread) const {
  if (!open_.empty()) return open_.begin()->second;
  return next_unread;
}

}  // namespace pemx::replay
