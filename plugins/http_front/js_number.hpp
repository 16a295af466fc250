#pragma once
// JSON as the reference system's JSON.stringify wrote it: what the push produces and echoes
// (api.cpp's DOM path writes it, push_scan.cpp checks sent bytes against it).
#include <string>

#include <rapidjson/document.h>

namespace pemx::http_front {

// A double as JavaScript's Number::toString writes it (ECMA-262 6.1.6.1.20): the shortest
// digits that read back the same, as an integer below 1e21 ("1", not RapidJSON's "1.0"), in
// plain decimals down to 1e-6, otherwise with an explicit exponent sign ("1e+21"); -0 as "0".
std::string js_number(double d);

// A value as the reference's JSON.stringify wrote it: compact, doubles as js_number, integers
// that fit 64 bits exactly as they are (JSON.parse would round those past 2^53).
std::string to_js_json(const rapidjson::Value& v);

}  // namespace pemx::http_front
