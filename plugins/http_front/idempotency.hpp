#pragma once
// The push's idempotency: retries that cannot double an event (docs/architecture.md).
//
// IdempotencyTable remembers, for a window, every event POST /event had acknowledged by Kafka:
// per eventId only the SHA-256 of the bytes produced for it and where it landed (partition and
// offset), never the event; and per Idempotency-Key (the IETF draft
// draft-ietf-httpapi-idempotency-key-header) the fingerprint of the request and the answer
// sent. A push asks it first (begin_events, begin_key): what was accepted already is answered
// from the table and not produced again; an eventId seen with other content is a conflict.
// What a push is about to produce is reserved (pending) until the push ends: then accept()
// records it, or release() forgets it (a push Kafka did not acknowledge can be retried).
//
// Bounded: at most max_entries units, an event one unit, a key one plus the events of its
// answer (its size), and at most max_entries_per_token units of one owner (the name of the
// token that pushed, "" for pushes without one). Entries leave at the end of the window, or
// earlier, oldest first, when a new push needs room (counted in
// pemx_http_front_idempotency_evictions_total): first the pushing owner's own, down to its cap;
// then, only if the whole table is still full (the owners' caps add up to more than
// max_entries), the oldest of any owner. So while max_entries >= owners x the cap, one writer
// pushing many events evicts only its own entries, never another's protection. Pending
// entries never leave early, so a push finding only pending ones is refused (kFull).
//
// "Same content" is the SHA-256 of the text produced for the event (compact, keys in the order
// sent), not of the request: whitespace does not matter, reordered keys are other content
// (409). An Idempotency-Key's fingerprint is the SHA-256 of the raw request body bytes.
//
// Metrics: pemx_http_front_idempotent_replays_total (pushes answered from the table),
// pemx_http_front_idempotency_conflicts_total{kind=content|key|busy} (409 and 422),
// pemx_http_front_idempotency_evictions_total (entries dropped before their window ended),
// pemx_http_front_idempotency_entries (units in use).
//
// Pure: no IO, no threads of its own; the clock is injected. Threads: any (Asio threads ask,
// the push's poll thread accepts and releases), under one mutex, each call O(events).
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http_front/api.hpp"
#include "http_front/digest.hpp"
#include "pemx/keyed_hash.hpp"
#include "pemx/metrics.hpp"

namespace pemx::http_front {

struct IdempotencySettings {
  std::chrono::milliseconds window{600'000};  // 0: off (no table at all)
  std::size_t max_entries = 100'000;
  std::size_t max_entries_per_token = 10'000;  // more than max_entries: max_entries applies
};

// The smallest bound that remembers every valid push, Idempotency-Key included: its
// kMaxEvents events, and the key with the answer describing them (1 + kMaxEvents units).
inline constexpr std::size_t kMinIdempotencyEntries = 2 * kMaxEvents + 1;

// The longest Idempotency-Key accepted.
inline constexpr std::size_t kMaxIdempotencyKey = 255;
// The key of an Idempotency-Key field value: an sf-string ("…", as the draft writes it) or,
// as many clients send it, the bare text. nullopt: empty, too long, or not printable ASCII.
std::optional<std::string> parse_idempotency_key(std::string_view field);

class IdempotencyTable {
  struct EventEntry;
  using EventNode = std::pair<const std::string, EventEntry>;  // an element of events_

 public:
  using Clock = std::chrono::steady_clock;

  // One event of a push: its eventId and the digest of the bytes produced for it.
  struct Item {
    std::string_view event_id;
    Digest digest;
  };
  // What a push does with its events (begin_events).
  struct Plan {
    enum class Outcome {
      kProduce,   // produce `fresh` (maybe all), answer with `receipt` filled in by the push
      kReplay,    // every event was accepted before: answer with `receipt`, produce nothing
      kConflict,  // `ids` were accepted (or are in this request) with other content: 409
      kBusy,      // `ids` are being produced by another request just now: 409, retry later
      kFull,      // no room: every entry is pending: 503, retry later
    };
    Outcome outcome = Outcome::kProduce;
    // The request's indexes to produce: the first of each eventId not accepted before.
    std::vector<std::size_t> fresh;
    // For each event of the request: where it was accepted (known ones), or which of `fresh`
    // it is (source[i] = index into fresh; -1 for a known one).
    std::vector<Delivered> receipt;
    std::vector<int> source;
    std::size_t replayed = 0;  // events of the request accepted before
    std::vector<std::string> ids;  // kConflict, kBusy: the eventIds concerned
    // kProduce: the table's entries reserved for `fresh`, in its order, so that accept()
    // reaches them without looking each up again. An element of an unordered_map stays where
    // it is until erased, and a reserved entry is erased only through its own plan (release,
    // settle): eviction and expiry take accepted entries only.
    std::vector<EventNode*> reserved;
  };

