// store::import_events / run_import against the backend contract (a fake backend): the
// backend's transient() decides what is retried, the store is opened only once FILE checks
// out, and its location and schema version name it in the output.
#include "store/import.hpp"

#include <catch2/catch.hpp>

#include <sstream>
#include <string>

#include "store/fake_backend.hpp"

namespace pemx::store {
namespace {

using Catch::Matchers::Contains;
using test::FakeBackend;

std::string line(int n) {
  return R"({"eventId":{"$uuid":"00000000-0000-4000-8000-00000000000)" + std::to_string(n) +
         R"("},"eventType":"Country","productId":"P1","region":"EU",)"
         R"("createdAt":{"$date":"2024-07-26T14:41:17.123Z"},"data":{"country":"FR"}})";
}

ImportOptions fast_options() {
  ImportOptions options;
  options.batch_size = 2;
  options.retry = {std::chrono::milliseconds(1), std::chrono::milliseconds(2), 2.0, 0};
  return options;
}

TEST_CASE("import: what the backend calls transient is retried, the rest stops the import",
          "[unit][store][import]") {
  FakeBackend backend;
  ImportOptions options = fast_options();
  {
    backend.fail_next({{test::kTransientCode, "try again"}, {test::kTransientCode, "again"}});
    std::istringstream in(line(1) + "\n" + line(2) + "\n" + line(3) + "\n");
    auto summary = import_events(in, "x", backend, options, {});
    REQUIRE(summary.ok());
    CHECK(summary.value().imported == 3);
    CHECK(backend.rows() == 3);
    CHECK(backend.calls() == 4);  // the first batch three times, the second once
  }
  {
    backend.fail_next({{"corrupt", "the database is broken"}});
    std::istringstream in(line(4) + "\n" + line(5) + "\n");
    auto summary = import_events(in, "x", backend, options, {});
    REQUIRE_FALSE(summary.ok());
    CHECK(summary.error().code == "corrupt");
    CHECK(backend.rows() == 3);
  }
}

TEST_CASE("import: rows the backend refuses or cannot hold are rejected as unstorable with "
          "their lines, the others imported", "[unit][store][import]") {
  FakeBackend backend;
  ImportOptions options = fast_options();
  options.batch_size = 3;
  backend.refuse({"00000000-0000-4000-8000-000000000002"});
  backend.poison({"00000000-0000-4000-8000-000000000005"});
  std::istringstream in(line(1) + "\n" + line(2) + "\n" + line(3) + "\n" + line(4) + "\n" +
                        line(5) + "\n" + line(6) + "\n");
  auto summary = import_events(in, "x", backend, options, {});
  REQUIRE(summary.ok());
  CHECK(summary.value().read == 6);
  CHECK(summary.value().imported == 4);
  CHECK(summary.value().rejected == 2);
  CHECK(backend.rows() == 4);
  REQUIRE(summary.value().reasons.count("unstorable_event") == 1);
  const auto& reason = summary.value().reasons.at("unstorable_event");
  CHECK(reason.count == 2);
  CHECK(reason.first_lines == std::vector<std::int64_t>{2, 5});
  CHECK_THAT(reason.first_detail, Contains("cannot hold"));
  // Run again: nothing new, the same two lines rejected (the import does not stop at them).
  std::istringstream again(line(1) + "\n" + line(2) + "\n" + line(3) + "\n" + line(4) + "\n" +
                           line(5) + "\n" + line(6) + "\n");
  auto second = import_events(again, "x", backend, options, {});
  REQUIRE(second.ok());
  CHECK(second.value().imported == 0);
  CHECK(second.value().present == 4);
  CHECK(second.value().rejected == 2);
}

TEST_CASE("run_import opens the store only for a readable FILE, and names it by its location",
          "[unit][store][import]") {
  int opened = 0;
  BackendOpener open = [&opened]() -> Result<std::unique_ptr<Backend>> {
    ++opened;
    return std::unique_ptr<Backend>(std::make_unique<FakeBackend>());
  };
  std::istringstream none;
  std::ostringstream err;
  CHECK(run_import({"/nonexistent/export.json"}, none, err, fast_options(), open) ==
        kImportFailed);
  CHECK(run_import({}, none, err, fast_options(), open) == 2);
  CHECK(opened == 0);

  std::istringstream in(line(1) + "\n{oops\n");
  std::ostringstream out;
  CHECK(run_import({"-"}, in, out, fast_options(), open) == kImportRejected);
  CHECK(opened == 1);
  CHECK_THAT(out.str(), Contains("into fake://events (schema version 7)"));
  CHECK_THAT(out.str(), Contains("1 imported"));

  BackendOpener refuse = []() -> Result<std::unique_ptr<Backend>> {
    return Error{"cant_open", "fake://events: cannot open; start the database"};
  };
  std::istringstream again(line(1) + "\n");
  std::ostringstream refused;
  CHECK(run_import({"-"}, again, refused, fast_options(), refuse) == kImportFailed);
  CHECK_THAT(refused.str(), Contains("fake://events: cannot open; start the database"));
}

}  // namespace
}  // namespace pemx::store
