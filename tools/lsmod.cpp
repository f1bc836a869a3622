// lsmod: the loaded modules, from one read of /proc/modules.
//
// kmod's lsmod reads /sys/module/NAME/{refcnt,holders,...} for every module; a module that goes
// away between those reads shows up with nonsense (negative) numbers. One read of /proc/modules is
// a consistent picture and much cheaper.
#include <cinttypes>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include <modload/snapshot.hpp>

#include "tool.hpp"

namespace modload::tools {

namespace {

// kmod's layout, "%-19s %8ld  %d" and the holders after a space, comma-separated.
void append_row(std::string& out, const LoadedModule& m) {
    char row[128];
    const int refcount = m.refcount.value_or(0);
    const int n = std::snprintf(row, sizeof row, "%-19s %8" PRIu64 "  ", m.name.c_str(), m.size);
    out.append(row, static_cast<std::size_t>(n > 0 ? n : 0));
    if (m.refcount) {
        out += std::to_string(refcount);
    } else {
        out += '-';
    }
    for (std::size_t i = 0; i < m.holders.size(); ++i) {
        out += i == 0 ? ' ' : ',';
        out += m.holders[i];
    }
    out += '\n';
}

}  // namespace

int run_lsmod(ToolContext& ctx, int argc, char** argv) {
    Reporter report("lsmod", ctx.err);
    CLI::App app("Show the modules loaded in the Linux kernel.", "lsmod");
    CommonFlags common;
    add_common_flags(app, common, false);
    if (const int status = parse_command_line(app, argc, argv, ctx, report, common); status >= 0) {
        return status;
    }

    auto snapshot = Snapshot::read(ctx.root);
    if (!snapshot) {
        report.error(snapshot_error_text(snapshot.error()));
        return 1;
    }
    std::string out = "Module                  Size  Used by\n";
    out.reserve(out.size() + snapshot->modules().size() * 48);
    for (const LoadedModule& m : snapshot->modules()) {
        append_row(out, m);
    }
    ctx.out.write(out.data(), static_cast<std::streamsize>(out.size()));
    ctx.out.flush();
    return ctx.out ? 0 : 1;
}

}  // namespace modload::tools
