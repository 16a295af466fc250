#include "event/schema.hpp"

#include <rapidjson/encodedstream.h>
#include <rapidjson/internal/regex.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/pointer.h>
#include <rapidjson/reader.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <vector>

#include "core/check.hpp"
#include "event/event.hpp"

namespace pemx::event {

namespace {

// What PEMX accepts as a schema: JSON Schema draft-04 with the keywords RapidJSON 1.1.0 applies,
// each with a well-formed value. A keyword of a later draft (const, contains, if, …) or one
// RapidJSON ignores (format) is refused rather than silently not checked. Written for PEMX:
// checked by RapidJSON's own validator, like the events.
constexpr std::string_view kMetaSchema = R"json({
  "definitions": {
    "schema": {
      "type": "object",
      "properties": {
        "$schema": {"enum": ["http://json-schema.org/draft-04/schema#",
                             "http://json-schema.org/draft-04/schema"]},
        "$ref": {"type": "string", "pattern": "^#"},
        "id": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "type": {"anyOf": [{"$ref": "#/definitions/typeName"},
                           {"type": "array", "minItems": 1, "uniqueItems": true,
                            "items": {"$ref": "#/definitions/typeName"}}]},
        "enum": {"type": "array", "minItems": 1},
        "properties": {"$ref": "#/definitions/schemaMap"},
        "patternProperties": {"$ref": "#/definitions/schemaMap"},
        "definitions": {"$ref": "#/definitions/schemaMap"},
        "additionalProperties": {"anyOf": [{"type": "boolean"}, {"$ref": "#/definitions/schema"}]},
        "additionalItems": {"anyOf": [{"type": "boolean"}, {"$ref": "#/definitions/schema"}]},
        "items": {"anyOf": [{"$ref": "#/definitions/schema"},
                            {"$ref": "#/definitions/schemaList"}]},
        "required": {"type": "array", "minItems": 1, "uniqueItems": true,
                     "items": {"type": "string"}},
        "dependencies": {"type": "object", "additionalProperties": {"anyOf": [
            {"$ref": "#/definitions/schema"},
            {"type": "array", "minItems": 1, "items": {"type": "string"}}]}},
        "allOf": {"$ref": "#/definitions/schemaList"},
        "anyOf": {"$ref": "#/definitions/schemaList"},
        "oneOf": {"$ref": "#/definitions/schemaList"},
        "not": {"$ref": "#/definitions/schema"},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "exclusiveMinimum": {"type": "boolean"},
        "exclusiveMaximum": {"type": "boolean"},
        "multipleOf": {"type": "number", "minimum": 0, "exclusiveMinimum": true},
        "minLength": {"$ref": "#/definitions/count"},
        "maxLength": {"$ref": "#/definitions/count"},
        "minItems": {"$ref": "#/definitions/count"},
        "maxItems": {"$ref": "#/definitions/count"},
        "minProperties": {"$ref": "#/definitions/count"},
        "maxProperties": {"$ref": "#/definitions/count"},
        "uniqueItems": {"type": "boolean"},
        "pattern": {"type": "string"},
        "const": {"$ref": "#/definitions/unsupported"},
        "contains": {"$ref": "#/definitions/unsupported"},
        "propertyNames": {"$ref": "#/definitions/unsupported"},
        "if": {"$ref": "#/definitions/unsupported"},
        "then": {"$ref": "#/definitions/unsupported"},
        "else": {"$ref": "#/definitions/unsupported"},
        "format": {"$ref": "#/definitions/unsupported"},
        "$defs": {"$ref": "#/definitions/unsupported"},
        "$id": {"$ref": "#/definitions/unsupported"},
        "dependentRequired": {"$ref": "#/definitions/unsupported"},
        "dependentSchemas": {"$ref": "#/definitions/unsupported"},
        "unevaluatedProperties": {"$ref": "#/definitions/unsupported"},
        "unevaluatedItems": {"$ref": "#/definitions/unsupported"},
        "prefixItems": {"$ref": "#/definitions/unsupported"}
      }
    },
    "schemaMap": {"type": "object", "additionalProperties": {"$ref": "#/definitions/schema"}},
    "schemaList": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/schema"}},
    "typeName": {"enum": ["array", "boolean", "integer", "null", "number", "object", "string"]},
    "count": {"type": "integer", "minimum": 0},
    "unsupported": {"not": {}}
  },
  "$ref": "#/definitions/schema"
})json";

