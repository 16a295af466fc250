#include "tools/replay/options.hpp"

#include <algorithm>
#include <charconv>

#include "event/time.hpp"

namespace pemx::replay {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::int64_t> parse_time(std::string_view text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return c >= '0' && c <= '9';
      })) {
    // Digits only: epoch milliseconds. (A year alone is no ISO form is_iso8601 accepts.)
    std::int64_t ms = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
    return ms;
  }
  return event::iso8601_to_epoch_ms(text);
}

std::optional<std::vector<std::string>> split_list(std::string_view text) {
  std::vector<std::string> out;
  for (;;) {
    auto comma = text.find(',');
    std::string_view item = trim(text.substr(0, comma));
    if (item.empty()) return std::nullopt;
    out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

Result<ReplayOptions> parse_replay_args(const std::vector<std::string>& args) {
  ReplayOptions o;
  std::optional<std::int64_t> from, to;
  bool answers_itself = false;  // --help or --version: no range needed
  auto fail = [](std::string message) { return Error{"usage", std::move(message)}; };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    std::string value;
    // "--name=value" or "--name value": 1 taken, 0 not this option, -1 value missing.
    auto take = [&](std::string_view name) -> int {
      if (arg.size() > name.size() && arg.compare(0, name.size(), name) == 0 &&
          arg[name.size()] == '=') {
        value = arg.substr(name.size() + 1);
        return 1;
      }
      if (arg != name) return 0;
      if (i + 1 >= args.size()) return -1;
      value = args[++i];
      return 1;
    };
    if (arg == "--dry-run") {
      o.dry_run = true;
      continue;
    }
    if (arg == "--help" || arg == "-h" || arg == "--version") answers_itself = true;
    bool matched = false;
    for (std::string_view name : {"--from", "--to"}) {
      int t = take(name);
      if (t == 0) continue;
      if (t < 0) return fail(std::string(name) + " needs a time (ISO 8601, or epoch ms)");
      auto ms = parse_time(value);
      if (!ms) {
        return fail(std::string(name) + " \"" + value +
                    "\": expected an ISO 8601 time (2024-07-26T14:00:00Z, 2024-07-26) or "
                    "epoch milliseconds");
      }
      (name == "--from" ? from : to) = *ms;
      matched = true;
      break;
    }
    for (std::string_view name : {"--products", "--topics"}) {
      if (matched) break;
      int t = take(name);
      if (t == 0) continue;
      auto items = t < 0 ? std::nullopt : split_list(value);
      if (!items) {
        return fail(std::string(name) + " needs a comma-separated list without empty items");
      }
      auto& into = name == "--products" ? o.products : o.topics;
      into.insert(into.end(), items->begin(), items->end());
      matched = true;
    }
    if (matched) continue;
    if (int t = take("--page-size"); t != 0) {
      std::size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (t < 0 || ec != std::errc() || p != value.data() + value.size() || n < 1 ||
          n > kMaxPageSize) {
        return fail("--page-size needs a number from 1 to " + std::to_string(kMaxPageSize));
      }
      o.page_size = n;
      continue;
    }
    o.rest.push_back(arg);
  }
  if (answers_itself) return o;
  if (!from) return fail("replay needs --from TIME");
  if (!to) return fail("replay needs --to TIME");
  if (*from >= *to) return fail("--from must be before --to (the range is [from, to))");
  o.from_ms = *from;
  o.to_ms = *to;
  return o;
}

}  // namespace pemx::replay