  // What begin_key found for an Idempotency-Key.
  struct KeyLookup {
    enum class Outcome {
      kNew,       // reserved for this request: end it with accept_key or release_key
      kReplay,    // the same request was answered: `answer` is that answer
      kMismatch,  // the key was used with another request: 422
      kBusy,      // the first request with this key is still being answered: 409
      kFull,      // no room (every entry pending): 503
    };
    Outcome outcome = Outcome::kNew;
    Answer answer;
  };

  IdempotencyTable(IdempotencySettings settings, std::string topic, Metrics* metrics,
                   std::function<Clock::time_point()> now = &Clock::now);

  // The plan for a push's events; kProduce reserves plan.fresh (end with accept or release).
  // owner: the pushing token's name ("" without one), whose entries make room first.
  Plan begin_events(const std::vector<Item>& items, std::string_view owner = {});
  // plan.fresh were acknowledged at `delivered` (in the order of fresh): remembered for the
  // window. Fills plan.receipt for them.
  void accept(const std::vector<Item>& items, Plan& plan, const std::vector<Delivered>& delivered);
  // plan.fresh were not acknowledged: forgotten, so a retry produces them.
  void release(const std::vector<Item>& items, const Plan& plan);
  // A push that failed in part, once every report is in: the fresh events Kafka acknowledged
  // (outcomes[f] set, in the order of fresh) are remembered as accept() does, the others
  // forgotten. So a retry of a partly failed (or late-acknowledged) push produces only what
  // Kafka does not hold yet.
  void settle(const std::vector<Item>& items, const Plan& plan,
              const std::vector<std::optional<Delivered>>& outcomes);

  // key: scoped by the caller (e.g. with the client's credentials); fingerprint: the request's.
  KeyLookup begin_key(const std::string& key, const Digest& fingerprint,
                      std::string_view owner = {});
  // The request with this key was answered with `answer` (a success): replayed for the window.
  // `events`: how many events the answer describes (its weight in the bound).
  void accept_key(const std::string& key, const Answer& answer, std::size_t events);
  void release_key(const std::string& key);

  // Entries in units (events, keys and their weight), pending included; and one owner's.
  std::size_t size() const;
  std::size_t size(std::string_view owner) const;

 private:
  struct Owner;
  struct EventEntry {
    Digest digest;
    Owner* owner = nullptr;  // a node of owners_: stable
    bool pending = true;
    std::int32_t partition = -1;
    std::int64_t offset = -1;
  };
  struct KeyEntry {
    Digest fingerprint;
    Owner* owner = nullptr;
    bool pending = true;
    std::size_t weight = 1;
    Answer answer;
  };
  // Accepted entries in the order accepted (so by expiry): the map's key (its node is stable).
  struct Aged {
    const std::string* id;
    Clock::time_point at;
  };
  // One owner's units (pending included) and accepted entries, oldest first.
  struct Owner {
    std::size_t units = 0;
    std::deque<Aged> event_ages;
    std::deque<Aged> key_ages;
  };

  void expire(Clock::time_point now);
  Owner& owner(std::string_view name);
  std::size_t cap() const {
    return std::min(settings_.max_entries_per_token, settings_.max_entries);
  }
  // Drops accepted entries until `units` more of `o` fit: o's oldest down to its cap, then the
  // oldest of any owner down to max_entries; false when they cannot.
  bool make_room(Owner& o, std::size_t units);
  // Drops o's oldest accepted entry (nullptr: the oldest of any owner); false if none.
  bool pop_oldest(Owner* o);
  void add_units(Owner& o, std::size_t units);
  void remove_units(Owner& o, std::size_t units);
  void publish();  // the entries gauge

  IdempotencySettings settings_;
  std::string topic_;
  std::function<Clock::time_point()> now_;
  Counter* evictions_ = nullptr;
  Counter* replays_ = nullptr;
  Counter* content_conflicts_ = nullptr;
  Counter* key_mismatches_ = nullptr;
  Counter* busy_ = nullptr;
  Gauge* entries_ = nullptr;
  mutable std::mutex mutex_;
  // Keyed by what writers choose, so hashed with a secret key (keyed_hash.hpp: no flood of
  // colliding eventIds); looked up by string_view (no copy of the eventId per lookup).
  std::unordered_map<std::string, EventEntry, KeyedHash, std::equal_to<>> events_;
  std::unordered_map<std::string, KeyEntry, KeyedHash, std::equal_to<>> keys_;
  std::map<std::string, Owner, std::less<>> owners_;
  std::size_t units_ = 0;
};

}  // namespace pemx::http_front
