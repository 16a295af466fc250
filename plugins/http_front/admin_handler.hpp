#pragma once
// POST /api/admin/reload's answer and the "rules" object of /api/info, as JSON: pure functions
// of what the reload (pemx/reload.hpp) reports.
#include <string>

#include "pemx/reload.hpp"

namespace pemx::http_front {

// {"version", "loadedAt", "reloads", "reloadFailures", "stages": [{"stage", "version",
// "loadedAt"}]}: the top-level version and time are the first router's (by stage name), null
// when the config has no router.
std::string rules_status_json(const ReloadStatus& status);

// 200 {"ok": true, "version", "loadedAt", "reloadedAt", "swapped", "needsRestart", "stages"}
// (and a "note" when there is nothing to swap), or 422 {"ok": false, "error", "version", ...}
// with the running rules.
struct ReloadAnswer {
  int status = 200;
  std::string body;
};
ReloadAnswer reload_answer(const ReloadOutcome& outcome);

}  // namespace pemx::http_front
