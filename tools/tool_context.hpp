// The world a tool runs in: given to it, so that tests run it in-process against a fake kernel
// and a fixture root.
#pragma once

#include <ostream>
#include <string>

#include <modload/clock.hpp>
#include <modload/kernel.hpp>
#include <modload/system_root.hpp>

namespace modload::tools {

/// Everything a tool touches, so that tests can run it in-process against a fake kernel and a
/// fixture root.
struct ToolContext {
    Kernel& kernel;
    SystemRoot root;
    std::string kernel_release;  ///< uname -r
    std::ostream& out;
    std::ostream& err;
    int stdin_fd = 0;
    Clock& clock = system_clock();
    /// Whether `out` is a terminal: lsmod --tree draws boxes only there.
    bool out_is_terminal = false;
};

/// The running system: "/", uname's release, std::cout and std::cerr.
ToolContext system_context(Kernel& kernel);

}  // namespace modload::tools
