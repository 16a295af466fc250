#pragma once
// Parses a JSON text a test expects to be valid; the test fails at once if it is not.
#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include <string_view>

namespace pemx::test {

inline rapidjson::Document parse_json(std::string_view text) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  INFO("JSON text: " << text.substr(0, 2000));
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

}  // namespace pemx::test
