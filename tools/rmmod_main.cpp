#include <modload/kernel.hpp>

#include "tool.hpp"

int main(int argc, char** argv) {
    const auto kernel = modload::make_system_kernel();
    modload::tools::ToolContext ctx = modload::tools::system_context(*kernel);
    return modload::tools::exit_status_or_reraise(modload::tools::run_rmmod(ctx, argc, argv));
}
