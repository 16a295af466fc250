#pragma once
// JsonTokens: one JSON value as the events a SAX reader gave for it, in order. A stage that
// has just read an event's text hands them to a checker with the text (EventCheck::
// check_tokens), so that the checker builds its document from them instead of parsing the text
// a second time (the push's scan to the router's check: docs/benchmarks.md, "Push").
#include <cstdint>
#include <string_view>
#include <vector>

namespace pemx {

struct JsonToken {
  enum class Kind : std::uint8_t {
    kNull,
    kFalse,
    kTrue,
    kNumber,  // text: the number as written (the reader's raw number)
    kString,  // text: the decoded string
    kKey,     // text: the decoded key
    kStartObject,
    kEndObject,  // count: its members
    kStartArray,
    kEndArray,  // count: its elements
  };
  Kind kind = Kind::kNull;
  std::uint32_t count = 0;
  std::string_view text;  // a view: valid while what the reader read is
};

using JsonTokens = std::vector<JsonToken>;

}  // namespace pemx
