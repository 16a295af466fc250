#include "http_front/push_scan.hpp"

#include <rapidjson/encodedstream.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <charconv>
#include <cstdint>
#include <string>

#include "event/json.hpp"
#include "event/validate.hpp"
#include "http_front/js_number.hpp"

namespace pemx::http_front {

namespace {

using Stream = rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream>;
using rapidjson::SizeType;

// The event fields validate_event checks, as bits; a bit is set once its value passed.
enum Field : unsigned {
  kEventId = 1,
  kEventType = 2,
  kProductId = 4,
  kRegion = 8,
  kCreatedAt = 16,
  kAllFields = 31,
};

unsigned field_of(std::string_view key) {
  if (key == "eventId") return kEventId;
  if (key == "eventType") return kEventType;
  if (key == "productId") return kProductId;
  if (key == "region") return kRegion;
  if (key == "createdAt") return kCreatedAt;
  return 0;
}

// Depths: the body object is 1, the events array 2, an event 3.
constexpr std::size_t kEventDepth = 3;

// The SAX handler. Returning false stops the parse: the DOM path then decides. Called on the
// parsing thread only. The body holds no backslash (checked first), so every string's decoded
// bytes are its bytes in the body, just before the stream's position (after the closing quote).
class Scanner {
 public:
  using Ch = char;

  Scanner(std::string_view body, const Stream& in, const PushRules& rules,
          std::vector<PushEvent>& out)
      : body_(body), in_(in), rules_(rules), max_depth_(rules.limits.max_depth + 2), out_(out) {}

  bool Null() { return token(JsonToken::Kind::kNull) && scalar(4); }
  bool Bool(bool b) {
    return token(b ? JsonToken::Kind::kTrue : JsonToken::Kind::kFalse) && scalar(b ? 4 : 5);
  }
  // Numbers come as text (kParseNumbersAsStringsFlag).
  bool Int(int) { return false; }
  bool Uint(unsigned) { return false; }
  bool Int64(std::int64_t) { return false; }
  bool Uint64(std::uint64_t) { return false; }
  bool Double(double) { return false; }

  bool RawNumber(const Ch* s, SizeType n, bool) {
    const std::string_view text(s, n);
    const event::detail::Number v = event::detail::read_number(text);
    if (v.kind == event::detail::Number::Kind::kTooBig) return false;  // the DOM path's 400
    // Its bytes in the body end where the stream is (the reader took the last digit).
    if (event_depth_ != 0 && !token(JsonToken::Kind::kNumber, in_body(in_.Tell(), text))) {
      return false;
    }
    if (event_depth_ != 0 && !rewrite_) {
      // In an event: a number the DOM path writes otherwise ("7.30", "1.0") means the event is
      // written by it too.
      char buf[24];
      std::to_chars_result r{};
      switch (v.kind) {
        case event::detail::Number::Kind::kInt:
        case event::detail::Number::Kind::kInt64:
          r = std::to_chars(buf, buf + sizeof buf, v.i);
          break;
        case event::detail::Number::Kind::kUint:
        case event::detail::Number::Kind::kUint64:
          r = std::to_chars(buf, buf + sizeof buf, v.u);
          break;
        default:
          rewrite_ = js_number(v.d) != text;
          return scalar(n);
      }
      rewrite_ = std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)) != text;
    }
    return scalar(n);
  }

  bool String(const Ch* s, SizeType n, bool) {
    if (event_depth_ != 0 &&
        !token(JsonToken::Kind::kString, quoted_in_body(std::string_view(s, n)))) {
      return false;
    }
    if (depth_ == kEventDepth && event_depth_ != 0 && field_ != 0) {
      const std::string_view text(s, n);
      bool ok = false;
      switch (field_) {
        case kEventId: ok = event::is_uuid(text); break;
        case kCreatedAt: ok = event::is_iso8601(text); break;
        default: ok = n > 0; break;
      }
      if (ok) fields_ok_ |= field_;
      if (field_ == kProductId) key_.assign(s, n);
      if (field_ == kEventId) id_.assign(s, n);
      if (field_ == kEventType && rules_.schemas != nullptr) event_type_.assign(s, n);
    }
    return scalar(n + 2);
  }

