#include "http_front/overview.hpp"

#include <algorithm>
#include <cmath>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "http_front/api.hpp"

namespace pemx::http_front {

namespace {

std::string label(const Labels& labels, const std::string& key) {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return {};
}

double sum(const Metrics& m, const std::string& name) {
  double total = 0;
  for (const auto& s : m.read(name)) total += s.value;
  return total;
}

std::map<std::string, double> by_label(const Metrics& m, const std::string& name,
                                       const std::string& key) {
  std::map<std::string, double> out;
  for (const auto& s : m.read(name)) out[label(s.labels, key)] += s.value;
  return out;
}

double rate(double now, double before, double seconds) {
  return seconds > 0 && now >= before ? (now - before) / seconds : 0;
}

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void number(Writer& w, const char* key, double v) {
  w.Key(key);
  if (!std::isfinite(v)) v = 0;  // e.g. a rate over a wall-clock step
  // Whole counts as integers; rates rounded to 0.01 so the page need not.
  if (v == static_cast<double>(static_cast<std::int64_t>(v))) {
    w.Int64(static_cast<std::int64_t>(v));
  } else {
    w.Double(static_cast<double>(static_cast<std::int64_t>(v * 100 + 0.5)) / 100);
  }
}

// Details and ids can come from hostile events: never let bad UTF-8 break the document.
void string(Writer& w, const char* key, std::string v) {
  if (!valid_utf8(v)) {
    for (char& c : v) {
      if (static_cast<unsigned char>(c) >= 0x80) c = '?';
    }
  }
  w.Key(key);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

// An ingest stage's lag per partition, the most lagging first, at most kOverviewPartitions
// (the stage keeps kMaxPartitionLags): "partitions" and "partitionsAssigned", the count of all.
void partitions(Writer& w, const std::string& stage, const std::vector<StagePartitions>& noted) {
  const StagePartitions* found = nullptr;
  for (const auto& n : noted) {
    if (n.stage == stage) found = &n;
  }
  w.Key("partitions");
  w.StartArray();
  if (found != nullptr) {
    const std::size_t shown = std::min(found->partitions.size(), kOverviewPartitions);
    for (std::size_t i = 0; i < shown; ++i) {
      const PartitionLag& p = found->partitions[i];
      w.StartObject();
      string(w, "topic", p.topic);
      w.Key("partition");
      w.Int(p.partition);
      w.Key("committed");  // null: not known yet (nothing consumed or committed)
      if (p.committed >= 0) w.Int64(p.committed);
      else w.Null();
      w.Key("highWatermark");
      if (p.high_watermark >= 0) w.Int64(p.high_watermark);
      else w.Null();
      w.Key("lag");
      w.Int64(p.lag);
      w.EndObject();
    }
  }
  w.EndArray();
  w.Key("partitionsAssigned");
  w.Uint64(found != nullptr ? found->assigned : 0);
}

}  // namespace

Overview::Overview(const Metrics& metrics, const Activity* activity, std::size_t max_points,
                   std::size_t rate_window_points)
    : metrics_(metrics),
      activity_(activity),
      max_points_(std::max<std::size_t>(max_points, 2)),
      window_(std::max<std::size_t>(rate_window_points, 1)) {}

Overview::Totals Overview::read(std::int64_t now_ms) const {
  Totals t;
  t.t = now_ms;
  t.per_ingest = by_label(metrics_, "pemx_kafka_ingest_consumed_total", "stage");
  if (activity_ != nullptr) {
    auto sources = activity_->sources();
    if (!sources.empty()) t.consumed = t.per_ingest[sources.front().first];
  }
  t.routed = sum(metrics_, "pemx_rules_router_routed_total");
  t.stored = sum(metrics_, "pemx_sqlite_store_stored_total");
  t.dead_letters = sum(metrics_, "pemx_rules_router_dead_lettered_total") +
                   sum(metrics_, "pemx_sqlite_store_dead_lettered_total");
  t.pushed = sum(metrics_, "pemx_http_front_pushed_total");
  t.per_topic = by_label(metrics_, "pemx_rules_router_routed_topic_total", "topic");
  return t;
}

void Overview::sample(std::int64_t now_ms) {
  Totals t = read(now_ms);
  std::lock_guard<std::mutex> lock(mutex_);
  points_.push_back(std::move(t));
  while (points_.size() > max_points_) points_.pop_front();
  // Only the last window_ + 1 points need their maps (for rates).
  if (points_.size() > window_ + 1) {
    auto& old = points_[points_.size() - window_ - 2];
    old.per_topic.clear();
    old.per_ingest.clear();
  }
}

std::string Overview::render(std::int64_t now_ms) const {
  Totals cur = read(now_ms);
  Totals base;
  struct Point {
    std::int64_t t;
    double consumed, routed, stored, dead_letters;  // rates over the interval ending at t
  };
  std::vector<Point> series;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!points_.empty()) {
      base = points_.size() > window_ ? points_[points_.size() - window_] : points_.front();
    }
    for (std::size_t i = 1; i < points_.size(); ++i) {
      const auto& a = points_[i - 1];
      const auto& b = points_[i];
      const double dt = static_cast<double>(b.t - a.t) / 1000.0;
      series.push_back({b.t, rate(b.consumed, a.consumed, dt), rate(b.routed, a.routed, dt),
                        rate(b.stored, a.stored, dt), rate(b.dead_letters, a.dead_letters, dt)});
    }
  }
  const bool have_base = base.t > 0 && base.t < now_ms;
  const double seconds = have_base ? static_cast<double>(now_ms - base.t) / 1000.0 : 0;

  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("now");
  w.Int64(now_ms);
  if (activity_ != nullptr) {
    string(w, "role", activity_->role);
    number(w, "uptimeSeconds",
           static_cast<double>(now_ms - activity_->started_at_ms) / 1000.0);
  }

