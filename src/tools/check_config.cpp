#include <ostream>

#include "core/config.hpp"
#include "tools/commands.hpp"

namespace pemx::tools {

int check_config(const Invocation& invocation) {
  ParsedArgs parsed = parse_common_args(invocation, Operands::kNone);
  if (parsed.exit_code) return *parsed.exit_code;
  auto loaded = load_config_or_report(parsed.args, invocation.registry, invocation.err);
  if (!loaded) return 2;
  const Config& config = *loaded;
  // --role: the one start-up would run, checked as start-up checks it.
  if (!parsed.args.role.empty()) {
    if (auto problem = role_problem(config, parsed.args.role)) {
      invocation.err << "config error: roles: " << *problem << "\n";
      return 2;
    }
  }
  std::ostream& out = invocation.out;
  out << "config " << config.file << ": ok\n";
  for (const auto& [role, stages] : config.roles) {
    out << "role " << role << ":";
    for (const auto& s : stages) out << " " << s;
    out << "\n";
  }
  for (const auto& st : config.stages) {
    out << "stage " << st.name << " (" << st.type << "): " << st.spec->describe();
  }
  return 0;
}

}  // namespace pemx::tools
