#include "store/import.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <ostream>
#include <span>
#include <sstream>
#include <thread>

#include "event/reasons.hpp"
#include "import/extended_json.hpp"
#include "store/row_mapping.hpp"

namespace pemx::store {

namespace {

// A line that starts a `mongoexport --jsonArray` export.
constexpr std::string_view kJsonArray = "json_array_export";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

// Lines of at most `max` bytes from a stream, without holding a longer one: its first `max`
// bytes are read into the buffer, the rest is skipped.
class LineReader {
 public:
  LineReader(std::istream& in, std::size_t max) : in_(in), buffer_(max + 2) {}

  // False at the end of the input. `too_long` tells that the line was cut and skipped.
  bool next(std::string_view& line, bool& too_long) {
    too_long = false;
    if (!in_.good()) return false;
    in_.getline(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    auto got = static_cast<std::size_t>(in_.gcount());
    if (in_.bad()) return false;
    if (in_.fail() && !in_.eof()) {  // the buffer filled before the end of the line
      in_.clear();
      in_.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
      too_long = true;
      line = {};
      return true;
    }
    if (got == 0 && in_.eof()) return false;
    // gcount counts the extracted line break, which is not stored; the last line may have none.
    std::size_t size = in_.eof() ? got : got - 1;
    line = std::string_view(buffer_.data(), size);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > buffer_.size() - 2) too_long = true;  // max + 1 bytes: past the limit
    return true;
  }