constexpr unsigned kEventParseFlags = rapidjson::kParseValidateEncodingFlag |
                                      rapidjson::kParseIterativeFlag |
                                      rapidjson::kParseNumbersAsStringsFlag;

template <typename Pointer>
std::string pointer_text(const Pointer& p) {
  rapidjson::StringBuffer sb;
  p.Stringify(sb);
  return {sb.GetString(), sb.GetSize()};
}

// One token of a JSON pointer (RFC 6901: '~' as "~0", '/' as "~1").
std::string pointer_token(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

const rapidjson::Value* at_pointer(const rapidjson::Value& root, const std::string& pointer) {
  rapidjson::Pointer p(pointer.c_str(), pointer.size());
  if (!p.IsValid()) return nullptr;
  return p.Get(root);
}

const char* kind_name(const rapidjson::Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType: return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType: return "a boolean";
    case rapidjson::kObjectType: return "an object";
    case rapidjson::kArrayType: return "an array";
    case rapidjson::kStringType: return "a string";
    case rapidjson::kNumberType: return v.IsDouble() ? "a number" : "an integer";
  }
  return "a value";
}

std::string type_phrase(std::string_view name) {
  if (name == "null") return "null";
  if (name == "integer" || name == "array" || name == "object") return "an " + std::string(name);
  return "a " + std::string(name);
}

// The member `key` of `schema` when it is an object holding it, else null.
const rapidjson::Value* member(const rapidjson::Value* schema, const char* key) {
  if (schema == nullptr || !schema->IsObject()) return nullptr;
  auto it = schema->FindMember(key);
  return it == schema->MemberEnd() ? nullptr : &it->value;
}

bool flag(const rapidjson::Value* schema, const char* key) {
  const rapidjson::Value* v = member(schema, key);
  return v != nullptr && v->IsBool() && v->GetBool();
}

std::string value_text(const rapidjson::Value* v) {
  return v == nullptr ? std::string("?") : json_excerpt(*v, 120);
}

// Limits on what a schema may ask of the validator (docs/configuration.md, [schemas]).
constexpr rapidjson::SizeType kMaxPatternLength = 1000;  // characters of a pattern
constexpr std::size_t kMaxSchemaNodes = 100'000;  // subschemas visited, $refs followed
constexpr std::size_t kMaxSchemaDepth = 200;       // nesting, $refs followed

// RapidJSON's regex compiles {m,n} by copying its operand max(m, n) times (regex.h,
// EvalQuantifier), so a short pattern can expand to millions of states: a{1000}{1000} is 13
// characters and a million copies of "a", each costing time on every value checked, and
// memory and seconds to compile. Both are bounded before compiling.
constexpr std::uint64_t kMaxPatternRepeat = 1000;    // product of nested repeat counts
constexpr std::uint64_t kMaxPatternStates = 10'000;  // the whole pattern, repeats expanded

struct PatternSize {
  std::uint64_t states = 0;  // about the states RapidJSON would build
  std::uint64_t repeat = 1;  // the largest product of nested repeat counts
};

// An estimate from the pattern's text in RapidJSON's grammar (atoms, [classes], \escapes,
// (groups), |, ?, *, +, {n}, {n,}, {n,m}); exact enough to bound, saturating, never throws.
// Text RapidJSON would refuse is sized as plain characters: compiling it fails later.
constexpr std::uint64_t kPatternSizeCap = std::uint64_t{1} << 40;  // where the sizes saturate

