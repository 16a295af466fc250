#include "http_front/idempotency.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <stdexcept>

namespace pemx::http_front {

std::optional<std::string> parse_idempotency_key(std::string_view field) {
  while (!field.empty() && (field.front() == ' ' || field.front() == '\t')) field.remove_prefix(1);
  while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) field.remove_suffix(1);
  // RFC 8941 sf-string: "…" with \" and \\ escapes, printable ASCII inside.
  std::string key;
  if (field.size() >= 2 && field.front() == '"' && field.back() == '"') {
    field = field.substr(1, field.size() - 2);
    for (std::size_t i = 0; i < field.size(); ++i) {
      char c = field[i];
      if (c == '\\') {
        if (++i == field.size() || (field[i] != '"' && field[i] != '\\')) return std::nullopt;
        c = field[i];
      } else if (c == '"') {
        return std::nullopt;
      }
      key += c;
    }
  } else {
    key.assign(field);
  }
  if (key.empty() || key.size() > kMaxIdempotencyKey) return std::nullopt;
  for (char c : key) {
    if (c < 0x20 || c > 0x7e) return std::nullopt;
  }
  return key;
}

IdempotencyTable::IdempotencyTable(IdempotencySettings settings, std::string topic,
                                   Metrics* metrics, std::function<Clock::time_point()> now)
    : settings_(settings), topic_(std::move(topic)), now_(std::move(now)) {
  if (metrics != nullptr) {
    const std::string conflicts = "pemx_http_front_idempotency_conflicts_total";
    const std::string conflicts_help =
        "POST /event refused by the idempotency table: content (an eventId accepted with other "
        "content, 409), key (an Idempotency-Key used with another request, 422), busy (the "
        "same events or key being pushed by another request, 409)";
    evictions_ = &metrics->counter("pemx_http_front_idempotency_evictions_total",
                                   "Idempotency entries dropped before their window ended "
                                   "because idempotency_max_entries, or the pushing token's "
                                   "idempotency_max_entries_per_token, was reached");
    replays_ = &metrics->counter("pemx_http_front_idempotent_replays_total",
                                 "POST /event answered from the idempotency table, nothing "
                                 "produced (Idempotent-Replay: true)");
    content_conflicts_ = &metrics->counter(conflicts, conflicts_help, {{"kind", "content"}});
    key_mismatches_ = &metrics->counter(conflicts, conflicts_help, {{"kind", "key"}});
    busy_ = &metrics->counter(conflicts, conflicts_help, {{"kind", "busy"}});
    entries_ = &metrics->gauge("pemx_http_front_idempotency_entries",
                               "Units in the idempotency table (an event one, an "
                               "Idempotency-Key one plus its answer's events), pending included");
  }
}

namespace {
void bump(Counter* c) {
  if (c != nullptr) c->inc();
}
}  // namespace

void IdempotencyTable::publish() {
  if (entries_ != nullptr) entries_->set(static_cast<double>(units_));
}

std::size_t IdempotencyTable::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return units_;
}

std::size_t IdempotencyTable::size(std::string_view owner) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = owners_.find(owner);
  return it == owners_.end() ? 0 : it->second.units;
}

IdempotencyTable::Owner& IdempotencyTable::owner(std::string_view name) {
  auto it = owners_.find(name);
  if (it == owners_.end()) it = owners_.emplace(std::string(name), Owner{}).first;
  return it->second;
}

void IdempotencyTable::add_units(Owner& o, std::size_t units) {
  units_ += units;
  o.units += units;
}

void IdempotencyTable::remove_units(Owner& o, std::size_t units) {
  units_ -= units;
  o.units -= units;
}

void IdempotencyTable::expire(Clock::time_point now) {
  const auto cutoff = now - settings_.window;
  for (auto o = owners_.begin(); o != owners_.end();) {
    Owner& owner = o->second;
    // Erased through an iterator: the aged entry points at the key being erased.
    while (!owner.event_ages.empty() && owner.event_ages.front().at <= cutoff) {
      events_.erase(events_.find(*owner.event_ages.front().id));
      owner.event_ages.pop_front();
      remove_units(owner, 1);
    }
    while (!owner.key_ages.empty() && owner.key_ages.front().at <= cutoff) {
      auto it = keys_.find(*owner.key_ages.front().id);
      remove_units(owner, it->second.weight);
      keys_.erase(it);
      owner.key_ages.pop_front();
    }
    // An owner with nothing left (no entry points at it) goes: tokens come and go by reloads.
    o = owner.units == 0 ? owners_.erase(o) : std::next(o);
  }
}

