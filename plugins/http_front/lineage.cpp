#include "http_front/lineage.hpp"

#include <charconv>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace pemx::http_front {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

template <class Int>
std::optional<Int> number(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  Int value{};
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  // Partitions and offsets are never negative: a header saying so was not the router's.
  if (ec != std::errc() || ptr != end || value < 0) return std::nullopt;
  return value;
}

void write_message(Writer& w, const FoundMessage& m) {
  w.Key("topic");
  str(w, m.topic);
  w.Key("partition");
  w.Int(m.partition);
  w.Key("offset");
  w.Int64(m.offset);
  w.Key("timestamp");
  w.Int64(m.timestamp_ms);
}

void write_row(Writer& w, const StoredRow& row) {
  w.StartObject();
  w.Key("eventId");
  str(w, row.event.event_id);
  w.Key("eventType");
  str(w, row.event.event_type);
  w.Key("productId");
  str(w, row.event.product_id);
  w.Key("region");
  str(w, row.event.region);
  w.Key("createdAt");
  str(w, row.event.created_at);
  w.Key("data");
  // The store keeps "data" as JSON text it wrote itself ("{}" when absent).
  const std::string& data = row.event.data_json.empty() ? std::string("{}") : row.event.data_json;
  w.RawValue(data.data(), data.size(), rapidjson::kObjectType);
  w.Key("storedAt");
  w.Int64(row.stored_at_ms);
  w.Key("storage");
  w.StartObject();
  w.Key("topic");
  str(w, row.source_topic);
  w.Key("partition");
  w.Int(row.source_partition);
  w.Key("offset");
  w.Int64(row.source_offset);
  w.EndObject();
  w.EndObject();
}

void write_dead_letters(Writer& w, const LineageReport& r) {
  w.Key("deadLetters");
  w.StartArray();
  for (const auto& m : r.dead_letters) {
    const RouterHeaders h = parse_router_headers(m.headers);
    w.StartObject();
    write_message(w, m);
    w.Key("reason");
    str(w, h.dlq_reason.value_or(""));
    w.Key("detail");
    str(w, h.dlq_detail.value_or(""));
    w.Key("stage");
    str(w, h.dlq_stage.value_or(""));
    w.EndObject();
  }
  w.EndArray();
  w.Key("deadLetterScan");
  w.StartObject();
  w.Key("topic");
  str(w, r.dead_letter_topic);
  w.Key("scanned");
  w.Uint64(r.dead_letter_scanned);
  w.Key("bounds");
  str(w, r.dead_letter_bounds);
  // complete: every dead-letter partition was searched to its bound (not cut short by the
  // timeout, an error or a cancel); truncated: more dead letters were found than are listed.
  w.Key("complete");
  w.Bool(r.dead_letter_problem.empty() && !r.dead_letters_unknown);
  w.Key("truncated");
  w.Bool(r.dead_letters_truncated);
  if (!r.dead_letter_problem.empty()) {
    w.Key("problem");
    str(w, r.dead_letter_problem);
  }
  w.EndObject();
}

// The error of an answer when nothing could be searched (lineage_unavailable).
std::string unavailable_error(int status) {
  return status == 504 ? "no Kafka search of this lookup finished within lineage_timeout: the "
                         "cluster does not answer (see each output's reason); retry later"
                       : "no Kafka search of this lookup could be made: the cluster failed (see "
                         "each output's reason); retry later";
}

Answer finish(int status, const rapidjson::StringBuffer& buf) {
  Answer a{status, std::string(buf.GetString(), buf.GetSize()), {}};
  if (status == 503) a.headers.emplace_back("Retry-After", "5");
  return a;
}

}  // namespace

bool is_lineage_path(std::string_view path) {
  return path.size() > kLineagePrefix.size() + kLineageSuffix.size() &&
         path.starts_with(kLineagePrefix) && path.ends_with(kLineageSuffix);
}

std::variant<std::string, Answer> lineage_event_id(std::string_view path) {
  std::string_view segment = path.substr(
      kLineagePrefix.size(), path.size() - kLineagePrefix.size() - kLineageSuffix.size());
  if (segment.find('/') != std::string_view::npos) {
    return error_answer(404, "no such route: " + std::string(path.substr(0, 200)));
  }
  // A path segment: '+' is itself, not a space (url_decode is for query strings).
  std::string escaped;
  for (char c : segment) escaped += c == '+' ? std::string("%2B") : std::string(1, c);
  auto id = url_decode(escaped);
  if (!id) return error_answer(400, "malformed percent-encoding in the eventId");
  if (!valid_utf8(*id)) return error_answer(400, "the eventId is not valid UTF-8");
  if (id->empty() || id->size() > kMaxLineageIdBytes) {
    return error_answer(400, "the eventId must be 1 to " + std::to_string(kMaxLineageIdBytes) +
                                 " bytes");
  }
  return std::move(*id);
}