PatternSize pattern_size(std::string_view p) {
  auto mul = [](std::uint64_t a, std::uint64_t b) -> std::uint64_t {
    return a != 0 && b > kPatternSizeCap / a ? kPatternSizeCap
                                             : std::min(kPatternSizeCap, a * b);
  };
  auto add = [](std::uint64_t a, std::uint64_t b) -> std::uint64_t {
    return std::min(kPatternSizeCap, a + b);
  };
  struct Frame {
    std::uint64_t alternatives = 0;  // states of the alternatives before the last |
    std::uint64_t sequence = 0;      // states of the current alternative, last operand excluded
    std::uint64_t repeat = 1;
    PatternSize last;
    bool has_last = false;
  };
  std::vector<Frame> frames(1);
  auto commit = [&](Frame& f) {
    if (!f.has_last) return;
    f.sequence = add(f.sequence, f.last.states);
    f.repeat = std::max(f.repeat, f.last.repeat);
    f.has_last = false;
  };
  auto operand = [&](PatternSize size) {
    Frame& f = frames.back();
    commit(f);
    f.last = size;
    f.has_last = true;
  };
  auto close_group = [&] {
    Frame f = frames.back();
    frames.pop_back();
    commit(f);
    operand({add(f.alternatives, f.sequence), f.repeat});
  };
  auto number = [&](std::size_t& i, std::uint64_t& n) {
    const std::size_t start = i;
    n = 0;
    for (; i < p.size() && p[i] >= '0' && p[i] <= '9'; ++i) {
      n = add(mul(n, 10), static_cast<std::uint64_t>(p[i] - '0'));
    }
    return i > start;
  };
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if ((static_cast<unsigned char>(c) & 0xc0) == 0x80) continue;  // inside a UTF-8 character
    Frame& f = frames.back();
    if (c == '(') {
      frames.emplace_back();
    } else if (c == ')' && frames.size() > 1) {
      close_group();
    } else if (c == '|') {
      commit(f);
      f.alternatives = add(add(f.alternatives, f.sequence), 1);
      f.sequence = 0;
    } else if ((c == '?' || c == '*' || c == '+') && f.has_last) {
      f.last.states = add(f.last.states, 1);
    } else if (c == '{' && f.has_last) {
      std::size_t j = i + 1;
      std::uint64_t n = 0;
      std::uint64_t m = 0;
      bool unbounded = false;
      if (!number(j, n)) {
        operand({1, 1});
        continue;
      }
      m = n;
      if (j < p.size() && p[j] == ',') {
        ++j;
        unbounded = !number(j, m);
      }
      if (j >= p.size() || p[j] != '}') {
        operand({1, 1});
        continue;
      }
      const std::uint64_t copies = std::max<std::uint64_t>(1, unbounded ? n : std::max(n, m));
      f.last.states = add(mul(f.last.states, copies), 1);
      f.last.repeat = mul(f.last.repeat, copies);
      i = j;
    } else if (c == '[') {
      std::size_t j = i + 1;
      while (j < p.size() && p[j] != ']') j += p[j] == '\\' ? 2 : 1;
      operand({1, 1});
      i = std::min(j, p.size());
    } else if (c == '\\') {
      operand({1, 1});
      ++i;
    } else {
      operand({1, 1});
    }
  }
  while (frames.size() > 1) close_group();
  commit(frames.back());
  return {add(frames.back().alternatives, frames.back().sequence), frames.back().repeat};
}

