// What every tool's command line has: -s, -v and -V, help, and kmod's usage errors.
#pragma once

#include "reporter.hpp"
#include "tool_context.hpp"

namespace CLI {
class App;
}

namespace modload::tools {

/// The options every tool has: -s, -v and -V.
struct CommonFlags {
    bool syslog = false;
    int verbose = 0;
    bool version = false;
};

/// Adds -s/--syslog (--syslog alone when `short_syslog` is false: lsmod's -s is --sort),
/// -v/--verbose and -V/--version, as kmod's tools take them.
void add_common_flags(CLI::App& app, CommonFlags& flags, bool short_syslog = true);

/// Parses the command line and acts on the common flags. Returns -1 to go on, or the exit
/// status: 0 after --help or --version, 1 after a usage error (as kmod: never CLI11's own codes).
int parse_command_line(CLI::App& app, int argc, char** argv, ToolContext& ctx, Reporter& report,
                       const CommonFlags& flags);

/// "modload version X" and the compressions this build reads.
void print_version(ToolContext& ctx);

}  // namespace modload::tools
