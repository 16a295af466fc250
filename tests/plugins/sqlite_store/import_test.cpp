// import_events / run_import (`pemx import`) on real files: lines to rows through the row
// mapping and the writer, idempotence, bounded lines, the summary and the exit codes.
#include "sqlite_store/sqlite_import.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "plugins/sqlite_store/store_fixtures.hpp"
#include "plugins/sqlite_store/temp_dir.hpp"

namespace pemx::sqlite_store {
namespace {

using Catch::Matchers::Contains;
using test::RawDb;
using test::TempDir;
using test::uuid;

std::string line(int n, const std::string& created = R"({"$date":"2024-07-26T14:41:17.123Z"})") {
  return R"({"_id":{"$oid":"66a3b1f2c0ffee0000000001"},"eventId":{"$uuid":")" + uuid(n) +
         R"("},"eventType":"Country","productId":"P1","region":"EU","createdAt":)" + created +
         R"(,"data":{"country":"FR","n":{"$numberInt":")" + std::to_string(n) + R"("}},"__v":0})";
}

struct Fixture {
  TempDir dir;
  ImportOptions options;
  std::unique_ptr<SqliteEventStore> store;
  Fixture() {
    options.store.path = dir.file("events.db");
    options.store.reader_connections = 1;
    options.batch_size = 2;  // several batches in a few lines
    auto opened = SqliteEventStore::open(options.store);
    REQUIRE(opened.ok());
    store = std::move(opened.value());
  }
  ImportSummary run(const std::string& text) {
    std::istringstream in(text);
    auto summary = import_events(in, "export.json", *store, options, {});
    REQUIRE(summary.ok());
    return summary.value();
  }
};

TEST_CASE("import: rows with their source, duplicates counted, a second run all present",
          "[unit][sqlite_store][import]") {
  Fixture f;
  // CRLF line ends, a blank line, the same eventId twice, a bad line between.
  std::string text = line(1) + "\r\n" + line(2) + "\n\n" + "{oops\n" + line(1) + "\n" + line(3);
  ImportSummary s = f.run(text);
  CHECK(s.read == 5);
  CHECK(s.imported == 3);
  CHECK(s.present == 1);
  CHECK(s.rejected == 1);
  REQUIRE(s.reasons.count("invalid_json") == 1);
  CHECK(s.reasons["invalid_json"].first_lines == std::vector<std::int64_t>{4});

  RawDb db(f.options.store.path);
  CHECK(db.integer("SELECT count(*) FROM events") == 3);
  CHECK(db.integer("SELECT source_offset FROM events WHERE event_id = '" + uuid(3) + "'") == 6);
  CHECK(db.integer("SELECT count(*) FROM events WHERE source_topic = 'import:export.json' AND "
                   "source_partition = -1 AND created_at = '2024-07-26T14:41:17.123Z' AND "
                   "created_ms = 1722004877123") == 3);
  CHECK(db.integer(
            "SELECT count(*) FROM events WHERE data_json = '{\"country\":\"FR\",\"n\":2}'") == 1);

  ImportSummary again = f.run(text);
  CHECK(again.imported == 0);
  CHECK(again.present == 4);
  CHECK(again.rejected == 1);
  CHECK(db.integer("SELECT count(*) FROM events") == 3);
}

TEST_CASE("import: a line past the limit is rejected without being read whole",
          "[unit][sqlite_store][import]") {
  Fixture f;
  f.options.limits.max_bytes = 400;  // lines up to 800 bytes
  std::string big = line(7);
  big.insert(big.size() - 1, R"(,"pad":")" + std::string(100'000, 'x') + "\"");
  std::string edge = line(8);  // exactly 800 bytes: accepted by the line reader
  edge.insert(edge.find(R"(,"__v")"), R"(,"p":")" + std::string(800 - edge.size() - 7, 'y') + "\"");
  REQUIRE(edge.size() == 800);
  ImportSummary s = f.run(line(1) + "\n" + big + "\n" + line(2) + "\n" + edge + "\n" + big);
  CHECK(s.read == 5);
  CHECK(s.imported == 2);
  REQUIRE(s.reasons.count("event_too_large") == 1);
  // The two long lines, and the 800-byte one, whose event (without _id) is over 400 bytes.
  CHECK(s.reasons["event_too_large"].first_lines == std::vector<std::int64_t>{2, 4, 5});
  CHECK_THAT(s.reasons["event_too_large"].first_detail, Contains("800 bytes"));
}