void check_patterns(const rapidjson::Value& v, const std::string& at,
                    std::vector<std::string>& problems) {
  if (v.IsArray()) {
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      check_patterns(v[i], at + "/" + std::to_string(i), problems);
    }
    return;
  }
  if (!v.IsObject()) return;
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    const std::string name(it->name.GetString(), it->name.GetStringLength());
    const std::string here = at + "/" + pointer_token(name);
    auto bad = [](const rapidjson::Value& text) {
      rapidjson::internal::Regex re(text.GetString());
      return !re.IsValid();
    };
    // Before compiling it: RapidJSON's search costs (pattern size × text length) per value,
    // and a pattern of 20,000 alternatives took seconds per event.
    auto too_long = [&](const rapidjson::Value& text) {
      if (text.GetStringLength() > kMaxPatternLength) {
        problems.push_back(here + ": the regular expression " + json_excerpt(text, 60) +
                           " has " + std::to_string(text.GetStringLength()) +
                           " characters, more than " + std::to_string(kMaxPatternLength) +
                           " (long patterns make every event slow to check: shorten it, or "
                           "use enum for a list of values)");
        return true;
      }
      const PatternSize size =
          pattern_size(std::string_view(text.GetString(), text.GetStringLength()));
      if (size.repeat > kMaxPatternRepeat) {
        problems.push_back(here + ": the regular expression " + json_excerpt(text, 60) +
                           " repeats a part " + std::to_string(size.repeat) +
                           " times (nested {m,n} counts multiply), more than " +
                           std::to_string(kMaxPatternRepeat) +
                           " (RapidJSON copies the part that often: use minLength/maxLength "
                           "for lengths, or smaller counts)");
        return true;
      }
      if (size.states > kMaxPatternStates) {
        problems.push_back(here + ": the regular expression " + json_excerpt(text, 60) +
                           " expands to about " + std::to_string(size.states) +
                           " states with its {m,n} repeats copied out, more than " +
                           std::to_string(kMaxPatternStates) +
                           " (every event would be slow to check: use smaller counts, or "
                           "minLength/maxLength for lengths)");
        return true;
      }
      return false;
    };
    if (name == "pattern" && it->value.IsString() && !too_long(it->value) && bad(it->value)) {
      problems.push_back(here + ": the regular expression " + json_excerpt(it->value) +
                         " cannot be compiled by RapidJSON (it supports | * + ? {m,n} [] () "
                         "and escapes, no anchors inside, no backreferences)");
    }
    if (name == "patternProperties" && it->value.IsObject()) {
      for (auto p = it->value.MemberBegin(); p != it->value.MemberEnd(); ++p) {
        if (!too_long(p->name) && bad(p->name)) {
          problems.push_back(here + ": the regular expression " + json_excerpt(p->name) +
                             " cannot be compiled by RapidJSON");
        }
      }
    }
    check_patterns(it->value, here, problems);
  }
}

using SchemaValidator = rapidjson::GenericSchemaValidator<rapidjson::SchemaDocument>;

}  // namespace

std::string SchemaFailure::describe(std::string_view prefix) const {
  std::string where = std::string(prefix) + pointer;
  return (where.empty() ? std::string("(event)") : where) + ": " + message;
}

namespace {

// Whether `v` holds a "pattern" or "patternProperties" keyword (a regex RapidJSON compiles).
bool has_regex(const rapidjson::Value& v) {
  if (v.IsArray()) {
    return std::any_of(v.Begin(), v.End(), [](const rapidjson::Value& i) { return has_regex(i); });
  }
  if (!v.IsObject()) return false;
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    const std::string_view name(it->name.GetString(), it->name.GetStringLength());
    if (name == "pattern" || name == "patternProperties" || has_regex(it->value)) return true;
  }
  return false;
}

}  // namespace

