#include "store/row_mapping.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "event/event.hpp"  // the field names
#include "event/time.hpp"
#include "event/validate.hpp"

namespace pemx::store {

namespace {

std::string text_of(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

const rapidjson::Value* member(const rapidjson::Value& obj, std::string_view name) {
  auto it = obj.FindMember(rapidjson::Value(rapidjson::StringRef(name.data(), name.size())));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

// A field's text when it is a string, its compact JSON otherwise, "" when absent.
std::string lenient_text(const rapidjson::Value& obj, std::string_view name) {
  const rapidjson::Value* v = member(obj, name);
  if (v == nullptr) return {};
  if (v->IsString()) return text_of(*v);
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> writer(out);
  v->Accept(writer);  // bounded by parse_bounded's depth limit
  return {out.GetString(), out.GetSize()};
}

}  // namespace

Result<EventRow> map_event_row(std::string_view value, const SourcePosition& source,
                               std::int64_t stored_at_ms, const event::JsonLimits& limits) {
  return map_event_row(value, source, stored_at_ms, limits, event::ValidationMode::kStrict);
}

Result<EventRow> map_event_row(std::string_view value, const SourcePosition& source,
                               std::int64_t stored_at_ms, const event::JsonLimits& limits,
                               event::ValidationMode validation) {
  // Most events fit the stack buffer: no heap allocation for the parse tree.
  char buffer[8192];
  rapidjson::MemoryPoolAllocator<> allocator(buffer, sizeof buffer);
  rapidjson::Document doc(&allocator);
  // Full precision, so that numbers in "data" re-serialise to the value that was sent
  // (7.31 stays 7.31).
  constexpr unsigned kFlags =
      rapidjson::kParseValidateEncodingFlag | rapidjson::kParseFullPrecisionFlag;
  if (event::JsonError error = event::parse_bounded<kFlags>(doc, value, limits)) {
    return Error{std::string(event::reason_code(error.problem)), std::move(error.detail)};
  }
  if (!doc.IsObject()) {
    return Error{std::string(event::kReasonInvalidJson), "an event must be a JSON object"};
  }

  EventRow row;
  if (validation == event::ValidationMode::kStrict) {
    auto errors = event::validate_event(doc);
    std::optional<std::int64_t> created_ms;
    if (errors.empty()) {
      created_ms = event::iso8601_to_epoch_ms(text_of(*member(doc, event::kCreatedAt)));
      // validate_event accepted it, so it converts; checked anyway (no assumptions on input).
      if (!created_ms) errors.push_back({"createdAt", std::string(event::kMsgCreatedAt)});
    }
    if (!errors.empty()) {
      std::string detail;
      for (const auto& e : errors) detail += (detail.empty() ? "" : "; ") + e.field + ": " + e.msg;
      return Error{std::string(event::kReasonInvalidEvent), std::move(detail)};
    }
    row.created_ms = *created_ms;
  } else {
    const rapidjson::Value* id = member(doc, event::kEventId);
    if (id == nullptr || !id->IsString() || id->GetStringLength() == 0) {
      return Error{std::string(event::kReasonInvalidEvent),
                   "eventId: a stored event needs a non-empty string eventId (the key of its row)"};
    }
    if (validation == event::ValidationMode::kReport) {
      for (auto& e : event::validate_event(doc)) row.invalid.push_back(std::move(e.field));
    }
    const rapidjson::Value* created = member(doc, event::kCreatedAt);
    std::optional<std::int64_t> created_ms;
    if (created != nullptr && created->IsString()) {
      created_ms = event::iso8601_to_epoch_ms(text_of(*created));
    }
    row.created_ms = created_ms ? *created_ms
                                : (source.timestamp_ms >= 0 ? source.timestamp_ms : stored_at_ms);
  }
  row.event_id = lenient_text(doc, event::kEventId);
  row.event_type = lenient_text(doc, event::kEventType);
  row.product_id = lenient_text(doc, event::kProductId);
  row.region = lenient_text(doc, event::kRegion);
  row.created_at = lenient_text(doc, event::kCreatedAt);
  if (const rapidjson::Value* data = member(doc, event::kData)) {
    rapidjson::StringBuffer out;
    rapidjson::Writer<rapidjson::StringBuffer> writer(out);
    data->Accept(writer);  // parse_bounded bounded the depth, so the recursion is too
    row.data_json.assign(out.GetString(), out.GetSize());
  } else {
    row.data_json = "{}";
  }
  row.raw_json.assign(value.data(), value.size());
  row.source_topic.assign(source.topic.data(), source.topic.size());
  row.source_partition = source.partition;
  row.source_offset = source.offset;
  row.stored_at_ms = stored_at_ms;
  return row;
}

DeadLetterIds dead_letter_ids(std::string_view value, const event::JsonLimits& limits) {
  char buffer[8192];
  rapidjson::MemoryPoolAllocator<> allocator(buffer, sizeof buffer);
  rapidjson::Document doc(&allocator);
  DeadLetterIds out;
  if (event::parse_bounded<rapidjson::kParseValidateEncodingFlag>(doc, value, limits) ||
      !doc.IsObject()) {
    return out;
  }
  for (auto [name, field] : {std::pair{event::kEventId, &out.event_id},
                             std::pair{event::kProductId, &out.product_id}}) {
    const rapidjson::Value* v = member(doc, name);
    if (v != nullptr && v->IsString()) *field = text_of(*v);
  }
  return out;
}

}  // namespace pemx::store
