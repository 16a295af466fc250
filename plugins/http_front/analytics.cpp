#include "http_front/analytics.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include "event/time.hpp"

namespace pemx::http_front {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

std::string_view bucket_name(std::int64_t ms) {
  for (const auto& b : kBucketNames) {
    if (b.ms == ms) return b.name;
  }
  return {};
}

std::string bucket_list() {
  std::string out;
  for (const auto& b : kBucketNames) out += (out.empty() ? "" : ", ") + std::string(b.name);
  return out;
}

void histogram(Writer& w, const char* key, const char* unit, const ChangeHistogram& h) {
  w.Key(key);
  w.StartObject();
  w.Key("unit");
  w.String(unit);
  w.Key("bins");
  w.StartArray();
  auto bin = [&](std::optional<double> from, std::optional<double> to, std::int64_t n) {
    w.StartObject();
    w.Key("from");
    from ? w.Double(*from) : w.Null();
    w.Key("to");
    to ? w.Double(*to) : w.Null();
    w.Key("count");
    w.Int64(n);
    w.EndObject();
  };
  bin(std::nullopt, kAnalyticsBinLow, h.below);
  for (int i = 0; i < kAnalyticsBins; ++i) {
    bin(kAnalyticsBinLow + i * kAnalyticsBinWidth, kAnalyticsBinLow + (i + 1) * kAnalyticsBinWidth,
        h.bins[i]);
  }
  bin(kAnalyticsBinLow + kAnalyticsBins * kAnalyticsBinWidth, std::nullopt, h.above);
  w.EndArray();
  w.EndObject();
}

}  // namespace

std::variant<AnalyticsQuery, Answer> parse_analytics_request(std::string_view query_string,
                                                             std::int64_t now_ms) {
  auto params = parse_query(query_string);
  if (!params) return error_answer(400, "malformed percent-encoding in the query string");
  std::optional<std::int64_t> from;
  std::optional<std::int64_t> to;
  std::int64_t bucket = 0;  // the width asked for; 0: none (every named width is more)
  AnalyticsQuery q;
  q.top = kDefaultAnalyticsTop;
  std::vector<FieldError> errors;
  for (const auto& [k, v] : *params) {
    if (!valid_utf8(k) || !valid_utf8(v)) {
      return error_answer(400, "the query string is not valid UTF-8 once decoded");
    }
    if (k == "from" || k == "to") {
      auto ms = event::iso8601_to_epoch_ms(v);
      if (!ms) {
        errors.push_back({json_quote(v), k + " must be a valid ISO 8601 date", k, "query"});
      } else {
        (k == "from" ? from : to) = *ms;
      }
    } else if (k == "bucket") {
      bucket = 0;
      for (const auto& b : kBucketNames) {
        if (b.name == v) bucket = b.ms;
      }
      if (bucket == 0) {
        errors.push_back({json_quote(v), "bucket must be one of " + bucket_list(), k, "query"});
      }
    } else if (k == "top") {
      std::size_t n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size() || n < 1 || n > kAnalyticsMaxTop) {
        errors.push_back({json_quote(v), "top must be an integer from 1 to " +
                                         std::to_string(kAnalyticsMaxTop), k, "query"});
      } else {
        q.top = n;
      }
    } else {
      errors.push_back({json_quote(v), "unknown parameter " + k +
                                       "; accepted: from, to, bucket, top", k, "query"});
    }
  }
  if (!errors.empty()) return errors_answer(400, errors);
  // A default end or start stops at the years a request can name (0000-9999), so that the
  // answer's from and to can always be sent back as they are.
  constexpr std::int64_t kFirstMs = -62'167'219'200'000;  // 0000-01-01T00:00:00.000Z
  constexpr std::int64_t kLastMs = 253'402'300'799'999;   // 9999-12-31T23:59:59.999Z
  q.to_ms = to.value_or(from ? std::min(*from + kDefaultAnalyticsSpanMs, kLastMs) : now_ms);
  q.from_ms = from.value_or(std::max(q.to_ms - kDefaultAnalyticsSpanMs, kFirstMs));
  const std::int64_t span = q.to_ms - q.from_ms;
  if (span <= 0) {
    errors.push_back({json_quote(event::epoch_ms_to_iso8601(q.to_ms)), "to must be after from", "to",
                      "query"});
  } else if (span > kAnalyticsMaxSpanMs) {
    errors.push_back({json_quote(event::epoch_ms_to_iso8601(q.to_ms)),
                      "the window from from to to is longer than " +
                          std::to_string(kAnalyticsMaxSpanMs / 86'400'000) + " days",
                      "to", "query"});
  }
  if (!errors.empty()) return errors_answer(400, errors);
  if (bucket > 0) {
    if ((span + bucket - 1) / bucket > kAnalyticsMaxBuckets) {
      errors.push_back({json_quote(bucket_name(bucket)),
                        "the window makes more than " + std::to_string(kAnalyticsMaxBuckets) +
                            " buckets of this width; choose a wider bucket",
                        "bucket", "query"});
      return errors_answer(400, errors);
    }
    q.bucket_ms = bucket;
  } else {
    q.bucket_ms = kBucketNames.back().ms;  // 31 days at most: 5 buckets of 7 days
    for (const auto& b : kBucketNames) {
      if ((span + b.ms - 1) / b.ms <= kDefaultBuckets) {
        q.bucket_ms = b.ms;
        break;
      }
    }
  }
  return q;
}

Answer analytics_answer(const AnalyticsQuery& q, const Analytics& a) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("from");
  str(w, event::epoch_ms_to_iso8601(q.from_ms));
  w.Key("to");
  str(w, event::epoch_ms_to_iso8601(q.to_ms));
  w.Key("bucket");
  str(w, bucket_name(q.bucket_ms));
  w.Key("bucketMs");
  w.Int64(q.bucket_ms);
  w.Key("events");
  w.Int64(a.events);
  w.Key("complete");
  w.Bool(!a.budget_reached);
  w.Key("rowBudget");
  w.Uint64(q.row_budget);
  w.Key("series");
  w.StartArray();
  for (const auto& c : a.counts) {
    w.StartObject();
    w.Key("start");
    str(w, event::epoch_ms_to_iso8601(q.from_ms + c.bucket * q.bucket_ms));
    w.Key("eventType");
    str(w, c.event_type);
    w.Key("region");
    str(w, c.region);
    w.Key("count");
    w.Int64(c.count);
    w.EndObject();
  }
  w.EndArray();
  w.Key("seriesCapped");
  w.Bool(a.counts_capped);
  w.Key("topProducts");
  w.StartArray();
  for (const auto& p : a.top) {
    w.StartObject();
    w.Key("productId");
    str(w, p.product_id);
    w.Key("changes");
    w.Int64(p.changes);
    w.EndObject();
  }
  w.EndArray();
  histogram(w, "priceChanges", "percent", a.price_changes);
  histogram(w, "discountChanges", "percentage points", a.discount_changes);
  w.EndObject();
  return {200, std::string(buf.GetString(), buf.GetSize()), {}};
}

}  // namespace pemx::http_front
