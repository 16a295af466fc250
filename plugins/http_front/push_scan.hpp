#pragma once
// The push's fast path: one SAX pass over a POST /event body that validates it and slices each
// event's bytes out of it, with no DOM and no re-serialisation.
//
// It decides only the common case: a body without a backslash that parses, and whose every
// event passes every rule. Each event that is already in the form the DOM path writes (compact,
// numbers as JSON.stringify writes them) is produced as its bytes in the body; one that is not
// (whitespace, "7.30", "1.0") is parsed alone and written as the DOM path writes it. Anything
// else (an error to report, an escape sequence, an object with many keys) returns nullopt, and
// parse_push_request answers with the DOM path (parse_push_request_dom), which has every
// message (an event failing its type's schema included: the DOM path names the pointer). The
// fast path therefore never changes what is produced: tests and the
// http_request, history_query and event_route fuzz targets check that both give the same.
#include <optional>
#include <string_view>
#include <vector>

#include "http_front/api.hpp"

namespace pemx::http_front {

// Keys an object may have for the fast path to check for duplicates itself (linearly); past
// it, the DOM path decides.
inline constexpr std::size_t kScanMaxKeysPerObject = 32;

// The events of a valid body in the DOM path's form, each `value` the body's own bytes; nullopt
// when the DOM path must decide (see above).
std::optional<std::vector<PushEvent>> scan_push_request(std::string_view body,
                                                        const PushRules& rules);

}  // namespace pemx::http_front
