// One program for the three tools, as kmod is one: insmod, rmmod and lsmod are links to it, and
// the name it was started by chooses the tool. One image to load and relocate per call, and one
// copy of the code on disk.
#include <array>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "tool.hpp"

namespace {

struct Tool {
    std::string_view name;
    int (*run)(modload::tools::ToolContext&, int, char**);
    /// insmod and rmmod die of a stop signal so that a calling script stops too; Ctrl-C is how
    /// `lsmod --trace` is meant to end, with status 0.
    bool dies_of_stop_signal;
};

constexpr std::array kTools = {
    Tool{"insmod", modload::tools::run_insmod, true},
    Tool{"rmmod", modload::tools::run_rmmod, true},
    Tool{"lsmod", modload::tools::run_lsmod, false},
};

const Tool* tool_named(std::string_view name) {
    for (const Tool& tool : kTools) {
        if (tool.name == name) {
            return &tool;
        }
    }
    return nullptr;
}

std::string_view basename_of(const char* path) {
    const char* slash = std::strrchr(path, '/');
    return slash != nullptr ? slash + 1 : path;
}

}  // namespace

int main(int argc, char** argv) {
    const Tool* tool = argc > 0 ? tool_named(basename_of(argv[0])) : nullptr;
    // `modload lsmod ...` runs a tool without its link, as kmod takes `kmod list`.
    if (tool == nullptr && argc > 1) {
        tool = tool_named(argv[1]);
        --argc;
        ++argv;
    }
    if (tool == nullptr) {
        (void)std::fputs(
            "usage: modload insmod|rmmod|lsmod [ARGS...], or run it through a link "
            "named insmod, rmmod or lsmod\n",
            stderr);
        return 1;
    }
    modload::tools::ToolContext ctx = modload::tools::system_context();
    const int status = tool->run(ctx, argc, argv);
    return tool->dies_of_stop_signal ? modload::tools::exit_status_or_reraise(status) : status;
}
