#pragma once
// Bounded JSON parsing, for every byte that comes from outside (Kafka messages, HTTP bodies).
//
// - RapidJSON's iterative parser: no recursion driven by the input.
// - A nesting limit enforced while parsing: the parse stops at the first object or array
//   deeper than the limit, before it is built, so a value nested a million levels deep costs
//   no more than one nested `max_depth` levels.
// - A size limit, checked before a byte is read.
// - Duplicate keys, at any level, are refused: RapidJSON keeps both and finds the first, while
//   JavaScript's JSON.parse (the reference system and its consumers) keeps the last, so such
//   an event would be validated and routed as one thing and read downstream as another.
//
// Every value a successful parse returns is at most `max_depth` deep, so the recursive walks
// that follow (validation, Writer::Accept) are bounded too.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include "event/reasons.hpp"

namespace pemx::event {

struct JsonLimits {
  std::size_t max_depth = 64;  // objects and arrays inside each other; the root is 1
  // Bytes of one event, and of each message PEMX produces from it (value, key and the
  // event-derived headers). Below librdkafka's default message.max.bytes (1,000,000) with
  // room for PEMX's other headers, so whatever passes can be produced.
  std::size_t max_bytes = 900'000;
};
// What PEMX's own headers (source topic/partition/offset, dead-letter reason, detail and
// stage) add to a message at most, beyond max_bytes.
inline constexpr std::size_t kHeaderAllowance = 16 * 1024;

enum class JsonProblem { kNone, kSyntax, kTooDeep, kTooLarge, kDuplicateKey };

// The dead-letter reason code (event/reasons.hpp) of each problem.
std::string_view reason_code(JsonProblem problem);

struct JsonError {
  JsonProblem problem = JsonProblem::kNone;
  std::string detail;  // what and where, for the operator or the client
  explicit operator bool() const { return problem != JsonProblem::kNone; }
};

// At most `max` bytes of `text` for a message or header: never cut inside a UTF-8 character,
// control characters shown as '?', "…" appended when cut.
std::string excerpt(std::string_view text, std::size_t max = 80);

// The first duplicate key in `value` (which must be at most `max_depth` deep), as a message
// naming the key and where it is ("duplicate key \"price\" in data.items[2]"); empty if none.
std::string find_duplicate_key(const rapidjson::Value& value);

namespace detail {

// A number's text as the JSON grammar allows it, read correctly rounded (std::from_chars): an
// integer that fits 32 or 64 bits as such, anything else as the nearest double. RapidJSON's own
// full-precision reader misreads some numbers ("0e47", a long significand times 1e292) and its
// normal one may be off in the last bit; this one is neither. kTooBig past a double's range.
struct Number {
  enum class Kind { kInt, kUint, kInt64, kUint64, kDouble, kTooBig } kind = Kind::kTooBig;
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;
};
Number read_number(std::string_view text);
// A UTF-16 surrogate (U+D800 to U+DFFF) encoded as UTF-8 bytes (ED A0..BF xx).
bool has_encoded_surrogate(std::string_view decoded);

std::string too_deep_detail(std::size_t max_depth, std::size_t offset);
std::string too_large_detail(std::size_t size, std::size_t max_bytes);

// A SAX handler in front of the document's: counts depth and stops the parse when it passes
// the limit; reads numbers (given as text) with read_number; refuses a decoded lone surrogate
// unless told that the text cannot hold one.
template <typename Next>
class DepthLimit {
 public:
  using Ch = char;
  DepthLimit(Next& next, std::size_t max_depth, bool check_surrogates = true)
      : next_(next), max_depth_(max_depth), check_surrogates_(check_surrogates) {}
  bool Null() { return next_.Null(); }
  bool Bool(bool b) { return next_.Bool(b); }
  bool Int(int i) { return next_.Int(i); }
  bool Uint(unsigned u) { return next_.Uint(u); }
  bool Int64(std::int64_t i) { return next_.Int64(i); }
  bool Uint64(std::uint64_t u) { return next_.Uint64(u); }
  bool Double(double d) { return next_.Double(d); }
  bool RawNumber(const Ch* s, rapidjson::SizeType n, bool /*copy*/) {
    Number v = read_number({s, n});
    switch (v.kind) {
      case Number::Kind::kInt: return next_.Int(static_cast<int>(v.i));
      case Number::Kind::kUint: return next_.Uint(static_cast<unsigned>(v.u));
      case Number::Kind::kInt64: return next_.Int64(v.i);
      case Number::Kind::kUint64: return next_.Uint64(v.u);
      case Number::Kind::kDouble: return next_.Double(v.d);
      case Number::Kind::kTooBig: break;
    }
    number_too_big_ = true;
    return false;
  }
  bool String(const Ch* s, rapidjson::SizeType n, bool copy) {
    return no_surrogate(s, n) && next_.String(s, n, copy);
  }
  bool Key(const Ch* s, rapidjson::SizeType n, bool copy) {
    return no_surrogate(s, n) && next_.Key(s, n, copy);
  }
  bool StartObject() { return enter() && next_.StartObject(); }
  bool EndObject(rapidjson::SizeType members) {
    --depth_;
    return next_.EndObject(members);
  }
  bool StartArray() { return enter() && next_.StartArray(); }
  bool EndArray(rapidjson::SizeType elements) {
    --depth_;
    return next_.EndArray(elements);
  }
  bool too_deep() const { return too_deep_; }
  bool number_too_big() const { return number_too_big_; }
  bool surrogate() const { return surrogate_; }

