#include "event/event.hpp"

#include <charconv>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace pemx::event {

ParsedEvent::ParsedEvent(JsonLimits limits)
    : limits_(limits),
      allocator_(value_buffer_, sizeof value_buffer_),
      stack_allocator_(stack_buffer_, sizeof stack_buffer_) {}

JsonError ParsedEvent::parse(std::string_view json, TextChecks checks) {
  doc_.reset();
  allocator_.Clear();
  stack_allocator_.Clear();
  doc_.emplace(&allocator_, sizeof stack_buffer_ / 2, &stack_allocator_);
  // RapidJSON's UTF-8 validation was about half of the router check's parse on the push
  // (docs/benchmarks.md, "Push"): skipped only for text the caller validated.
  JsonError error =
      checks == TextChecks::kScanned
          ? parse_bounded<0>(*doc_, json, limits_, &stack_allocator_, checks)
          : parse_bounded<rapidjson::kParseValidateEncodingFlag>(*doc_, json, limits_,
                                                                 &stack_allocator_);
  if (!error && !doc_->IsObject()) {
    error = {JsonProblem::kSyntax, "an event must be a JSON object"};
  }
  return error;
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
