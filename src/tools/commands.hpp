#pragma once
// The offline commands, one function each, for src/main.cpp's command table
// (tools/command.hpp). Each parses its own arguments, prints its own errors and returns the
// process's exit code (docs/configuration.md, `pemx --help`). Main's thread only.
#include "tools/command.hpp"

namespace pemx::tools {

// pemx check-config: loads the config as a run would, touching nothing outside, and prints
// the roles and each stage's summary; with --role, also that the role can run (role_problem).
int check_config(const Invocation& invocation);

// pemx route: JSON lines from `in` through the role's routing stage (default role dist), its
// decisions to `out`; the stage's StageSpec::run_tool("route") does the work.
int route(const Invocation& invocation);

// pemx import FILE: a mongoexport into the role's store (default role web); the store stage's
// StageSpec::run_command("import") does the work (docs/importing.md).
int import(const Invocation& invocation);

// pemx replay --from TIME --to TIME: stored events of that createdAt range, from the store
// (the role's, else the web role's), through the role's router and sink (default role dist):
// the current rules, the dist role's delivery (tools/replay/replay.hpp, docs/replay.md).
int replay(const Invocation& invocation);

// pemx simulate: its own options (tools/simulate/options.hpp), then tools/simulate/simulate.hpp.
int simulate(const Invocation& invocation);

}  // namespace pemx::tools