  bool Key(const Ch* s, SizeType n, bool) {
    // The key's bytes in the body: they outlive the parse, so they can be remembered.
    const std::string_view key = quoted_in_body(std::string_view(s, n));
    if (key.data() == nullptr) return false;
    if (event_depth_ != 0 && !token(JsonToken::Kind::kKey, key)) return false;
    if (keys_.size() - frames_.back() >= kScanMaxKeysPerObject) return false;
    for (std::size_t i = frames_.back(); i < keys_.size(); ++i) {
      if (keys_[i] == key) return false;  // a duplicate key: the DOM path's 400
    }
    keys_.push_back(key);
    if (depth_ == 1) {
      events_next_ = key == "events";
    } else if (depth_ == kEventDepth && event_depth_ != 0) {
      field_ = field_of(key);
    }
    canonical_ += n + 3;  // "key":
    return true;
  }

  bool StartObject() {
    if (!enter()) return false;
    if (depth_ == 2 && events_next_) return false;  // "events" that is not an array
    if (depth_ == kEventDepth && events_open_) {     // an event begins
      if (++events_ > kMaxEvents) return false;
      event_depth_ = depth_;
      event_start_ = in_.Tell();  // at its '{' (the iterative parser calls before taking it)
      tokens_.clear();
      canonical_ = 0;
      fields_ok_ = 0;
      field_ = 0;
      rewrite_ = false;
      key_.clear();
      id_.clear();
      event_type_.clear();
    }
    frames_.push_back(keys_.size());
    canonical_ += 1;
    return token(JsonToken::Kind::kStartObject);
  }

  bool EndObject(SizeType members) {
    keys_.resize(frames_.back());
    frames_.pop_back();
    canonical_ += 1 + (members > 0 ? members - 1 : 0);  // '}' and the commas
    if (!token(JsonToken::Kind::kEndObject, {}, members)) return false;
    if (depth_ == event_depth_ && !end_event()) return false;
    --depth_;
    return true;
  }

  bool StartArray() {
    if (!enter()) return false;
    if (depth_ == 1) return false;  // a body that is not an object
    if (depth_ == 2 && events_next_) events_open_ = true;
    if (depth_ == kEventDepth && events_open_) return false;  // an event that is not an object
    canonical_ += 1;
    return token(JsonToken::Kind::kStartArray);
  }

  bool EndArray(SizeType elements) {
    if (!token(JsonToken::Kind::kEndArray, {}, elements)) return false;
    if (depth_ == 2 && events_open_) {
      events_open_ = false;
      events_done_ = elements > 0 && elements <= kMaxEvents;
      if (!events_done_) return false;  // the DOM path's 400 for the count
    }
    canonical_ += 1 + (elements > 0 ? elements - 1 : 0);
    --depth_;
    return true;
  }

  // The body had an "events" array of 1 to 200 events, each accepted.
  bool complete() const { return events_done_ && out_.size() == events_; }

 private:
  bool enter() { return ++depth_ <= max_depth_; }  // deeper: the DOM path's 400

  // Inside an event, the reader's event for the router's check (EventCheck::check_tokens);
  // false (the DOM path decides) for a string or number whose bytes were not found.
  bool token(JsonToken::Kind kind, std::string_view text = {}, SizeType count = 0) {
    if (event_depth_ == 0) return true;
    const bool textual = kind == JsonToken::Kind::kNumber || kind == JsonToken::Kind::kString ||
                         kind == JsonToken::Kind::kKey;
    if (textual && text.data() == nullptr) return false;
    tokens_.push_back({kind, count, text});
    return true;
  }

  // The bytes of the string or key `decoded` just read, in the body (no backslash: the same
  // bytes, between quotes ending where the stream is); a null view when they are not there.
  std::string_view quoted_in_body(std::string_view decoded) const {
    const std::size_t end = in_.Tell();  // just after the closing quote
    const std::size_t n = decoded.size();
    if (end < n + 2 || body_[end - 1] != '"' || body_[end - n - 2] != '"') return {};
    const std::string_view bytes = body_.substr(end - n - 1, n);
    return bytes == decoded ? bytes : std::string_view();
  }

  // The bytes of the number `text` ending at `end` in the body; a null view when not there.
  std::string_view in_body(std::size_t end, std::string_view text) const {
    if (end < text.size() || end > body_.size()) return {};
    const std::string_view bytes = body_.substr(end - text.size(), text.size());
    return bytes == text ? bytes : std::string_view();
  }

  // A scalar value of `bytes` bytes as the DOM path writes it.
  bool scalar(std::size_t bytes) {
    if (depth_ == 0) return false;  // a body that is not an object: the DOM path's 400
    if (depth_ == 1 && events_next_) return false;  // "events" that is not an array
    if (depth_ == 2 && events_open_) return false;  // an event that is not an object
    canonical_ += bytes;
    return true;
  }

