#pragma once
// ParsedEvent: one event's JSON parsed with RapidJSON into a reusable arena, for field
// lookups by dotted path ("data.country"). One instance per thread; parse() reuses memory,
// so the hot path does not allocate once warmed up.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "event/json.hpp"
#include "pemx/json_tokens.hpp"

namespace pemx::event {

// The reference event's field names.
inline constexpr std::string_view kEventId = "eventId";
inline constexpr std::string_view kEventType = "eventType";
inline constexpr std::string_view kProductId = "productId";
inline constexpr std::string_view kRegion = "region";
inline constexpr std::string_view kCreatedAt = "createdAt";
inline constexpr std::string_view kData = "data";

// A container replay() has begun and not ended: an object or an array, and the keys and
// values it holds so far.
struct OpenContainer {
  bool object = false;
  std::uint32_t n = 0;
};

class ParsedEvent {
 public:
  explicit ParsedEvent(JsonLimits limits = {});
  ParsedEvent(const ParsedEvent&) = delete;
  ParsedEvent& operator=(const ParsedEvent&) = delete;

  // Parses `json` within the limits (json.hpp): valid UTF-8, a JSON object, no duplicate key.
  // On failure, what is wrong and where (byte offset, key path). With TextChecks::kScanned the
  // caller vouches for the encoding and the keys (json.hpp) and they are not checked again.
  JsonError parse(std::string_view json, TextChecks checks = TextChecks::kAll);
  // The same result as parse(json, TextChecks::kScanned), built from `tokens`, a reader's
  // events for `json` (pemx/json_tokens.hpp), instead of reading the text again. Tokens that
  // do not form one complete value within the limits are not trusted: the text is parsed then.
  JsonError replay(std::string_view json, const JsonTokens& tokens);
  const rapidjson::Value& root() const { return *doc_; }
  // The value at a dotted path, or null when any step is missing or not an object.
  const rapidjson::Value* find(std::string_view dotted_path) const;
  // The string at a path, or nullopt when missing or not a string.
  std::optional<std::string_view> string_at(std::string_view dotted_path) const;

 private:
  // Empties the arenas and makes a new document in them (parse and replay).
  void fresh_document();
  // `error`, or the refusal of a document that is not an object.
  JsonError object_or(JsonError error) const;

  JsonLimits limits_;
  // User-supplied buffers survive Clear(): a typical event parses without a malloc.
  alignas(8) char value_buffer_[16 * 1024];
  alignas(8) char stack_buffer_[4 * 1024];
  rapidjson::MemoryPoolAllocator<> allocator_;
  rapidjson::MemoryPoolAllocator<> stack_allocator_;
  using Document = rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>,
                                              rapidjson::MemoryPoolAllocator<>>;
  std::optional<Document> doc_;
  std::vector<OpenContainer> open_;  // replay's containers (kept: no allocation per event)
};

// The value at a dotted path ("data.country") inside `root`, or null when any step is missing
// or not an object.
const rapidjson::Value* find_path(const rapidjson::Value& root, std::string_view dotted_path);

// Text of a scalar usable in a topic name: a non-empty string as it is, an integer in
// decimal; nullopt for anything else (empty string, null, float, bool, object, array).
std::optional<std::string> scalar_text(const rapidjson::Value& v);
// The same text without a copy (the router tests conditions and renders topics with it for
// every event): a view of the string inside `v`, or of the integer written into `buffer`.
// Valid while both live.
using ScalarBuffer = std::array<char, 24>;
std::optional<std::string_view> scalar_view(const rapidjson::Value& v, ScalarBuffer& buffer);
// A short JSON rendering of a value, for error messages (truncated).
std::string json_excerpt(const rapidjson::Value& v, std::size_t max = 80);

}  // namespace pemx::event
