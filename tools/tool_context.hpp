// The world a tool runs in: given to it, so that tests run it in-process against a fake kernel
// and a fixture root.
#pragma once

#include <ostream>
#include <string>

#include <modload/system.hpp>

namespace modload::tools {

/// Everything a tool touches, so that tests can run it in-process against a fake kernel and a
/// fixture root.
struct ToolContext {
    /// The files, kernel, clock and processes the tool works on.
    System& system;
    std::string kernel_release;  ///< uname -r
    std::ostream& out;
    std::ostream& err;
    int stdin_fd = 0;
    /// Whether `out` is a terminal: lsmod --tree draws boxes only there.
    bool out_is_terminal = false;
};

/// The running system (live_system(): the one place the tools make it), uname's release,
/// std::cout and std::cerr.
ToolContext system_context();

}  // namespace modload::tools
