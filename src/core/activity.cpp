#include "pemx/activity.hpp"

#include <algorithm>
#include <chrono>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace pemx {

std::int64_t epoch_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Activity::Activity(std::size_t live_capacity, std::size_t dead_letter_capacity)
    : ring_(std::max<std::size_t>(live_capacity, 1)),
      dead_(std::max<std::size_t>(dead_letter_capacity, 1)) {}

void Activity::offer(const std::string& kind) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (std::find(kinds_.begin(), kinds_.end(), kind) == kinds_.end()) kinds_.push_back(kind);
}

std::vector<std::string> Activity::kinds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return kinds_;
}

void Activity::note_source(const std::string& stage, const std::vector<std::string>& topics) {
  std::lock_guard<std::mutex> lock(mutex_);
  sources_.emplace_back(stage, topics);
}

std::vector<std::pair<std::string, std::vector<std::string>>> Activity::sources() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return sources_;
}

void Activity::note_partitions(const std::string& stage, std::vector<PartitionLag> partitions,
                               std::size_t assigned) {
  if (partitions.size() > kMaxPartitionLags) partitions.resize(kMaxPartitionLags);
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& s : partitions_) {
    if (s.stage == stage) {
      s.partitions = std::move(partitions);
      s.assigned = assigned;
      return;
    }
  }
  partitions_.push_back({stage, std::move(partitions), assigned});
}

std::vector<StagePartitions> Activity::partitions() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return partitions_;
}

void Activity::publish(LiveEvent event) {
  if (event.json.size() > kMaxLiveJson) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    for (auto [key, value] : {std::pair{"eventId", &event.event_id},
                              std::pair{"eventType", &event.event_type},
                              std::pair{"productId", &event.product_id}}) {
      w.Key(key);
      w.String(value->data(), static_cast<rapidjson::SizeType>(value->size()));
    }
    w.Key("truncated");
    w.Bool(true);
    w.EndObject();
    event.json.assign(buf.GetString(), buf.GetSize());
  }
  auto item = std::make_shared<LiveEvent>(std::move(event));
  std::lock_guard<std::mutex> lock(mutex_);
  item->seq = next_seq_++;
  ring_[item->seq % ring_.size()] = std::move(item);
}

Activity::Slice Activity::since(std::uint64_t after, std::size_t max) const {
  Slice out;
  out.last = after;
  std::lock_guard<std::mutex> lock(mutex_);
  const std::uint64_t newest = next_seq_ - 1;
  if (after >= newest) return out;
  const std::uint64_t cap = ring_.size();
  const std::uint64_t oldest = newest >= cap ? newest - cap + 1 : 1;
  // Slots emptied when the last watcher left were never seen by anyone: skipped, not missed.
  std::uint64_t from = std::max(after, cleared_through_) + 1;
  if (from > newest) {
    out.last = newest;
    return out;
  }
  if (from < oldest) {
    out.missed = oldest - from;
    from = oldest;
  }
  for (std::uint64_t s = from; s <= newest && out.events.size() < max; ++s) {
    out.events.push_back(ring_[s % cap]);
    out.last = s;
  }
  return out;
}

void Activity::clear_live() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& slot : ring_) slot.reset();
  // Sequence numbers go on: a reader never sees one twice. Cleared slots are skipped, not
  // counted as missed (since()).
  cleared_through_ = next_seq_ - 1;
}

std::uint64_t Activity::last_seq() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return next_seq_ - 1;
}

void Activity::dead_letter(DeadLetterNote note) {
  if (note.payload.size() > kMaxDeadLetterPayload) {
    std::size_t cut = kMaxDeadLetterPayload;
    // Back to the start of a UTF-8 sequence: continuation bytes are 10xxxxxx.
    while (cut > 0 && (static_cast<unsigned char>(note.payload[cut]) & 0xC0) == 0x80) --cut;
    note.payload.resize(cut);
    note.payload_truncated = true;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  dead_[dead_count_ % dead_.size()] = std::move(note);
  ++dead_count_;
}

std::vector<DeadLetterNote> Activity::latest_dead_letters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<DeadLetterNote> out;
  const std::uint64_t n = std::min<std::uint64_t>(dead_count_, dead_.size());
  for (std::uint64_t i = 1; i <= n; ++i) out.push_back(dead_[(dead_count_ - i) % dead_.size()]);
  return out;
}

}  // namespace pemx
