#include "tool_context.hpp"

#include <iostream>
#include <utility>

#include <sys/utsname.h>
#include <unistd.h>

namespace modload::tools {

ToolContext system_context(Kernel& kernel) {
    struct utsname u {};
    std::string release = ::uname(&u) == 0 ? u.release : "";
    return ToolContext{kernel, SystemRoot("/"), std::move(release), std::cout, std::cerr,
                       0,      system_clock(),  ::isatty(1) == 1};
}

}  // namespace modload::tools
