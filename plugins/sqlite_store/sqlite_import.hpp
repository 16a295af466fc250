#pragma once
// `pemx import FILE` into the stage's SQLite file: the shared command (src/store/import.hpp:
// line reading, conversion, row mapping, batches, summary, exit codes) over a
// SqliteEventStore opened with the stage's options (migrations at open, WAL, busy timeout).
//
// Threads: none of its own; the caller's thread does everything.
#include <iosfwd>
#include <string>
#include <vector>

#include "sqlite_store/sqlite_backend.hpp"
#include "store/import.hpp"

namespace pemx::sqlite_store {

using store::import_events;
using store::ImportSummary;
using store::kImportFailed;
using store::kImportOk;
using store::kImportRejected;
using store::progress_text;
using store::summary_text;

struct ImportOptions : store::ImportOptions {
  StoreOptions store;  // the file; the import opens one reader connection whatever it says
};

// store::run_import into options.store's file.
int run_import(const std::vector<std::string>& operands, std::istream& in, std::ostream& err,
               const ImportOptions& options);

}  // namespace pemx::sqlite_store
