#pragma once
// Activity: what the page's live view and overview show that metrics cannot: the latest events
// (as a router routed them or a store stored them) and the latest dead letters with their
// reasons. One per process, made by the supervisor and shared with every stage.
//
// Both are fixed-size rings, so memory stays bounded whatever the event rate. Publishing an
// event costs one copy of its bytes and a short lock, and only happens while someone watches
// (watched() is one relaxed atomic load), so the data path pays nothing when no page is open.
// Readers take what they have not seen by sequence number; a reader that fell further behind
// than the ring holds is told how many it missed.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace pemx {

struct LiveEvent {
  std::uint64_t seq = 0;     // assigned by publish(): 1, 2, 3…
  std::string kind;          // "routed" or "stored"
  std::int64_t at_ms = 0;    // when it was routed or stored (epoch milliseconds)
  std::string event_id;
  std::string product_id;
  std::string event_type;
  std::vector<std::string> topics;  // "routed" only: where it goes
  std::string json;  // the event as received; a stub when larger than kMaxLiveJson
};

// Live events larger than this are kept as a stub of their ids ({"eventId",…,"truncated"}),
// so the ring holds at most capacity × 64 KiB whatever the events' size.
inline constexpr std::size_t kMaxLiveJson = 64 * 1024;

// A dead letter's payload is kept up to this many bytes (cut at a UTF-8 boundary), so the
// ring of the latest ones holds at most capacity × 4 KiB of them.
inline constexpr std::size_t kMaxDeadLetterPayload = 4096;

struct DeadLetterNote {
  std::int64_t at_ms = 0;
  std::string stage;
  std::string reason;  // stable code
  std::string detail;
  std::string event_id;
  std::string product_id;
  // Where it came from and where it went, so an operator can find and replay it.
  std::string source_topic{};
  std::int32_t source_partition = -1;
  std::int64_t source_offset = -1;
  std::string dead_letter_topic{};
  std::string payload{};           // the message value as received, at most kMaxDeadLetterPayload
  bool payload_truncated = false;  // set by Activity::dead_letter when it cut the payload
};

// One partition an ingest stage has assigned, as its last lag update (each commit interval)
// saw it, for the overview's lag per partition.
struct PartitionLag {
  std::string topic;
  std::int32_t partition = -1;
  // The offset a restart would read from: this member's last confirmed commit, else the first
  // offset it consumed since the assignment (where the group's commit or the reset policy
  // started it); -1 while neither is known.
  std::int64_t committed = -1;
  std::int64_t high_watermark = -1;  // -1: not fetched yet
  // high_watermark - committed; while committed is unknown, the messages not yet consumed
  // (high watermark - position, or - low watermark), as the stage's total counts them.
  std::int64_t lag = 0;
};

// The partitions one ingest stage reports, the most lagging first: memory and the page stay
// bounded however many partitions it has assigned (the count of the rest is kept).
inline constexpr std::size_t kMaxPartitionLags = 256;

struct StagePartitions {
  std::string stage;
  std::vector<PartitionLag> partitions;  // at most kMaxPartitionLags, lag descending
  std::size_t assigned = 0;              // partitions assigned, reported or not
};

class Activity {
 public:
  explicit Activity(std::size_t live_capacity = 1024, std::size_t dead_letter_capacity = 20);

  // Set by the supervisor before any stage exists; read-only afterwards.
  std::string role;
  std::int64_t started_at_ms = 0;

  // A stage that publishes events of `kind` says so once, at construction.
  void offer(const std::string& kind);
  std::vector<std::string> kinds() const;
  // An ingest stage notes what it reads, so the overview can tell sources from internal hops.
  void note_source(const std::string& stage, const std::vector<std::string>& topics);
  std::vector<std::pair<std::string, std::vector<std::string>>> sources() const;
  // An ingest stage's lag per partition (replacing what it noted before); cut to
  // kMaxPartitionLags. Any thread.
  void note_partitions(const std::string& stage, std::vector<PartitionLag> partitions,
                       std::size_t assigned);
  std::vector<StagePartitions> partitions() const;  // in the order stages first noted them

  // Live events are kept only while someone watches.
  class Watch {
   public:
    explicit Watch(Activity& a) : a_(&a) { a_->watchers_.fetch_add(1); }
    // The last watcher gone, the ring is emptied: its events are stale by the next watch.
    ~Watch() {
      if (a_->watchers_.fetch_sub(1) == 1) a_->clear_live();
    }
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

   private:
    Activity* a_;
  };
  bool watched() const { return watchers_.load(std::memory_order_relaxed) > 0; }
  int watchers() const { return watchers_.load(); }

  void publish(LiveEvent event);

  struct Slice {
    std::vector<std::shared_ptr<const LiveEvent>> events;  // seq ascending
    std::uint64_t missed = 0;  // events after `after` that the ring no longer holds
    std::uint64_t last = 0;    // the seq to ask after next time: the last returned, else `after`
                               // (or the newest, when the ring was cleared past `after`)
  };
  // Up to `max` events with seq > after.
  Slice since(std::uint64_t after, std::size_t max) const;
  // The seq of the newest event (0 when none yet).
  std::uint64_t last_seq() const;
  std::size_t capacity() const { return ring_.size(); }

  void dead_letter(DeadLetterNote note);
  // Newest first.
  std::vector<DeadLetterNote> latest_dead_letters() const;

 private:
  void clear_live();

  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<const LiveEvent>> ring_;  // ring_[seq % capacity]
  std::uint64_t next_seq_ = 1;
  std::uint64_t cleared_through_ = 0;  // seqs up to this were dropped by clear_live()
  std::vector<DeadLetterNote> dead_;  // ring, dead_[n % capacity]
  std::uint64_t dead_count_ = 0;
  std::vector<std::string> kinds_;
  std::vector<std::pair<std::string, std::vector<std::string>>> sources_;
  std::vector<StagePartitions> partitions_;
  std::atomic<int> watchers_{0};
};

std::int64_t epoch_ms_now();

}  // namespace pemx
