// Fuzz target lineage_headers: the Kafka message headers GET /event/{eventId}/lineage reads.
// Anyone who can produce to the storage, output or dead-letter topics writes them, so they
// are untrusted bytes. The input is a list of headers, each "name\0value\0"; they go through
// HeaderPicker (as the Kafka scan offers them), parse_router_headers, and lineage_answer as
// the storage message's headers and as the headers of 150 dead letters held under one
// HeldBudget. Checks: a kept value is at most kMaxLineageHeaderBytes plus the "…" mark and
// only of a name in kLineageHeaders; the budget keeps at most kMaxLineageDeadLetters dead
// letters and says truncated past them; the answer is well-formed UTF-8 JSON.
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>
#include <string_view>

#include "http_front/lineage.hpp"

namespace {

using namespace pemx;
using namespace pemx::http_front;

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "lineage_headers: %s: %s\n", what, detail.c_str());
  std::abort();
}

constexpr std::size_t kDeadLetters = 150;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  HeaderPicker picker;
  for (std::size_t at = 0; at < input.size();) {
    const std::size_t name_end = std::min(input.find('\0', at), input.size());
    const std::string_view name = input.substr(at, name_end - at);
    const std::size_t value_at = std::min(name_end + 1, input.size());
    const std::size_t value_end = std::min(input.find('\0', value_at), input.size());
    picker.offer(name, input.substr(value_at, value_end - value_at));
    at = value_end + 1;
  }
  const MessageHeaders kept = picker.take();
  for (const auto& [name, value] : kept) {
    if (std::find(std::begin(kLineageHeaders), std::end(kLineageHeaders), name) ==
        std::end(kLineageHeaders)) {
      fail("a header lineage does not read was kept", name);
    }
    if (value.size() > kMaxLineageHeaderBytes + std::string_view("…").size()) {
      fail("a kept value is over the limit", std::to_string(value.size()));
    }
  }
  const std::string cut = cut_header_value(input, size % 64);
  if (cut.size() > size % 64 + std::string_view("…").size()) fail("cut too long", cut);

  const RouterHeaders parsed = parse_router_headers(kept);
  if (parsed.source_partition && *parsed.source_partition < 0) {
    fail("a negative source partition", std::to_string(*parsed.source_partition));
  }

  LineageReport report;
  report.event_id = "e1";
  report.rules_known = true;
  report.rules_version = "v";
  report.storage = FoundMessage{"storage", 0, 1, 2, kept};
  report.outputs.push_back({"out", std::string(kLineageMainCluster), {0},
                            FoundMessage{"out", 0, 3, 4, kept}, false, "", 1});
  HeldBudget budget;
  for (std::size_t i = 0; i < kDeadLetters; ++i) {
    FoundMessage dead{"dlq", 0, static_cast<std::int64_t>(i), 5, kept};
    if (budget.admit_dead_letter(dead)) report.dead_letters.push_back(std::move(dead));
  }
  if (report.dead_letters.size() > kMaxLineageDeadLetters) {
    fail("more dead letters kept than the limit", std::to_string(report.dead_letters.size()));
  }
  if (!budget.truncated()) fail("150 dead letters were not truncated", "");
  report.dead_letters_truncated = budget.truncated();

  const Answer answer = lineage_answer(report);
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(answer.body.data(), answer.body.size());
  if (doc.HasParseError()) {
    fail("the answer is not valid JSON", rapidjson::GetParseError_En(doc.GetParseError()));
  }
  return 0;
}