 private:
  // RapidJSON validates the UTF-8 it reads, but decodes an escaped lone low surrogate
  // ("\udc00") into the bytes ED B0 80, which are not UTF-8: refused here.
  bool no_surrogate(const Ch* s, rapidjson::SizeType n) {
    surrogate_ = check_surrogates_ && has_encoded_surrogate({s, n});
    return !surrogate_;
  }
  bool enter() {
    if (++depth_ > max_depth_) too_deep_ = true;
    return !too_deep_;
  }
  Next& next_;
  std::size_t max_depth_;
  bool check_surrogates_;
  std::size_t depth_ = 0;
  bool too_deep_ = false;
  bool number_too_big_ = false;
  bool surrogate_ = false;
};

}  // namespace detail

// What parse_bounded may take for granted about its text.
enum class TextChecks {
  kAll,  // nothing: the text comes from outside
  // The caller already made sure that the text is valid UTF-8 and has no duplicate key at any
  // level (the push's scan, plugins/http_front/push_scan.hpp, hands its events to the router's
  // check so): syntax, depth, size, numbers and escapes are still checked. Pass kFlags without
  // kParseValidateEncodingFlag with it.
  kScanned,
};

// Parses `text` into `doc` within `limits`. kFlags are RapidJSON parse flags (the iterative
// and numbers-as-strings flags are always added: numbers are read by read_number, correctly
// rounded, so kParseFullPrecisionFlag changes nothing). `reader_stack` is the allocator of the parser's own stack (null: the
// parser makes one). On failure the error says what and where, and `doc` holds nothing to use.
template <unsigned kFlags, typename Allocator, typename StackAllocator>
JsonError parse_bounded(
    rapidjson::GenericDocument<rapidjson::UTF8<>, Allocator, StackAllocator>& doc,
    std::string_view text, const JsonLimits& limits, StackAllocator* reader_stack = nullptr,
    TextChecks checks = TextChecks::kAll) {
  if (text.size() > limits.max_bytes) {
    return {JsonProblem::kTooLarge, detail::too_large_detail(text.size(), limits.max_bytes)};
  }
  // A lone surrogate in a decoded string comes only from a \u escape when the text is valid
  // UTF-8 (RapidJSON's validation refuses the raw bytes): without a backslash there is none to
  // look for (one memchr over the text instead of one per string: 2 % of the push's parsing).
  const bool valid_utf8 =
      (kFlags & rapidjson::kParseValidateEncodingFlag) != 0 || checks == TextChecks::kScanned;
  const bool check_surrogates = !valid_utf8 || text.find('\\') != std::string_view::npos;
  using Document = rapidjson::GenericDocument<rapidjson::UTF8<>, Allocator, StackAllocator>;
  rapidjson::ParseResult result;
  bool too_deep = false;
  bool too_big = false;
  bool surrogate = false;
  auto generate = [&](Document& handler) {
    detail::DepthLimit<Document> limited(handler, limits.max_depth, check_surrogates);
    rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, StackAllocator> reader(
        reader_stack);
    rapidjson::MemoryStream memory(text.data(), text.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(memory);
    result = reader.template Parse<kFlags | rapidjson::kParseIterativeFlag |
                                   rapidjson::kParseNumbersAsStringsFlag>(in, limited);
    // RapidJSON's memory stream answers '\0' at its end, so it takes a NUL byte after the
    // value for the end of the text and ignores whatever follows: refuse it here.
    if ((kFlags & rapidjson::kParseStopWhenDoneFlag) == 0 && !result.IsError() &&
        in.Tell() != text.size()) {
      result.Set(rapidjson::kParseErrorDocumentRootNotSingular, in.Tell());
    }
    too_deep = limited.too_deep();
    too_big = limited.number_too_big();
    surrogate = limited.surrogate();
    return !result.IsError();
  };
  doc.Populate(generate);
  if (too_deep) {
    return {JsonProblem::kTooDeep, detail::too_deep_detail(limits.max_depth, result.Offset())};
  }
  if (surrogate) {
    return {JsonProblem::kSyntax, "a lone UTF-16 surrogate escape (\\udc00 to \\udfff) is not a "
                                  "character, before byte " + std::to_string(result.Offset())};
  }
  if (too_big) {
    return {JsonProblem::kSyntax, "a number too big to be stored in a double, before byte " +
                                      std::to_string(result.Offset())};
  }
  if (result.IsError()) {
    return {JsonProblem::kSyntax, std::string(rapidjson::GetParseError_En(result.Code())) +
                                      " at byte " + std::to_string(result.Offset())};
  }
  if (checks == TextChecks::kScanned) return {};
  if (std::string duplicate = find_duplicate_key(doc); !duplicate.empty()) {
    return {JsonProblem::kDuplicateKey, std::move(duplicate)};
  }
  return {};
}

}  // namespace pemx::event