bool IdempotencyTable::pop_oldest(Owner* only) {
  // The owner whose oldest accepted entry (event or key) is the oldest: one owner, or a scan
  // over the owners (a few: one per writer token).
  Owner* from = nullptr;
  bool event = false;
  Clock::time_point oldest{};
  auto consider = [&](Owner& o) {
    if (!o.event_ages.empty() && (from == nullptr || o.event_ages.front().at < oldest)) {
      from = &o;
      event = true;
      oldest = o.event_ages.front().at;
    }
    if (!o.key_ages.empty() && (from == nullptr || o.key_ages.front().at < oldest)) {
      from = &o;
      event = false;
      oldest = o.key_ages.front().at;
    }
  };
  if (only != nullptr) {
    consider(*only);
  } else {
    for (auto& [name, o] : owners_) consider(o);
  }
  if (from == nullptr) return false;
  if (event) {
    events_.erase(events_.find(*from->event_ages.front().id));
    from->event_ages.pop_front();
    remove_units(*from, 1);
  } else {
    auto it = keys_.find(*from->key_ages.front().id);
    remove_units(*from, it->second.weight);
    keys_.erase(it);
    from->key_ages.pop_front();
  }
  bump(evictions_);
  return true;
}

bool IdempotencyTable::make_room(Owner& o, std::size_t units) {
  if (units > cap()) return false;
  while (o.units + units > cap()) {
    if (!pop_oldest(&o)) return false;
  }
  while (units_ + units > settings_.max_entries) {
    if (!pop_oldest(nullptr)) return false;
  }
  return true;
}

IdempotencyTable::Plan IdempotencyTable::begin_events(const std::vector<Item>& items,
                                                      std::string_view owner_name) {
  Plan plan;
  plan.receipt.resize(items.size());
  plan.source.assign(items.size(), -1);
  std::lock_guard<std::mutex> lock(mutex_);
  expire(now_());
  // First the verdict, touching nothing: a conflict anywhere refuses the whole request (it
  // outranks a push in progress: retrying would not help it). Within the request, an eventId
  // repeated with the same content is produced once; with other content it is a conflict.
  // first[i]: the index of the first event of the request with items[i]'s eventId (one sort,
  // one allocation: no node per event).
  // Sorted by the eventIds' hashes, not their text: UUIDs from one source often share a long
  // prefix, which every comparison of a text sort read again.
  std::vector<std::size_t> first(items.size());
  {
    std::vector<std::pair<std::size_t, std::size_t>> order(items.size());  // (hash, index)
    const auto hash = events_.hash_function();
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = {hash(items[i].event_id), i};
    std::sort(order.begin(), order.end());  // equal hashes in request order
    for (std::size_t k = 0; k < order.size(); ++k) {
      const std::size_t i = order[k].second;
      first[i] = i;
      // An earlier event with the same eventId is in the run of equal hashes before it.
      for (std::size_t j = k; j-- > 0 && order[j].first == order[k].first;) {
        const std::size_t e = order[j].second;
        if (items[e].event_id == items[i].event_id) {
          first[i] = first[e];
          break;
        }
      }
    }
  }
  std::vector<std::string> busy;
  // known[i]: items[i]'s eventId is in the table (a first occurrence only), so that the fresh
  // ones, nearly every event of a push, are looked up once.
  std::vector<char> known(items.size(), 0);
  for (std::size_t i = 0; i < items.size(); ++i) {
    const Item& item = items[i];
    if (first[i] != i) {
      if (items[first[i]].digest != item.digest) plan.ids.emplace_back(item.event_id);
      continue;
    }
    auto it = events_.find(item.event_id);
    if (it == events_.end()) continue;
    known[i] = 1;
    if (it->second.digest != item.digest) {
      plan.ids.emplace_back(item.event_id);
    } else if (it->second.pending) {
      busy.emplace_back(item.event_id);
    }
  }
  if (!plan.ids.empty()) {
    plan.outcome = Plan::Outcome::kConflict;
    bump(content_conflicts_);
    return plan;
  }
  if (!busy.empty()) {
    plan.outcome = Plan::Outcome::kBusy;
    plan.ids = std::move(busy);
    bump(busy_);
    return plan;
  }
  // Then the known ones' receipts (copied first: making room may drop them), and the fresh
  // ones reserved.
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::size_t f = first[i];
    if (f != i) continue;
    if (!known[i]) {
      plan.source[i] = static_cast<int>(plan.fresh.size());
      plan.fresh.push_back(i);
    } else {
      const EventEntry& e = events_.find(items[i].event_id)->second;  // nothing erased since
      plan.receipt[i] = {topic_, e.partition, e.offset};
      ++plan.replayed;
    }
  }
  if (!plan.fresh.empty()) {
    Owner& o = owner(owner_name);
    if (!make_room(o, plan.fresh.size())) {
      plan.outcome = Plan::Outcome::kFull;
      plan.fresh.clear();
      publish();
      return plan;
    }
    plan.reserved.reserve(plan.fresh.size());
    for (std::size_t i : plan.fresh) {
      // Always added: fresh ids were not in the table, and are distinct.
      auto it = events_.emplace(std::string(items[i].event_id), EventEntry{items[i].digest, &o})
                    .first;
      plan.reserved.push_back(&*it);
      add_units(o, 1);
    }
  }
  for (std::size_t i = 0; i < items.size(); ++i) {  // repeats within the request
    const std::size_t f = first[i];
    if (f == i) continue;
    plan.source[i] = plan.source[f];
    plan.receipt[i] = plan.receipt[f];
    if (plan.source[i] < 0) ++plan.replayed;
  }
  if (plan.fresh.empty()) {
    plan.outcome = Plan::Outcome::kReplay;
    bump(replays_);
  }
  publish();
  return plan;
}