// Threads: RapidJSON 1.1.0's regex (pattern, patternProperties) is not const in practice: its
// Search() keeps its state sets (stateSet_, state0_, state1_) in the compiled regex, so two
// threads validating against one compiled schema at once corrupt each other (wrong verdicts,
// a crash in GenericRegex::SearchWithAnchoring). A schema with a regex therefore validates
// under its own mutex. Chosen over a per-thread copy of the compiled schema: simple, no copies
// to bound or invalidate on reload, and a validation holds it briefly (an event is small and
// the schema's size is bounded at load: no recursion, patterns of at most 1,000 characters).
// A schema without a regex has no shared mutable state and takes no lock.
struct Schema::Compiled {
  explicit Compiled(rapidjson::Document d)
      : doc(std::move(d)), schema(doc), serialize(has_regex(doc)) {}
  rapidjson::Document doc;          // the schema as JSON (explain() reads keyword values in it)
  rapidjson::SchemaDocument schema;  // compiled from doc, which it refers to
  const bool serialize;              // has a regex: validate under `mutex`
  std::mutex mutex;

  std::unique_lock<std::mutex> lock() {
    return serialize ? std::unique_lock<std::mutex>(mutex) : std::unique_lock<std::mutex>();
  }
};

Schema::Schema(std::string event_type, std::string file, std::string text, rapidjson::Document doc)
    : event_type_(std::move(event_type)),
      file_(std::move(file)),
      text_(std::move(text)),
      compiled_(std::make_unique<Compiled>(std::move(doc))) {}
Schema::~Schema() = default;

SchemaFailure Schema::explain(const rapidjson::Value& root, std::string pointer,
                              std::string schema_pointer, std::string keyword) const {
  SchemaFailure f{std::move(pointer), keyword, {}};
  const rapidjson::Value* instance = at_pointer(root, f.pointer);
  const rapidjson::Value* sub = at_pointer(compiled_->doc, schema_pointer);
  if (keyword == "type") {
    const rapidjson::Value* t = member(sub, "type");
    std::string want;
    if (t != nullptr && t->IsString()) {
      want = type_phrase(t->GetString());
    } else if (t != nullptr && t->IsArray()) {
      for (rapidjson::SizeType i = 0; i < t->Size(); ++i) {
        if (!(*t)[i].IsString()) continue;
        want += (i == 0 ? "" : (i + 1 == t->Size() ? " or " : ", ")) +
                type_phrase((*t)[i].GetString());
      }
    }
    f.message = "must be " + (want.empty() ? std::string("of another type") : want);
    if (instance != nullptr) f.message += std::string(", not ") + kind_name(*instance);
  } else if (keyword == "required") {
    const rapidjson::Value* req = member(sub, "required");
    if (req != nullptr && req->IsArray() && instance != nullptr && instance->IsObject()) {
      for (const auto& name : req->GetArray()) {
        if (name.IsString() && !instance->HasMember(name)) {
          f.pointer += "/" + pointer_token({name.GetString(), name.GetStringLength()});
          break;
        }
      }
    }
    f.message = "is required";
  } else if (keyword == "minimum") {
    f.message = std::string(flag(sub, "exclusiveMinimum") ? "must be > " : "must be ≥ ") +
                value_text(member(sub, "minimum"));
  } else if (keyword == "maximum") {
    f.message = std::string(flag(sub, "exclusiveMaximum") ? "must be < " : "must be ≤ ") +
                value_text(member(sub, "maximum"));
  } else if (keyword == "multipleOf") {
    f.message = "must be a multiple of " + value_text(member(sub, "multipleOf"));
  } else if (keyword == "minLength") {
    f.message = "must have at least " + value_text(member(sub, "minLength")) + " characters";
  } else if (keyword == "maxLength") {
    f.message = "must have at most " + value_text(member(sub, "maxLength")) + " characters";
  } else if (keyword == "pattern") {
    f.message = "must match the pattern " + value_text(member(sub, "pattern"));
  } else if (keyword == "enum") {
    f.message = "must be one of " + value_text(member(sub, "enum"));
  } else if (keyword == "minItems") {
    f.message = "must have at least " + value_text(member(sub, "minItems")) + " items";
  } else if (keyword == "maxItems") {
    f.message = "must have at most " + value_text(member(sub, "maxItems")) + " items";
  } else if (keyword == "uniqueItems") {
    f.message = "must not hold the same item twice";
  } else if (keyword == "minProperties") {
    f.message = "must have at least " + value_text(member(sub, "minProperties")) + " properties";
  } else if (keyword == "maxProperties") {
    f.message = "must have at most " + value_text(member(sub, "maxProperties")) + " properties";
  } else if (keyword == "additionalProperties") {
    // The validator stops at the key: the pointer names the property when it already went
    // into it, the object otherwise.
    f.message = "is not a property the schema allows (additionalProperties is false)";
    if (instance != nullptr && instance->IsObject()) {
      const rapidjson::Value* props = member(sub, "properties");
      if (member(sub, "patternProperties") == nullptr) {
        for (auto it = instance->MemberBegin(); it != instance->MemberEnd(); ++it) {
          if (props == nullptr || !props->IsObject() || !props->HasMember(it->name)) {
            f.pointer +=
                "/" + pointer_token({it->name.GetString(), it->name.GetStringLength()});
            break;
          }
        }
      } else {
        f.message = "has a property that neither properties nor patternProperties allow";
      }
    }
  } else if (keyword == "additionalItems") {
    f.message = "has more items than the schema allows (additionalItems)";
  } else if (keyword == "dependencies") {
    f.message = "does not meet the schema's dependencies";
  } else if (keyword == "allOf") {
    f.message = "must match every schema of allOf";
  } else if (keyword == "anyOf") {
    f.message = "must match at least one schema of anyOf";
  } else if (keyword == "oneOf") {
    f.message = "must match exactly one schema of oneOf";
  } else if (keyword == "not") {
    const rapidjson::Value* n = member(sub, "not");
    // {"not": {}} matches nothing: the meta-schema's mark of a keyword RapidJSON ignores.
    f.message = n != nullptr && n->IsObject() && n->MemberCount() == 0
                    ? "is not applied by RapidJSON's JSON Schema draft-04 validator: remove it, "
                      "or say the same with draft-04 keywords"
                    : "must not match the schema of not";
  } else {
    f.message = "fails the schema keyword \"" + keyword + "\"";
  }
  return f;
}