TEST_CASE("import: reasons keep their count and first five line numbers; a JSON array export "
          "is named", "[unit][sqlite_store][import]") {
  Fixture f;
  f.options.validation = event::ValidationMode::kStrict;  // the non-UUID eventId is refused
  std::string text = "[" + line(1) + "]\n";
  for (int i = 0; i < 7; ++i) text += line(10 + i, R"({"$date":"nope"})") + "\n";
  text += R"({"eventId":"not-a-uuid","eventType":"Country","productId":"P","region":"EU",)"
          R"("createdAt":"2024-07-26T14:41:17Z"})";
  std::vector<std::size_t> seen;
  f.options.progress_every = std::chrono::milliseconds(0);
  std::istringstream in(text);
  auto s = import_events(in, "x", *f.store, f.options,
                         [&seen](const ImportSummary& p) { seen.push_back(p.read); });
  REQUIRE(s.ok());
  CHECK(s->rejected == 9);
  CHECK(s->reasons["bad_date"].count == 7);
  CHECK(s->reasons["bad_date"].first_lines == std::vector<std::int64_t>{2, 3, 4, 5, 6});
  CHECK(s->reasons["json_array_export"].count == 1);
  CHECK(s->reasons["invalid_event"].count == 1);
  CHECK(seen == std::vector<std::size_t>{1, 2, 3, 4, 5, 6, 7, 8, 9});
  std::string summary = summary_text(s.value(), "x.json", "events.db");
  CHECK_THAT(summary, Contains("9 lines read, 0 imported, 0 already present, 9 rejected"));
  CHECK_THAT(summary, Contains("rejected bad_date: 7 (lines 2, 3, 4, 5, 6, …); line 2: "
                               "createdAt: $date \"nope\" is not an ISO 8601 date"));
  CHECK_THAT(summary, Contains("rejected invalid_event: 1 (line 9); line 9: eventId:"));
}

TEST_CASE("import in the store's report mode keeps what the original stored although it "
          "breaks the push's field rules; strict mode refuses it", "[unit][sqlite_store][import]") {
  // The original validated only its push: a Country event without region, an empty productId
  // or a non-UUID eventId read from Kafka was stored, so its export can hold them.
  const std::string no_region =
      R"({"eventId":{"$uuid":")" + uuid(1) + R"("},"eventType":"Country","productId":"P1",)"
      R"("createdAt":{"$date":"2024-07-26T14:41:17Z"},"data":{"country":"FR"}})";
  const std::string empty_product =
      R"({"eventId":{"$uuid":")" + uuid(2) + R"("},"eventType":"Country","productId":"",)"
      R"("region":"EU","createdAt":{"$date":"2024-07-26T14:41:18Z"}})";
  const std::string text = no_region + "\n" + empty_product + "\n";
  SECTION("report (the store's default)") {
    Fixture f;
    REQUIRE(f.options.validation == event::ValidationMode::kReport);
    ImportSummary s = f.run(text);
    CHECK(s.imported == 2);
    CHECK(s.rejected == 0);
    RawDb db(f.options.store.path);
    CHECK(db.integer("SELECT count(*) FROM events WHERE event_id = '" + uuid(1) +
                     "' AND region = ''") == 1);
  }
  SECTION("strict") {
    Fixture f;
    f.options.validation = event::ValidationMode::kStrict;
    ImportSummary s = f.run(text);
    CHECK(s.imported == 0);
    CHECK(s.reasons["invalid_event"].count == 2);
  }
}

TEST_CASE("pemx import's exit codes: 0 all stored, 3 some rejected, 1 no file, 2 usage",
          "[unit][sqlite_store][import]") {
  TempDir dir;
  ImportOptions options;
  options.store.path = dir.file("events.db");
  const std::string file = dir.file("export.json");
  std::ofstream(file) << line(1) << "\n" << line(2) << "\n";
  std::istringstream no_input;
  std::ostringstream err;
  CHECK(run_import({file}, no_input, err, options) == kImportOk);
  CHECK_THAT(err.str(), Contains("2 lines read, 2 imported, 0 already present, 0 rejected"));
  err.str("");
  CHECK(run_import({file}, no_input, err, options) == kImportOk);
  CHECK_THAT(err.str(), Contains("2 lines read, 0 imported, 2 already present, 0 rejected"));

  std::istringstream stdin_lines(line(3) + "\nnot json\n");
  CHECK(run_import({"-"}, stdin_lines, err, options) == kImportRejected);
  RawDb db(options.store.path);
  CHECK(db.integer("SELECT count(*) FROM events WHERE source_topic = 'import:stdin'") == 1);

  err.str("");
  CHECK(run_import({dir.file("missing.json")}, no_input, err, options) == kImportFailed);
  CHECK_THAT(err.str(), Contains("cannot open") && Contains("missing.json"));
  CHECK(run_import({}, no_input, err, options) == 2);
  CHECK(run_import({file, file}, no_input, err, options) == 2);
}

TEST_CASE("pemx import refuses a directory as FILE before it opens (and creates) the store",
          "[unit][sqlite_store][import]") {
  TempDir dir;
  ImportOptions options;
  options.store.path = dir.file("events.db");
  std::istringstream no_input;
  std::ostringstream err;
  CHECK(run_import({dir.file("")}, no_input, err, options) == kImportFailed);
  CHECK_THAT(err.str(), Contains("is a directory"));
  CHECK_FALSE(std::filesystem::exists(options.store.path));
}

}  // namespace
}  // namespace pemx::sqlite_store