void IdempotencyTable::accept(const std::vector<Item>& items, Plan& plan,
                              const std::vector<Delivered>& delivered) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = now_();
  for (std::size_t f = 0; f < plan.reserved.size(); ++f) {
    EventNode& node = *plan.reserved[f];
    if (!node.second.pending) continue;  // cannot happen: reserved
    if (f < delivered.size()) {
      node.second.partition = delivered[f].partition;
      node.second.offset = delivered[f].offset;
    }
    node.second.pending = false;
    node.second.owner->event_ages.push_back({&node.first, now});
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (plan.source[i] >= 0 && static_cast<std::size_t>(plan.source[i]) < delivered.size()) {
      plan.receipt[i] = delivered[static_cast<std::size_t>(plan.source[i])];
    }
  }
  publish();
}

void IdempotencyTable::release(const std::vector<Item>& items, const Plan& plan) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (std::size_t i : plan.fresh) {
    auto it = events_.find(items[i].event_id);
    if (it == events_.end() || !it->second.pending) continue;
    remove_units(*it->second.owner, 1);
    events_.erase(it);
  }
  publish();
}

void IdempotencyTable::settle(const std::vector<Item>& items, const Plan& plan,
                              const std::vector<std::optional<Delivered>>& outcomes) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = now_();
  for (std::size_t f = 0; f < plan.fresh.size(); ++f) {
    auto it = events_.find(items[plan.fresh[f]].event_id);
    if (it == events_.end() || !it->second.pending) continue;
    if (f < outcomes.size() && outcomes[f]) {
      it->second.partition = outcomes[f]->partition;
      it->second.offset = outcomes[f]->offset;
      it->second.pending = false;
      it->second.owner->event_ages.push_back({&it->first, now});
    } else {
      remove_units(*it->second.owner, 1);
      events_.erase(it);
    }
  }
  publish();
}

IdempotencyTable::KeyLookup IdempotencyTable::begin_key(const std::string& key,
                                                        const Digest& fingerprint,
                                                        std::string_view owner_name) {
  KeyLookup found;
  std::lock_guard<std::mutex> lock(mutex_);
  expire(now_());
  auto it = keys_.find(key);
  if (it != keys_.end()) {
    if (it->second.fingerprint != fingerprint) {
      found.outcome = KeyLookup::Outcome::kMismatch;
      bump(key_mismatches_);
    } else if (it->second.pending) {
      found.outcome = KeyLookup::Outcome::kBusy;
      bump(busy_);
    } else {
      found.outcome = KeyLookup::Outcome::kReplay;
      found.answer = it->second.answer;
      bump(replays_);
    }
    return found;
  }
  Owner& o = owner(owner_name);
  if (!make_room(o, 1)) {
    found.outcome = KeyLookup::Outcome::kFull;
    publish();
    return found;
  }
  keys_.emplace(key, KeyEntry{fingerprint, &o, true, 1, {}});
  add_units(o, 1);
  publish();
  return found;
}

void IdempotencyTable::accept_key(const std::string& key, const Answer& answer,
                                  std::size_t events) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = keys_.find(key);
  if (it == keys_.end() || !it->second.pending) return;  // cannot happen: reserved
  // Its weight grows from 1 to 1 + events: older entries make room, or it is not kept.
  Owner& o = *it->second.owner;
  if (!make_room(o, events)) {
    remove_units(o, it->second.weight);
    keys_.erase(it);
    bump(evictions_);
    publish();
    return;
  }
  it->second.pending = false;
  it->second.weight += events;
  add_units(o, events);
  it->second.answer = answer;
  o.key_ages.push_back({&it->first, now_()});
  publish();
}

void IdempotencyTable::release_key(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = keys_.find(key);
  if (it == keys_.end() || !it->second.pending) return;
  remove_units(*it->second.owner, it->second.weight);
  keys_.erase(it);
  publish();
}

}  // namespace pemx::http_front