std::optional<std::string> header_value(const MessageHeaders& headers, std::string_view name) {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  return std::nullopt;
}

std::string cut_header_value(std::string_view value, std::size_t max) {
  if (value.size() <= max) return std::string(value);
  std::size_t n = max;
  // Back to the start of a UTF-8 sequence (a continuation byte is 10xxxxxx).
  while (n > 0 && (static_cast<unsigned char>(value[n]) & 0xC0) == 0x80) --n;
  return std::string(value.substr(0, n)) + "\xE2\x80\xA6";
}

std::string lossy_utf8(std::string_view value) {
  if (valid_utf8(value)) return std::string(value);
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size();) {
    std::size_t len = 1;
    // The shortest valid sequence from i (a whole code point), if there is one.
    while (len <= 4 && (i + len > value.size() || !valid_utf8(value.substr(i, len)))) ++len;
    if (len <= 4) {
      out.append(value.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD for the byte that starts no valid sequence
      ++i;
    }
  }
  return out;
}

void HeaderPicker::offer(std::string_view name, std::string_view value) {
  for (std::size_t i = 0; i < std::size(kLineageHeaders); ++i) {
    if (name != kLineageHeaders[i]) continue;
    if (value.size() > kMaxLineageHeaderBytes) ++skipped_;
    // Any producer writes headers: bytes that are not UTF-8 become U+FFFD, so that the answer
    // stays valid JSON (replacing may lengthen the value: it is cut again).
    std::string kept = lossy_utf8(cut_header_value(value, kMaxLineageHeaderBytes));
    if (kept.size() > kMaxLineageHeaderBytes) kept = cut_header_value(kept, kMaxLineageHeaderBytes);
    kept_[i] = std::move(kept);
    return;
  }
  ++skipped_;
}

MessageHeaders HeaderPicker::take() {
  MessageHeaders out;
  for (std::size_t i = 0; i < std::size(kLineageHeaders); ++i) {
    if (!kept_[i]) continue;
    out.emplace_back(std::string(kLineageHeaders[i]), std::move(*kept_[i]));
    kept_[i].reset();
  }
  return out;
}

std::size_t held_bytes(const FoundMessage& m) {
  std::size_t n = m.topic.size();
  for (const auto& [name, value] : m.headers) n += name.size() + value.size();
  return n;
}

bool HeldBudget::admit_dead_letter(const FoundMessage& m) {
  const std::size_t bytes = held_bytes(m);
  if (dead_letters_ >= max_dead_letters_ || held_ + bytes > max_bytes_) {
    truncated_ = true;
    return false;
  }
  ++dead_letters_;
  held_ += bytes;
  return true;
}

std::optional<int> lineage_unavailable(const LineageReport& r) {
  std::size_t searches = 0;
  std::size_t unknown = 0;
  if (r.row) {
    ++searches;
    unknown += r.storage_unknown ? 1 : 0;
  }
  for (const auto& o : r.outputs) {
    ++searches;
    unknown += o.unknown ? 1 : 0;
  }
  if (!r.dead_letter_topic.empty()) {
    ++searches;
    unknown += r.dead_letters_unknown ? 1 : 0;
  }
  if (searches == 0 || unknown < searches) return std::nullopt;
  return r.timed_out ? 504 : 503;
}

RouterHeaders parse_router_headers(const MessageHeaders& headers) {
  RouterHeaders h;
  h.event_id = header_value(headers, "pemx-event-id");
  h.source_topic = header_value(headers, "pemx-source-topic");
  h.source_partition = number<std::int32_t>(header_value(headers, "pemx-source-partition"));
  h.source_offset = number<std::int64_t>(header_value(headers, "pemx-source-offset"));
  h.rules_version = header_value(headers, "pemx-rules-version");
  h.dlq_reason = header_value(headers, "pemx-dlq-reason");
  h.dlq_detail = header_value(headers, "pemx-dlq-detail");
  h.dlq_stage = header_value(headers, "pemx-dlq-stage");
  return h;
}

