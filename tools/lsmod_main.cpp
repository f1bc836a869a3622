#include <modload/kernel.hpp>

#include "tool.hpp"

int main(int argc, char** argv) {
    const auto kernel = modload::make_system_kernel();
    modload::tools::ToolContext ctx = modload::tools::system_context(*kernel);
    return modload::tools::run_lsmod(ctx, argc, argv);
}