  bool end_event() {
    event_depth_ = 0;
    if (fields_ok_ != kAllFields) return false;  // the DOM path's 400 with every message
    const std::size_t end = in_.Tell() + 1;       // past its '}' (not yet taken)
    const std::string_view bytes = body_.substr(event_start_, end - event_start_);
    // Longer than the DOM path's text: whitespace (the body has no escapes, and every number
    // was checked). Such an event, or one with a number the DOM path writes otherwise, is
    // written as the DOM path writes it.
    std::string value;
    const bool rewritten = rewrite_ || bytes.size() != canonical_;
    if (rewritten) {
      rapidjson::Document d;
      if (event::parse_bounded<rapidjson::kParseValidateEncodingFlag |
                               rapidjson::kParseFullPrecisionFlag>(
              d, bytes, {rules_.limits.max_depth, bytes.size()})) {
        return false;  // cannot happen: the body parsed within max_depth + 2
      }
      value = to_js_json(d);
    } else {
      value.assign(bytes);
    }
    if (value.size() + key_.size() > rules_.limits.max_bytes) return false;
    // A type with a schema: a SAX pass over the event's text with RapidJSON's validator as the
    // handler. A type without one costs one lookup; no [schemas], nothing.
    if (rules_.schemas != nullptr) {
      const event::Schema* schema = rules_.schemas->find(event_type_);
      if (schema != nullptr && schema->validate(value, rules_.limits)) return false;  // DOM path
    }
    // Valid UTF-8 (validated by the reader) and no duplicate key (checked above at every
    // level): the check need not look again.
    // An event produced as its bytes is checked from the scan's events for them (no second
    // parse); a rewritten one from its text.
    if (rules_.check != nullptr) {
      if (!series_) series_ = rules_.check->series();
      if (!rewritten ? series_->check_tokens(value, tokens_) : series_->check_scanned(value)) {
        return false;
      }
    }
    out_.push_back({std::move(key_), std::move(value), std::move(id_)});
    key_.clear();
    id_.clear();
    return true;
  }

  std::string_view body_;
  const Stream& in_;
  const PushRules& rules_;
  std::size_t max_depth_;
  std::vector<PushEvent>& out_;
  std::size_t depth_ = 0;
  bool events_next_ = false;  // the last key of the body object was "events"
  bool events_open_ = false;  // inside the events array
  bool events_done_ = false;
  std::size_t events_ = 0;
  // The event being read: its depth (0: none), where it starts, the length of its text without
  // whitespace, its fields that passed, the field whose value comes next, its key
  // and its eventId.
  std::size_t event_depth_ = 0;
  std::size_t event_start_ = 0;
  std::size_t canonical_ = 0;
  unsigned fields_ok_ = 0;
  unsigned field_ = 0;
  bool rewrite_ = false;  // a number in it is written otherwise by the DOM path
  std::string key_;
  std::string id_;  // its eventId
  std::string event_type_;  // kept only when there are schemas
  // The keys of every open object (views into the body), each object's from frames_.back().
  std::vector<std::string_view> keys_;
  std::vector<std::size_t> frames_;
  JsonTokens tokens_;  // the event's, from its '{' (views into the body)
  std::unique_ptr<EventCheck::Series> series_;  // the check's, from the first event on
};

}  // namespace

std::optional<std::vector<PushEvent>> scan_push_request(std::string_view body,
                                                        const PushRules& rules) {
  // An escape anywhere: decoded strings differ from their bytes (and the DOM path writes some
  // differently). Rare in events; the DOM path handles it.
  if (body.find('\\') != std::string_view::npos) return std::nullopt;
  std::vector<PushEvent> out;
  out.reserve(kMaxEvents);
  rapidjson::MemoryStream memory(body.data(), body.size());
  Stream in(memory);
  Scanner scanner(body, in, rules, out);
  rapidjson::Reader reader;
  // The DOM path's flags (event::parse_bounded), so both accept the same bytes.
  const rapidjson::ParseResult result =
      reader.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseFullPrecisionFlag |
                   rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag>(
          in, scanner);
  // A NUL byte ends RapidJSON's memory stream early: what follows it is refused by the DOM path.
  if (result.IsError() || in.Tell() != body.size() || !scanner.complete()) return std::nullopt;
  return out;
}

}  // namespace pemx::http_front
