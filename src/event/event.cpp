#include "event/event.hpp"

#include <charconv>
#include <utility>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace pemx::event {

ParsedEvent::ParsedEvent(JsonLimits limits)
    : limits_(limits),
      allocator_(value_buffer_, sizeof value_buffer_),
      stack_allocator_(stack_buffer_, sizeof stack_buffer_) {}

void ParsedEvent::fresh_document() {
  doc_.reset();
  allocator_.Clear();
  stack_allocator_.Clear();
  doc_.emplace(&allocator_, sizeof stack_buffer_ / 2, &stack_allocator_);
}

JsonError ParsedEvent::object_or(JsonError error) const {
  if (!error && !doc_->IsObject()) {
    error = {JsonProblem::kSyntax, "an event must be a JSON object"};
  }
  return error;
}

JsonError ParsedEvent::parse(std::string_view json, TextChecks checks) {
  fresh_document();
  // RapidJSON's UTF-8 validation was about half of the router check's parse on the push
  // (docs/benchmarks.md, "Push"): skipped only for text the caller validated.
  JsonError error =
      checks == TextChecks::kScanned
          ? parse_bounded<0>(*doc_, json, limits_, &stack_allocator_, checks)
          : parse_bounded<rapidjson::kParseValidateEncodingFlag>(*doc_, json, limits_,
                                                                 &stack_allocator_);
  return object_or(std::move(error));
}

namespace {

// Feeds `tokens` to `handler` (a DepthLimit in front of a document), checking that they form
// one complete value whose containers' counts are what they say: the document pops exactly
// those counts, so it must never be given others. False at the first token that does not fit
// or that the handler refuses.
template <typename Handler>
bool feed(const JsonTokens& tokens, Handler& handler, std::vector<OpenContainer>& open) {
  using Kind = JsonToken::Kind;
  open.clear();
  bool root = false;  // the root value has begun
  // A value is about to begin where the tokens are: at the top once, in an array anywhere, in
  // an object after a key (n odd).
  auto value = [&]() {
    if (open.empty()) return !root && (root = true);
    OpenContainer& c = open.back();
    if (c.object && c.n % 2 == 0) return false;
    ++c.n;
    return true;
  };
  for (const JsonToken& t : tokens) {
    if (root && open.empty()) return false;  // tokens after the value
    const auto n = static_cast<rapidjson::SizeType>(t.text.size());
    bool ok = false;
    switch (t.kind) {
      case Kind::kNull: ok = value() && handler.Null(); break;
      case Kind::kFalse: ok = value() && handler.Bool(false); break;
      case Kind::kTrue: ok = value() && handler.Bool(true); break;
      case Kind::kNumber: ok = value() && handler.RawNumber(t.text.data(), n, true); break;
      case Kind::kString: ok = value() && handler.String(t.text.data(), n, true); break;
      case Kind::kKey:
        ok = !open.empty() && open.back().object && open.back().n % 2 == 0 &&
             handler.Key(t.text.data(), n, true);
        if (ok) ++open.back().n;
        break;
      case Kind::kStartObject:
      case Kind::kStartArray: {
        const bool object = t.kind == Kind::kStartObject;
        ok = value() && (object ? handler.StartObject() : handler.StartArray());
        open.push_back({object, 0});
        break;
      }
      case Kind::kEndObject:
        ok = !open.empty() && open.back().object && open.back().n % 2 == 0 &&
             open.back().n / 2 == t.count && handler.EndObject(t.count);
        if (ok) open.pop_back();
        break;
      case Kind::kEndArray:
        ok = !open.empty() && !open.back().object && open.back().n == t.count &&
             handler.EndArray(t.count);
        if (ok) open.pop_back();
        break;
    }
    if (!ok) return false;
  }
  return root && open.empty();
}

}  // namespace

JsonError ParsedEvent::replay(std::string_view json, const JsonTokens& tokens) {
  if (json.size() > limits_.max_bytes) return parse(json, TextChecks::kScanned);  // its error
  fresh_document();
  bool complete = false;
  // As parse_bounded with TextChecks::kScanned: the same depth limit and number reading, and a
  // decoded lone surrogate looked for only when the text has a backslash.
  auto generate = [&](Document& d) {
    detail::DepthLimit<Document> limited(d, limits_.max_depth,
                                         json.find('\\') != std::string_view::npos);
    complete = feed(tokens, limited, open_);
    return complete;
  };
  doc_->Populate(generate);
  if (!complete) return parse(json, TextChecks::kScanned);
  return object_or({});
}

const rapidjson::Value* find_path(const rapidjson::Value& root, std::string_view path) {
  const rapidjson::Value* cur = &root;
  while (true) {
    auto dot = path.find('.');
    std::string_view step = path.substr(0, dot);
    if (!cur->IsObject()) return nullptr;
    auto it = cur->FindMember(
        rapidjson::Value(rapidjson::StringRef(step.data(), step.size())));
    if (it == cur->MemberEnd()) return nullptr;
    cur = &it->value;
    if (dot == std::string_view::npos) return cur;
    path.remove_prefix(dot + 1);
  }
}

const rapidjson::Value* ParsedEvent::find(std::string_view path) const {
  return find_path(*doc_, path);
}

std::optional<std::string_view> ParsedEvent::string_at(std::string_view path) const {
  const rapidjson::Value* v = find(path);
  if (v == nullptr || !v->IsString()) return std::nullopt;
  return std::string_view(v->GetString(), v->GetStringLength());
}

std::optional<std::string_view> scalar_view(const rapidjson::Value& v, ScalarBuffer& buffer) {
  if (v.IsString()) {
    if (v.GetStringLength() == 0) return std::nullopt;
    return std::string_view(v.GetString(), v.GetStringLength());
  }
  std::to_chars_result r{};
  if (v.IsInt64()) {
    r = std::to_chars(buffer.data(), buffer.data() + buffer.size(), v.GetInt64());
  } else if (v.IsUint64()) {
    r = std::to_chars(buffer.data(), buffer.data() + buffer.size(), v.GetUint64());
  } else {
    return std::nullopt;
  }
  return std::string_view(buffer.data(), static_cast<std::size_t>(r.ptr - buffer.data()));
}

std::optional<std::string> scalar_text(const rapidjson::Value& v) {
  ScalarBuffer buffer;
  auto view = scalar_view(v, buffer);
  if (!view) return std::nullopt;
  return std::string(*view);
}

std::string json_excerpt(const rapidjson::Value& v, std::size_t max) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return excerpt({buf.GetString(), buf.GetSize()}, max);
}

}  // namespace pemx::event
