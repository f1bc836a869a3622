// lsmod --trace: each get and put of the named modules' references, live.
#pragma once

#include <string>
#include <vector>

#include "tool.hpp"

namespace modload::tools {

/// Follows the modules' gets and puts (tracefs events module:module_get and module:module_put,
/// in a tracefs instance of lsmod's own) and prints one line per event until SIGINT/SIGTERM or
/// every module named is removed. Leaves tracing as it found it. Returns the exit status.
int run_lsmod_trace(ToolContext& ctx, Reporter& report, const std::vector<std::string>& names);

}  // namespace modload::tools