 private:
  std::istream& in_;
  std::vector<char> buffer_;
};

void reject(ImportSummary& summary, std::int64_t line, const std::string& code,
            const std::string& detail) {
  ++summary.rejected;
  auto& reason = summary.reasons[code];
  if (reason.count++ == 0) reason.first_detail = detail;
  if (reason.first_lines.size() < ImportSummary::kFirstLines) reason.first_lines.push_back(line);
}

// Writes the rows in one batch, retrying transient failures (another writer holds the lock
// beyond the busy timeout, disk full, I/O) with a backoff until give_up_after.
Result<WriteStats> write_retrying(Backend& store, std::span<const EventRow> rows,
                                  const ImportOptions& options) {
  Backoff backoff(options.retry);
  const auto give_up = std::chrono::steady_clock::now() + options.give_up_after;
  for (;;) {
    auto written = store.write_batch(rows);
    if (written || !store.transient(written.error()) ||
        std::chrono::steady_clock::now() >= give_up) {
      return written;
    }
    std::this_thread::sleep_for(backoff.next());
  }
}

// Writes the batch. A batch that fails because of a row's value (Backend::row_fault: e.g. an
// index entry too large for PostgreSQL) is written again one row at a time, and each row that
// fails that way is rejected as unstorable with its line (the stage dead-letters such rows;
// an import must not stop at them, or run again it would stop at the same line).
std::optional<Error> write(Backend& store, std::vector<EventRow>& rows,
                           ImportSummary& summary, const ImportOptions& options) {
  if (rows.empty()) return std::nullopt;
  auto written = write_retrying(store, rows, options);
  if (!written && store.row_fault(written.error())) {
    for (const auto& row : rows) {
      auto one = write_retrying(store, std::span<const EventRow>(&row, 1), options);
      if (one) {
        summary.imported += one.value().stored;
        summary.present += one.value().duplicates;
      } else if (store.row_fault(one.error())) {
        reject(summary, row.source_offset, std::string(event::kReasonUnstorable),
               one.error().message);
      } else {
        return one.error();
      }
    }
    rows.clear();
    return std::nullopt;
  }
  if (!written) return written.error();
  summary.imported += written.value().stored;
  summary.present += written.value().duplicates;
  rows.clear();
  return std::nullopt;
}

}  // namespace

Result<ImportSummary> import_events(std::istream& in, std::string_view source_name,
                                    Backend& store, const ImportOptions& options,
                                    const std::function<void(const ImportSummary&)>& progress) {
  ImportSummary summary;
  const event::JsonLimits document_limits = import::document_limits(options.limits);
  const std::string topic = "import:" + std::string(source_name);
  const std::size_t batch_size = options.batch_size == 0 ? 1 : options.batch_size;
  std::vector<EventRow> rows;
  rows.reserve(batch_size);
  auto last_progress = std::chrono::steady_clock::now();

  LineReader reader(in, document_limits.max_bytes);
  std::string_view line;
  bool too_long = false;
  for (std::int64_t number = 1; reader.next(line, too_long); ++number) {
    if (number == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);  // a BOM
    if (!too_long && blank(line)) continue;
    ++summary.read;
    if (too_long) {
      reject(summary, number, std::string(event::kReasonTooLarge),
             "the line is longer than " + std::to_string(document_limits.max_bytes) +
                 " bytes (twice [events] max_bytes)");
    } else if (line.find_first_not_of(" \t") != std::string_view::npos &&
               line[line.find_first_not_of(" \t")] == '[') {
      reject(summary, number, std::string(kJsonArray),
             "a JSON array (mongoexport --jsonArray): export again without --jsonArray, one "
             "document per line");
    } else if (auto event = import::convert_document(line, document_limits); !event) {
      reject(summary, number, event.error().code, event.error().message);
    } else if (auto row = map_event_row(event.value(), {topic, -1, number}, now_ms(),
                                        options.limits, options.validation);
               !row) {
      reject(summary, number, row.error().code, row.error().message);
    } else if (auto refused = store.refuse_row(row.value())) {
      reject(summary, number, std::string(event::kReasonUnstorable), *refused);
    } else {
      rows.push_back(std::move(row.value()));
      if (rows.size() >= batch_size) {
        if (auto e = write(store, rows, summary, options)) return *e;
      }
    }
    auto now = std::chrono::steady_clock::now();
    if (progress && now - last_progress >= options.progress_every) {
      last_progress = now;
      progress(summary);
    }
  }
  if (in.bad()) {
    return Error{"read_failed", "reading " + std::string(source_name) + " failed after line " +
                                    std::to_string(summary.read) + ": " + std::strerror(errno)};
  }
  if (auto e = write(store, rows, summary, options)) return *e;
  return summary;
}

std::string progress_text(const ImportSummary& s) {
  return std::to_string(s.read) + " lines read, " + std::to_string(s.imported) + " imported, " +
         std::to_string(s.present) + " already present, " + std::to_string(s.rejected) +
         " rejected";
}

std::string summary_text(const ImportSummary& s, std::string_view source,
                         std::string_view store_path) {
  std::ostringstream out;
  out << "pemx import: " << source << " into " << store_path << ": " << progress_text(s) << "\n";
  for (const auto& [code, reason] : s.reasons) {
    out << "  rejected " << code << ": " << reason.count << " (line"
        << (reason.first_lines.size() > 1 ? "s " : " ");
    for (std::size_t i = 0; i < reason.first_lines.size(); ++i) {
      out << (i == 0 ? "" : ", ") << reason.first_lines[i];
    }
    if (reason.count > reason.first_lines.size()) out << ", …";
    out << "); line " << reason.first_lines.front() << ": "
        << event::excerpt(reason.first_detail, 200) << "\n";
  }
  return out.str();
}

int run_import(const std::vector<std::string>& operands, std::istream& in, std::ostream& err,
               const ImportOptions& options, const BackendOpener& open) {
  if (operands.size() != 1) {
    err << "pemx import: expected one FILE (\"-\" for standard input), got " << operands.size()
        << "\nRun pemx --help for usage.\n";
    return 2;
  }
  const std::string& file = operands.front();
  std::ifstream stream;
  std::istream* source = &in;
  std::string name = "stdin";
  if (file != "-") {
    // A directory opens like a file and fails only at the first read: refuse it before the
    // store file is opened (and created).
    if (std::error_code ec; std::filesystem::is_directory(file, ec)) {
      err << "pemx import: " << file << " is a directory; pass the file mongoexport wrote\n";
      return kImportFailed;
    }
    stream.open(file, std::ios::binary);
    if (!stream) {
      err << "pemx import: cannot open " << file << ": " << std::strerror(errno)
          << "; check the path and that it is readable\n";
      return kImportFailed;
    }
    source = &stream;
    name = std::filesystem::path(file).filename().string();
  }
  auto store = open();
  if (!store) {
    err << "pemx import: " << store.error().message << "\n";
    return kImportFailed;
  }
  const std::string& location = store.value()->location();
  err << "pemx import: " << (file == "-" ? "standard input" : file) << " into " << location
      << " (schema version " << store.value()->schema_version() << ")\n";
  auto summary = import_events(*source, name, *store.value(), options,
                               [&err](const ImportSummary& s) {
                                 err << "pemx import: " << progress_text(s) << "\n";
                               });
  if (!summary) {
    err << "pemx import: stopped: " << summary.error().message
        << "\n(the batches committed before stay stored; run the import again to continue)\n";
    return kImportFailed;
  }
  err << summary_text(summary.value(), file == "-" ? "standard input" : file, location);
  return summary.value().rejected == 0 ? kImportOk : kImportRejected;
}

}  // namespace pemx::store
