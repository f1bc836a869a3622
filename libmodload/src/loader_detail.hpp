// What loading.cpp needs of loader.cpp beyond the public API.
#pragma once

#include <optional>

#include <modload/compression.hpp>
#include <modload/kernel.hpp>
#include <modload/loader.hpp>
#include <modload/module_file.hpp>
#include <modload/result.hpp>

namespace modload::detail {

/// load_module_explained(), which is this with `inspect_first`. Without it, a file the kernel
/// takes whole through finit_module (as it is, or compressed) is not read here first: the
/// kernel checks it as it reads it. For a file depmod listed in modules.dep (it has read it),
/// as kmod's modprobe loads; a compressed one is then never decompressed here. Whatever goes
/// through init_module is inspected first all the same.
Result<LoadChoice> load_module_checked(Kernel& kernel, ModuleFile& file, const LoadOptions& options,
                                       std::optional<Compression> kernel_decompresses,
                                       bool inspect_first);

}  // namespace modload::detail