std::optional<SchemaFailure> Schema::validate(std::string_view json,
                                              const JsonLimits& limits) const {
  std::string document_pointer, schema_pointer, keyword;
  {
    auto lock = compiled_->lock();  // while the validator runs (it searches the regexes)
    SchemaValidator validator(compiled_->schema);
    detail::DepthLimit<SchemaValidator> limited(validator, limits.max_depth);
    rapidjson::Reader reader;
    rapidjson::MemoryStream memory(json.data(), json.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(memory);
    const rapidjson::ParseResult result = reader.Parse<kEventParseFlags>(in, limited);
    if (validator.IsValid() && !result.IsError() && in.Tell() == json.size()) return std::nullopt;
    if (validator.IsValid()) {
      return SchemaFailure{"", "json", "is not a JSON value the event parser accepts"};
    }
    document_pointer = pointer_text(validator.GetInvalidDocumentPointer());
    schema_pointer = pointer_text(validator.GetInvalidSchemaPointer());
    keyword = validator.GetInvalidSchemaKeyword();
  }
  // Rare: the event fails. Parse it once more into a DOM to say what was expected where.
  rapidjson::Document d;
  const JsonLimits whole{limits.max_depth, json.size()};
  if (parse_bounded<rapidjson::kParseValidateEncodingFlag>(d, json, whole)) {
    return SchemaFailure{std::move(document_pointer), std::move(keyword), "fails the schema"};
  }
  return explain(d, std::move(document_pointer), std::move(schema_pointer), std::move(keyword));
}

std::optional<SchemaFailure> Schema::validate(const rapidjson::Value& event) const {
  std::string document_pointer, schema_pointer, keyword;
  {
    auto lock = compiled_->lock();  // while the validator runs (it searches the regexes)
    SchemaValidator validator(compiled_->schema);
    if (event.Accept(validator)) return std::nullopt;
    document_pointer = pointer_text(validator.GetInvalidDocumentPointer());
    schema_pointer = pointer_text(validator.GetInvalidSchemaPointer());
    keyword = validator.GetInvalidSchemaKeyword();
  }
  return explain(event, std::move(document_pointer), std::move(schema_pointer),
                 std::move(keyword));
}

namespace {

std::unique_ptr<Schema> meta_schema() {
  rapidjson::Document d;
  d.Parse(kMetaSchema.data(), kMetaSchema.size());
  PEMX_CHECK(!d.HasParseError() && d.IsObject(), "the meta-schema in schema.cpp is not JSON");
  return std::make_unique<Schema>("", "", std::string(kMetaSchema), std::move(d));
}

// Every "$ref" resolves inside the document ("#/definitions/price"): the meta-schema allows
// only local references, and RapidJSON ignores one that leads nowhere.
void check_refs(const rapidjson::Value& v, const rapidjson::Value& root, const std::string& at,
                std::vector<std::string>& problems) {
  if (v.IsArray()) {
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      check_refs(v[i], root, at + "/" + std::to_string(i), problems);
    }
    return;
  }
  if (!v.IsObject()) return;
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    const std::string name(it->name.GetString(), it->name.GetStringLength());
    const std::string here = at + "/" + pointer_token(name);
    if (name == "$ref" && it->value.IsString()) {
      rapidjson::Pointer p(it->value.GetString(), it->value.GetStringLength());
      if (!p.IsValid() || p.Get(root) == nullptr) {
        problems.push_back(here + ": " + json_excerpt(it->value) +
                           " names nothing in this file (only references inside the file, "
                           "such as \"#/definitions/price\", are followed)");
      }
    }
    check_refs(it->value, root, here, problems);
  }
}

