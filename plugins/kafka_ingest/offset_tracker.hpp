#pragma once
// OffsetTracker: which consumed offsets are done, per partition, and so what may be
// committed. An offset is committable only when it and every offset consumed before it in
// its partition have been acknowledged. Pure logic, no Kafka: the stage's thread owns it.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace pemx::kafka_ingest {

class OffsetTracker {
 public:
  using Key = std::pair<std::string, std::int32_t>;  // topic, partition

  void assign(const Key& tp) { parts_[tp]; }
  void revoke(const Key& tp) {
    auto it = parts_.find(tp);
    if (it == parts_.end()) return;
    outstanding_ -= it->second.pending.size();
    parts_.erase(it);
  }
  void clear() {
    parts_.clear();
    outstanding_ = 0;
  }
  bool assigned(const Key& tp) const { return parts_.count(tp) != 0; }

  // A consumed offset, in consumption order (increasing per partition).
  void consumed(const Key& tp, std::int64_t offset) {
    auto it = parts_.find(tp);
    if (it != parts_.end()) {
      it->second.pending.emplace_back(offset, false);
      if (it->second.first < 0) it->second.first = offset;
      ++outstanding_;
    }
  }
  // Marks an offset done. False when the partition or offset is not tracked (e.g. an ack
  // from before a rebalance): it is ignored.
  bool acked(const Key& tp, std::int64_t offset) {
    auto it = parts_.find(tp);
    if (it == parts_.end()) return false;
    auto& p = it->second;
    // Offsets are consumed in order and nearly always one apart, so the entry is usually at
    // offset - front's offset: found there without a search (an ack in order is index 0; the
    // outputs of a record are acknowledged with other partitions' batches, so acks often come
    // out of order, and a binary search over a deque of thousands was a third of acked()).
    // Where a gap breaks that (a compacted topic, transaction markers), the search decides.
    const std::int64_t index = p.pending.empty() ? -1 : offset - p.pending.front().first;
    if (index >= 0 && static_cast<std::uint64_t>(index) < p.pending.size() &&
        p.pending[static_cast<std::size_t>(index)].first == offset) {
      p.pending[static_cast<std::size_t>(index)].second = true;
    } else {
      auto pos = std::lower_bound(p.pending.begin(), p.pending.end(), offset,
                                  [](const auto& e, std::int64_t o) { return e.first < o; });
      if (pos == p.pending.end() || pos->first != offset) return false;
      pos->second = true;
    }
    while (!p.pending.empty() && p.pending.front().second) {
      p.next_commit = p.pending.front().first + 1;
      p.pending.pop_front();
      --outstanding_;
    }
    return true;
  }
  // Partitions whose committable offset moved past what was last sent: (tp, next offset).
  // What is sent counts as in flight until commit_succeeded/commit_failed says otherwise.
  std::vector<std::pair<Key, std::int64_t>> take_committable() {
    std::vector<std::pair<Key, std::int64_t>> out;
    for (auto& [tp, p] : parts_) {
      if (p.next_commit > p.committed) {
        out.emplace_back(tp, p.next_commit);
        p.committed = p.next_commit;
      }
    }
    return out;
  }
  void commit_succeeded(const Key& tp, std::int64_t offset) {
    auto it = parts_.find(tp);
    if (it != parts_.end()) it->second.confirmed = std::max(it->second.confirmed, offset);
  }
  // A failed commit: the next take_committable() sends the partition again (unless a newer
  // commit is already on its way).
  void commit_failed(const Key& tp, std::int64_t offset) {
    auto it = parts_.find(tp);
    if (it != parts_.end() && it->second.committed == offset) {
      it->second.committed = it->second.confirmed;
    }
  }
  // Before the last commit: resend everything not confirmed (results may never be served).
  void resend_unconfirmed() {
    for (auto& [tp, p] : parts_) p.committed = p.confirmed;
  }
  // The offset a restart would read the partition from, as far as this member knows: its last
  // confirmed commit, else the first offset it consumed since the assignment (where the
  // group's committed offset, or the reset policy, started it); -1 when neither is known.
  std::int64_t committed_offset(const Key& tp) const {
    auto it = parts_.find(tp);
    if (it == parts_.end()) return -1;
    return it->second.confirmed >= 0 ? it->second.confirmed : it->second.first;
  }
  // Offsets consumed but not yet acknowledged. Kept as a count: the ingest loop asks for it
  // for every message it polls, and a walk over every assigned partition cost that much.
  std::size_t outstanding() const { return outstanding_; }

 private:
  struct Partition {
    std::deque<std::pair<std::int64_t, bool>> pending;  // offset, done
    std::int64_t next_commit = -1;
    std::int64_t committed = -1;  // last sent
    std::int64_t confirmed = -1;  // last the broker confirmed
    std::int64_t first = -1;      // first offset consumed since the assignment
  };
  std::map<Key, Partition> parts_;
  std::size_t outstanding_ = 0;  // the sum of every partition's pending.size()
};

}  // namespace pemx::kafka_ingest
