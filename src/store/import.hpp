#pragma once
// `pemx import FILE`, the part every backend shares: the original system's events collection,
// as exported by mongoexport (JSON lines in MongoDB Extended JSON v2), into a store. Each line
// is read within bounds, converted (src/import/extended_json.hpp), mapped to a row by the
// store's row mapping (row_mapping.hpp) and written through the Backend in batches (one
// transaction each, idempotent on eventId), so running it twice, or while a web role writes
// the same store, is safe. A store stage's run_command opens its backend and calls
// run_import (plugins/sqlite_store/sqlite_import.hpp). docs/importing.md is the operator's guide.
//
// Threads: none of its own; the caller's thread does everything.
#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/retry.hpp"
#include "event/json.hpp"
#include "event/validate.hpp"
#include "pemx/result.hpp"
#include "store/backend.hpp"

namespace pemx::store {

// Exit codes of `pemx import` (besides 2 for usage and configuration errors).
inline constexpr int kImportOk = 0;        // every line imported or already present
inline constexpr int kImportFailed = 1;    // the file or the store failed; see the message
inline constexpr int kImportRejected = 3;  // done, but some lines were rejected

struct ImportOptions {
  std::size_t batch_size = 500;  // rows per transaction
  event::JsonLimits limits;      // [events]: each converted event's bounds
  // The store stage's validation: in report and off mode an event that breaks the push's
  // field rules (the original stored those) is imported like the stage would store it.
  event::ValidationMode validation = event::ValidationMode::kReport;
  RetryPolicy retry{std::chrono::milliseconds(100), std::chrono::milliseconds(5000), 2.0, 0};
  std::chrono::milliseconds give_up_after{60'000};  // a write failing this long stops it
  std::chrono::milliseconds progress_every{1000};   // at most one progress line per interval
};

struct ImportSummary {
  struct Reason {
    std::size_t count = 0;
    std::vector<std::int64_t> first_lines;  // at most kFirstLines line numbers
    std::string first_detail;               // what was wrong with the first of them
  };
  static constexpr std::size_t kFirstLines = 5;
  std::size_t read = 0;      // documents read (blank lines are skipped, not counted)
  std::size_t imported = 0;  // new rows
  std::size_t present = 0;   // eventId already stored (or earlier in the file)
  std::size_t rejected = 0;
  std::map<std::string, Reason> reasons;  // by reason code
};

// Reads documents from `in`, one per line, and writes them into `store`. The source of each
// row is {"import:" + source_name, partition -1, offset = line number}. A line longer than
// the document limit is rejected ("event_too_large") without being held whole. `progress`
// is called at most once per options.progress_every. An Error when the store fails for good
// (the rows of the batches committed before stay stored; a rerun skips them).
Result<ImportSummary> import_events(std::istream& in, std::string_view source_name,
                                    Backend& store, const ImportOptions& options,
                                    const std::function<void(const ImportSummary&)>& progress);

// "N lines read, N imported, N already present, N rejected".
std::string progress_text(const ImportSummary& summary);
// The summary: the counts, then one line per rejection reason with its count, first line
// numbers and first detail.
std::string summary_text(const ImportSummary& summary, std::string_view source,
                         std::string_view store_path);

// The whole command: operands {FILE} ("-": `in`), progress and summary on `err`; the exit code.
// `open` opens the store, only once FILE checks out (a missing FILE creates no store).
int run_import(const std::vector<std::string>& operands, std::istream& in, std::ostream& err,
               const ImportOptions& options, const BackendOpener& open);

}  // namespace pemx::store
