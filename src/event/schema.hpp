#pragma once
// JSON Schemas per eventType ([schemas] in pemx.toml): compiled once at start-up with
// RapidJSON's own validator (rapidjson/schema.h, JSON Schema draft-04, the keywords RapidJSON
// 1.1.0 applies), then shared read-only by the push (http_front) and the router.
//
// A schema file is refused at start-up when it is not JSON, not a draft-04 schema PEMX can
// apply (a keyword of a later draft that RapidJSON would silently ignore, a malformed keyword
// value, a $ref outside the file, a regular expression RapidJSON cannot compile): the message
// names the file and the JSON pointer of the problem.
//
// Validation is a SAX pass over the event's text with the validator as the handler (no DOM),
// numbers read as the event parser reads them (event/json.hpp), or a walk over an already
// parsed value (the router): both give the same verdict. Only a failing event is parsed into a
// DOM, to phrase the message ("/data/newPrice: must be ≥ 0").
//
// Threads: a compiled SchemaSet is not modified after compile(); validate() may be called on
// any thread at once. Each call has its own validator; a schema with a regex (pattern,
// patternProperties) validates under its own mutex, since RapidJSON's regex keeps its search
// state in the compiled schema (schema.cpp, Schema::Compiled).
//
// Also refused at load: a schema whose $refs recurse (RapidJSON recurses on $ref chains when
// compiling, and validates recursion through anyOf/oneOf in exponential time), one that expands
// to more than 100,000 subschemas or 200 levels with its $refs followed, and a pattern longer
// than 1,000 characters or whose {m,n} repeats, copied out as RapidJSON compiles them, nest to
// more than 1,000 copies or expand to more than about 10,000 states (a{1000}{1000}).
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "event/json.hpp"

namespace pemx::event {

// The dead-letter reason (pemx-dlq-reason) and push error reason of an event failing its
// type's schema.
inline constexpr std::string_view kReasonSchema = "schema";

struct SchemaFailure {
  std::string pointer;  // JSON pointer (RFC 6901) of the failing value in the event; "" = root
  std::string keyword;  // the schema keyword that failed: "minimum", "required", "type", …
  std::string message;  // what is expected, e.g. "must be ≥ 0"
  // "/data/newPrice: must be ≥ 0" (the event itself: "(event): …"); `prefix` goes before the
  // pointer ("/events/3" in a push).
  std::string describe(std::string_view prefix = {}) const;
};

class Schema {
 public:
  // `doc`: `text` parsed (a JSON object); compiled here. SchemaSet::compile checks it first.
  Schema(std::string event_type, std::string file, std::string text, rapidjson::Document doc);
  ~Schema();
  Schema(const Schema&) = delete;
  Schema& operator=(const Schema&) = delete;

  // nullopt when the event's JSON text passes. The text must be a JSON value that event
  // parsing (parse_bounded within `limits`) accepts; a text that does not parse fails with
  // keyword "json".
  std::optional<SchemaFailure> validate(std::string_view json, const JsonLimits& limits) const;
  // The same verdict on a value parsed by parse_bounded (ParsedEvent::root()).
  std::optional<SchemaFailure> validate(const rapidjson::Value& event) const;

  const std::string& event_type() const { return event_type_; }
  const std::string& file() const { return file_; }
  const std::string& text() const { return text_; }  // as in the file

  struct Compiled;  // RapidJSON's schema document and the schema's own DOM

 private:
  SchemaFailure explain(const rapidjson::Value& instance_root, std::string pointer,
                        std::string schema_pointer, std::string keyword) const;
  std::string event_type_;
  std::string file_;
  std::string text_;
  std::unique_ptr<Compiled> compiled_;
};

class SchemaSet {
 public:
  struct Source {
    std::string event_type;
    std::string file;  // for messages (as given in the config, or resolved)
    std::string text;  // the file's content
  };
  // Compiles every schema. Errors: one line per problem, each naming the event type's file.
  static std::shared_ptr<const SchemaSet> compile(std::vector<Source> sources,
                                                  std::vector<std::string>& errors);

  bool empty() const { return by_type_.empty(); }
  // One lookup: the schema of an event type, or null.
  const Schema* find(std::string_view event_type) const;
  std::vector<std::string> types() const;  // sorted

 private:
  std::map<std::string, std::unique_ptr<Schema>, std::less<>> by_type_;
};

// A schema text checked alone (what compile does for each source): the problems, empty when
// it can be used. For tests and check-config.
std::vector<std::string> check_schema_text(std::string_view text);

}  // namespace pemx::event
