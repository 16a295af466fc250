#pragma once
// pemx replay's arguments: the time range, the filters, --dry-run and the options every
// config-reading command shares (--role, --config, --set). Pure: no config, no IO.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pemx/result.hpp"

namespace pemx::replay {

// Rows read from the store per page (keyset pagination): --page-size's default and bounds.
inline constexpr std::size_t kDefaultPageSize = 500;
inline constexpr std::size_t kMaxPageSize = 10000;

struct ReplayOptions {
  std::int64_t from_ms = 0;  // createdAt >= from
  std::int64_t to_ms = 0;    // createdAt <  to
  std::vector<std::string> products;  // empty: every product
  std::vector<std::string> topics;    // empty: every target topic
  bool dry_run = false;
  std::size_t page_size = kDefaultPageSize;
  // What is left for parse_common_args (--role, --config, --set, --help, --version).
  std::vector<std::string> rest;
};

// An ISO 8601 date-time or date (event::iso8601_to_epoch_ms's forms; no offset means UTC), or
// epoch milliseconds (digits only). nullopt when it is neither.
std::optional<std::int64_t> parse_time(std::string_view text);

// "a,b , c" -> {"a","b","c"}; empty items are an error (nullopt).
std::optional<std::vector<std::string>> split_list(std::string_view text);

// Reads --from, --to (both required, from < to), --products, --topics (comma lists, may be
// repeated), --dry-run and --page-size as "--name value" or "--name=value"; every other
// argument goes to `rest`. The Error's message is the usage error to print. A --help or
// --version in `rest` skips the checks of the range (the caller answers them first).
Result<ReplayOptions> parse_replay_args(const std::vector<std::string>& args);

}  // namespace pemx::replay
