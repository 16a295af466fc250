// Fuzz target import_document: one line of a mongoexport file, as `pemx import` reads it
// (src/store/import.cpp), through
//  - the Extended JSON conversion (src/import/extended_json.hpp) under the document limits of
//    the default [events] limits, and under small limits (depth 3, 300 bytes);
//  - the store's row mapping of the event it converts to.
// Checks: a converted event is a JSON object within the document limits with no duplicate key,
// an eventId, no `_id` or `__v` at its top, and no key starting with `$` anywhere (every
// wrapper was converted or refused); converting it again changes nothing; a row maps the
// event's bytes exactly. Any crash, sanitizer report, leak or failed check is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "event/json.hpp"
#include "import/extended_json.hpp"
#include "store/row_mapping.hpp"

namespace {

using namespace pemx;

[[noreturn]] void fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "import_document: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

bool dollar_key(const rapidjson::Value& v) {
  if (v.IsObject()) {
    for (const auto& m : v.GetObject()) {
      if (m.name.GetStringLength() > 0 && m.name.GetString()[0] == '$') return true;
      if (dollar_key(m.value)) return true;
    }
  } else if (v.IsArray()) {
    for (const auto& item : v.GetArray()) {
      if (dollar_key(item)) return true;
    }
  }
  return false;
}

void check(std::string_view input, const event::JsonLimits& events) {
  const event::JsonLimits limits = import::document_limits(events);
  auto converted = import::convert_document(input, limits);
  if (!converted) {
    if (converted.error().code.empty()) fail("a refusal without a reason", input.substr(0, 300));
    return;
  }
  const std::string& text = converted.value();
  rapidjson::Document doc;
  // The output may be longer than the input ({"$date":1} becomes a 26-character string), but
  // never deeper and never with a key the input did not have.
  event::JsonLimits output_limits = limits;
  output_limits.max_bytes = 4 * limits.max_bytes + 64;
  if (auto e = event::parse_bounded<rapidjson::kParseValidateEncodingFlag>(doc, text,
                                                                            output_limits)) {
    fail("the converted event does not parse", e.detail + " in " + text.substr(0, 300));
  }
  if (!doc.IsObject() || !doc.HasMember("eventId")) fail("no eventId object", text.substr(0, 300));
  if (doc.HasMember("_id") || doc.HasMember("__v")) fail("_id or __v kept", text.substr(0, 300));
  if (dollar_key(doc)) fail("a $ key survived", text.substr(0, 300));
  if (text.size() <= limits.max_bytes) {
    auto again = import::convert_document(text, limits);
    if (!again) fail("the converted event converts no more", again.error().message);
    if (again.value() != text) fail("converting twice changes the event", text.substr(0, 300));
  }
  auto row = store::map_event_row(text, {"import:fuzz", -1, 1}, 0, events);
  if (row && row->raw_json != text) fail("row", "raw_json differs from the event");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check(input, event::JsonLimits{});
  check(input, event::JsonLimits{3, 300});
  return 0;
}
