#include "tool_context.hpp"

#include <iostream>
#include <utility>

#include <sys/utsname.h>
#include <unistd.h>

namespace modload::tools {

ToolContext system_context() {
    struct utsname u {};
    std::string release = ::uname(&u) == 0 ? u.release : "";
    return ToolContext{live_system(),   std::move(release), std::cout, std::cerr, 0,
                       ::isatty(1) == 1};
}

}  // namespace modload::tools