  std::map<std::string, double> lag;
  for (const auto& s : metrics_.read("pemx_kafka_ingest_consumer_lag")) {
    lag[label(s.labels, "stage")] += s.value;
  }
  std::vector<StagePartitions> noted;
  if (activity_ != nullptr) noted = activity_->partitions();
  w.Key("ingest");
  w.StartArray();
  if (activity_ != nullptr) {
    for (const auto& [stage, topics] : activity_->sources()) {
      w.StartObject();
      string(w, "stage", stage);
      w.Key("topics");
      w.StartArray();
      for (const auto& topic : topics) w.String(topic.data(), static_cast<rapidjson::SizeType>(topic.size()));
      w.EndArray();
      double now = cur.per_ingest[stage];
      number(w, "consumed", now);
      auto b = base.per_ingest.find(stage);
      number(w, "rate", have_base && b != base.per_ingest.end() ? rate(now, b->second, seconds) : 0);
      number(w, "lag", lag[stage]);
      partitions(w, stage, noted);
      w.EndObject();
    }
  }
  w.EndArray();

  w.Key("topics");
  w.StartArray();
  for (const auto& [topic, count] : cur.per_topic) {
    w.StartObject();
    string(w, "topic", topic);
    number(w, "count", count);
    auto b = base.per_topic.find(topic);
    number(w, "rate", have_base ? rate(count, b == base.per_topic.end() ? 0 : b->second, seconds)
                                : 0);
    w.EndObject();
  }
  // The dead-letter topic (named by the newest dead letter: known once there is one), with
  // every stage's dead letters, marked so that the page can tell it from the routed topics.
  if (activity_ != nullptr) {
    auto latest = activity_->latest_dead_letters();
    if (!latest.empty() && !latest.front().dead_letter_topic.empty() &&
        cur.per_topic.count(latest.front().dead_letter_topic) == 0) {
      w.StartObject();
      string(w, "topic", latest.front().dead_letter_topic);
      number(w, "count", cur.dead_letters);
      number(w, "rate", have_base ? rate(cur.dead_letters, base.dead_letters, seconds) : 0);
      w.Key("deadLetters");
      w.Bool(true);
      w.EndObject();
    }
  }
  w.EndArray();

  w.Key("stored");
  if (metrics_.read("pemx_sqlite_store_stored_total").empty()) {
    w.Null();
  } else {
    w.StartObject();
    number(w, "count", cur.stored);
    number(w, "rate", have_base ? rate(cur.stored, base.stored, seconds) : 0);
    number(w, "duplicates", sum(metrics_, "pemx_sqlite_store_duplicates_total"));
    w.EndObject();
  }

  w.Key("pushed");
  w.StartObject();
  number(w, "count", cur.pushed);
  number(w, "failures", sum(metrics_, "pemx_http_front_push_failures_total"));
  w.EndObject();

  w.Key("deadLetters");
  w.StartObject();
  number(w, "count", cur.dead_letters);
  number(w, "rate", have_base ? rate(cur.dead_letters, base.dead_letters, seconds) : 0);
  w.Key("latest");
  w.StartArray();
  if (activity_ != nullptr) {
    for (const auto& d : activity_->latest_dead_letters()) {
      w.StartObject();
      w.Key("at");
      w.Int64(d.at_ms);
      string(w, "stage", d.stage);
      string(w, "reason", d.reason);
      string(w, "detail", d.detail);
      string(w, "eventId", d.event_id);
      string(w, "productId", d.product_id);
      string(w, "topic", d.source_topic);
      w.Key("partition");
      w.Int(d.source_partition);
      w.Key("offset");
      w.Int64(d.source_offset);
      string(w, "deadLetterTopic", d.dead_letter_topic);
      string(w, "payload", d.payload);
      w.Key("payloadTruncated");
      w.Bool(d.payload_truncated);
      w.EndObject();
    }
  }
  w.EndArray();
  w.EndObject();

  // Events kept (routed, stored) although they fail the reference push's field rules
  // (validation = "report"), per stage and failing field, as this process counted them: a web
  // role sees its store's counts, not the dist role's router's.
  w.Key("invalidEvents");
  w.StartArray();
  for (const char* name :
       {"pemx_rules_router_invalid_events_total", "pemx_sqlite_store_invalid_events_total"}) {
    for (const auto& s : metrics_.read(name)) {
      if (s.value <= 0) continue;
      w.StartObject();
      string(w, "stage", label(s.labels, "stage"));
      string(w, "reason", label(s.labels, "reason"));
      number(w, "count", s.value);
      w.EndObject();
    }
  }
  w.EndArray();

  w.Key("series");
  w.StartArray();
  for (const auto& p : series) {
    w.StartObject();
    w.Key("t");
    w.Int64(p.t);
    number(w, "consumed", p.consumed);
    number(w, "routed", p.routed);
    number(w, "stored", p.stored);
    number(w, "deadLetters", p.dead_letters);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

}  // namespace pemx::http_front