// Refuses a schema whose $refs recurse, before RapidJSON compiles it: RapidJSON follows a
// chain of $refs by recursion at compile time ({"$ref": "#"} or a→b→a overflowed the stack),
// and validates a recursive schema through anyOf/oneOf/allOf in time exponential in the
// event's depth (3^depth for three alternatives). Product event schemas need no recursion.
// The walk expands every local $ref in place, keeping the values on its path: a $ref whose
// target is on the path leads back to a schema it is inside of. The expansion is bounded
// (kMaxSchemaNodes, kMaxSchemaDepth), so a DAG of definitions that expands exponentially is
// refused too. Values under "enum" and "default" are data, not schemas; the members of
// "properties", "patternProperties", "definitions" and "dependencies" are names, not keywords.
class RefWalk {
 public:
  RefWalk(const rapidjson::Value& root, std::vector<std::string>& problems)
      : root_(root), problems_(problems) {}

  // False (with one problem) at the first recursion or limit.
  bool walk(const rapidjson::Value& v, const std::string& at, bool names = false) {
    if (!v.IsObject() && !v.IsArray()) return true;
    if (++visited_ > kMaxSchemaNodes || path_.size() >= kMaxSchemaDepth) {
      problems_.push_back(
          at + ": the schema is too complex: with its $refs followed it has more than " +
          (visited_ > kMaxSchemaNodes ? std::to_string(kMaxSchemaNodes) + " subschemas"
                                      : std::to_string(kMaxSchemaDepth) + " levels") +
          " (simplify it: fewer or shallower $refs)");
      return false;
    }
    path_.push_back(&v);
    const bool ok = v.IsArray() ? walk_items(v, at) : walk_members(v, at, names);
    path_.pop_back();
    return ok;
  }