std::int32_t murmur2(std::string_view key) {
  constexpr std::uint32_t kSeed = 0x9747b28c;
  constexpr std::uint32_t kMul = 0x5bd1e995;
  const auto byte = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(key[i]));
  };
  const std::size_t n = key.size();
  std::uint32_t h = kSeed ^ static_cast<std::uint32_t>(n);
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {  // little-endian blocks of four bytes
    std::uint32_t k = byte(i) | byte(i + 1) << 8 | byte(i + 2) << 16 | byte(i + 3) << 24;
    k *= kMul;
    k ^= k >> 24;
    k *= kMul;
    h = h * kMul ^ k;
  }
  const std::size_t rest = n - i;
  if (rest >= 3) h ^= byte(i + 2) << 16;
  if (rest >= 2) h ^= byte(i + 1) << 8;
  if (rest >= 1) {
    h ^= byte(i);
    h *= kMul;
  }
  h ^= h >> 13;
  h *= kMul;
  h ^= h >> 15;
  return static_cast<std::int32_t>(h);
}

std::int32_t key_partition(std::string_view key, std::int32_t partitions) {
  if (partitions <= 0) return -1;
  return static_cast<std::int32_t>((static_cast<std::uint32_t>(murmur2(key)) & 0x7fffffffu) %
                                   static_cast<std::uint32_t>(partitions));
}

Answer lineage_answer(const LineageReport& r) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("eventId");
  str(w, r.event_id);
  const std::optional<int> unavailable = lineage_unavailable(r);
  if (unavailable) {
    w.Key("error");
    str(w, unavailable_error(*unavailable));
  }
  if (!r.row) {
    if (!unavailable) {
      w.Key("error");
      str(w, "event " + r.event_id + " is not stored (dead letters of it are listed below)");
    }
    w.Key("stored");
    w.Bool(false);
    write_dead_letters(w, r);
    w.EndObject();
    return finish(unavailable.value_or(404), buf);
  }
  w.Key("stored");
  w.Bool(true);
  w.Key("row");
  write_row(w, *r.row);

  // The storage message and what its headers say about the source.
  const RouterHeaders h =
      r.storage ? parse_router_headers(r.storage->headers) : RouterHeaders{};
  w.Key("storage");
  w.StartObject();
  if (r.storage) {
    write_message(w, *r.storage);
    w.Key("eventIdMatches");
    w.Bool(h.event_id && *h.event_id == r.event_id);
  } else {
    w.Key("problem");
    str(w, r.storage_problem);
    w.Key("unknown");  // the cluster's failure, not the message's absence
    w.Bool(r.storage_unknown);
  }
  w.EndObject();
  w.Key("source");
  if (h.source_topic && h.source_partition && h.source_offset) {
    w.StartObject();
    w.Key("topic");
    str(w, *h.source_topic);
    w.Key("partition");
    w.Int(*h.source_partition);
    w.Key("offset");
    w.Int64(*h.source_offset);
    w.EndObject();
  } else {
    w.Null();
  }

  w.Key("rules");
  w.StartObject();
  w.Key("routedWith");  // the version in the storage message's header
  if (h.rules_version) {
    str(w, *h.rules_version);
  } else {
    w.Null();
  }
  w.Key("current");
  if (r.rules_known) {
    str(w, r.rules_version);
  } else {
    w.Null();
  }
  w.Key("changed");
  w.Bool(r.rules_known && h.rules_version && *h.rules_version != r.rules_version);
  if (!r.rules_known) {
    w.Key("note");
    str(w, "no router in this config: the output topics are not computed");
  } else if (!r.routed_reason.empty()) {
    w.Key("note");
    str(w, "the rules in force dead-letter this event (" + r.routed_reason + ": " +
               r.routed_detail + ")");
  } else if (h.rules_version && *h.rules_version != r.rules_version) {
    w.Key("note");
    str(w, "the event was routed with other rules than those in force: the outputs are where "
           "the rules in force would send it");
  }
  w.EndObject();
  w.Key("key");
  str(w, r.key);

  w.Key("outputs");
  w.StartArray();
  for (const auto& o : r.outputs) {
    w.StartObject();
    if (o.found) {
      write_message(w, *o.found);
      w.Key("cluster");
      str(w, o.cluster);
      w.Key("status");
      str(w, "found");
    } else {
      w.Key("topic");
      str(w, o.topic);
      w.Key("cluster");
      str(w, o.cluster);
      w.Key("status");
      str(w, o.unknown ? "unknown" : "not_found");
      w.Key("partitions");
      w.StartArray();
      for (auto p : o.partitions) w.Int(p);
      w.EndArray();
      w.Key("reason");
      str(w, o.why_not);
    }
    w.Key("scanned");
    w.Uint64(o.scanned);
    w.EndObject();
  }
  w.EndArray();
  write_dead_letters(w, r);
  w.EndObject();
  return finish(unavailable.value_or(200), buf);
}

}  // namespace pemx::http_front
