#include "sqlite_store/row_mapping.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "event/event.hpp"  // the field names
#include "event/time.hpp"
#include "event/validate.hpp"

namespace pemx::sqlite_store {

namespace {

// The deepest nesting of arrays and objects, counted on the bytes (strings skipped), stopping
// as soon as `limit` is exceeded. Malformed input is the parser's business, not this one's.
int nesting_depth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
      case '[':
        if (++depth > deepest) deepest = depth;
        if (deepest > limit) return deepest;
        break;
      case '}':
      case ']':
        --depth;
        break;
      default:
        break;
    }
  }
  return deepest;
}

std::string text_of(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

const rapidjson::Value* member(const rapidjson::Value& obj, std::string_view name) {
  auto it = obj.FindMember(rapidjson::Value(rapidjson::StringRef(name.data(), name.size())));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

}  // namespace

Result<EventRow> map_event_row(std::string_view value, const SourcePosition& source,
                               std::int64_t stored_at_ms) {
  if (nesting_depth(value, kMaxJsonDepth) > kMaxJsonDepth) {
    return Error{std::string(kInvalidJson),
                 "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels"};
  }
  // Most events fit the stack buffer: no heap allocation for the parse tree.
  char buffer[8192];
  rapidjson::MemoryPoolAllocator<> allocator(buffer, sizeof buffer);
  rapidjson::Document doc(&allocator);
  // Full precision, so that numbers in "data" re-serialise to the value that was sent
  // (7.31 stays 7.31).
  constexpr unsigned kFlags =
      rapidjson::kParseValidateEncodingFlag | rapidjson::kParseFullPrecisionFlag;
  doc.Parse<kFlags>(value.data(), value.size());
  if (doc.HasParseError()) {
    return Error{std::string(kInvalidJson),
                 std::string(rapidjson::GetParseError_En(doc.GetParseError())) + " at byte " +
                     std::to_string(doc.GetErrorOffset())};
  }
  if (!doc.IsObject()) return Error{std::string(kInvalidJson), "an event must be a JSON object"};

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
    return Error{std::string(kInvalidEvent), std::move(detail)};
  }

  EventRow row;
  row.event_id = text_of(*member(doc, event::kEventId));
  row.event_type = text_of(*member(doc, event::kEventType));
  row.product_id = text_of(*member(doc, event::kProductId));
  row.region = text_of(*member(doc, event::kRegion));
  row.created_at = text_of(*member(doc, event::kCreatedAt));
  row.created_ms = *created_ms;
  if (const rapidjson::Value* data = member(doc, event::kData)) {
    rapidjson::StringBuffer out;
    rapidjson::Writer<rapidjson::StringBuffer> writer(out);
    data->Accept(writer);  // depth is bounded above, so the recursion is too
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

}  // namespace pemx::sqlite_store