 private:
  bool walk_items(const rapidjson::Value& v, const std::string& at) {
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      if (!walk(v[i], at + "/" + std::to_string(i))) return false;
    }
    return true;
  }

  bool walk_members(const rapidjson::Value& v, const std::string& at, bool names) {
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      const std::string_view name(it->name.GetString(), it->name.GetStringLength());
      const std::string here = at + "/" + pointer_token(name);
      if (!names && (name == "enum" || name == "default")) continue;
      if (!names && name == "$ref" && it->value.IsString()) {
        if (!follow(it->value, here)) return false;
        continue;
      }
      const bool map = !names && (name == "properties" || name == "patternProperties" ||
                                  name == "definitions" || name == "dependencies");
      if (!walk(it->value, here, map)) return false;
    }
    return true;
  }

  bool follow(const rapidjson::Value& ref, const std::string& here) {
    rapidjson::Pointer p(ref.GetString(), ref.GetStringLength());
    const rapidjson::Value* target = p.IsValid() ? p.Get(root_) : nullptr;
    if (target == nullptr) return true;  // check_refs names it
    if (std::find(path_.begin(), path_.end(), target) != path_.end()) {
      problems_.push_back(here + ": " + json_excerpt(ref) +
                          " leads back to a schema it is inside of: recursive schemas are "
                          "refused (they make validation exponential in the event's depth); "
                          "write the nesting out to the depth events have");
      return false;
    }
    return walk(*target, pointer_text(p));
  }

  const rapidjson::Value& root_;
  std::vector<std::string>& problems_;
  std::vector<const rapidjson::Value*> path_;  // at most kMaxSchemaDepth
  std::size_t visited_ = 0;
};

// The problems of one schema text, with `doc` holding it when it parsed.
std::vector<std::string> check_text(std::string_view text, const Schema& meta,
                                    rapidjson::Document& doc) {
  std::vector<std::string> problems;
  const JsonLimits limits{64, text.size()};
  if (JsonError e = parse_bounded<rapidjson::kParseValidateEncodingFlag>(doc, text, limits)) {
    problems.push_back("not valid JSON: " + e.detail);
    return problems;
  }
  if (!doc.IsObject()) {
    problems.push_back("not a JSON Schema: the file must hold one object, such as "
                       "{\"type\": \"object\", \"required\": [\"data\"]}");
    return problems;
  }
  if (auto f = meta.validate(doc)) {
    problems.push_back(f->describe() + " (PEMX applies JSON Schema draft-04 with RapidJSON)");
    return problems;
  }
  check_refs(doc, doc, "", problems);
  check_patterns(doc, "", problems);
  if (problems.empty()) RefWalk(doc, problems).walk(doc, "");
  return problems;
}

}  // namespace

std::vector<std::string> check_schema_text(std::string_view text) {
  rapidjson::Document doc;
  return check_text(text, *meta_schema(), doc);
}

std::shared_ptr<const SchemaSet> SchemaSet::compile(std::vector<Source> sources,
                                                    std::vector<std::string>& errors) {
  auto set = std::make_shared<SchemaSet>();
  if (sources.empty()) return set;
  const auto meta = meta_schema();
  for (auto& s : sources) {
    rapidjson::Document doc;
    auto problems = check_text(s.text, *meta, doc);
    for (const auto& p : problems) {
      errors.push_back(s.file + " (the schema of " + s.event_type + "): " + p);
    }
    if (!problems.empty()) continue;
    auto schema = std::make_unique<Schema>(s.event_type, std::move(s.file), std::move(s.text),
                                           std::move(doc));
    set->by_type_.emplace(std::move(s.event_type), std::move(schema));
  }
  return set;
}

const Schema* SchemaSet::find(std::string_view event_type) const {
  auto it = by_type_.find(event_type);
  return it == by_type_.end() ? nullptr : it->second.get();
}

std::vector<std::string> SchemaSet::types() const {
  std::vector<std::string> out;
  for (const auto& [type, schema] : by_type_) out.push_back(type);
  return out;
}

}  // namespace pemx::event
