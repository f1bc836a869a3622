// Loading a module file: parameters, the choice of system call, and forcing.
#pragma once

#include <optional>
#include <span>
#include <string>

#include <modload/compression.hpp>
#include <modload/export.hpp>
#include <modload/kernel.hpp>
#include <modload/module_file.hpp>
#include <modload/result.hpp>
#include <modload/system_root.hpp>

namespace modload {

/// How a module reached the kernel.
enum class LoadMethod {
    finit,             ///< finit_module on the file's descriptor
    finit_compressed,  ///< finit_module with MODULE_INIT_COMPRESSED_FILE: the kernel decompresses
    init,              ///< init_module on the image in memory, decompressed here
    /// init_module on the image already read, because finit_module answered ENOSYS (a seccomp
    /// filter in a container, say), as kmod falls back too
    init_without_finit,
};

struct MODLOAD_API LoadOptions {
    std::string parameters;  ///< as the kernel parses them; see join_parameters()
    bool ignore_modversions = false;
    bool ignore_vermagic = false;
};

/// Joins command-line words into the kernel's parameter string. A value that holds white space
/// is quoted so the kernel takes it whole: {"tag=two words"} gives `tag="two words"`. Words that
/// already hold a '"' are passed as written.
MODLOAD_API std::string join_parameters(std::span<const std::string> words);

/// The compression the running kernel decompresses itself, from <root>/sys/module/compression
/// (absent before 5.17 or without CONFIG_MODULE_DECOMPRESS: nullopt).
MODLOAD_API std::optional<Compression> kernel_decompression(const SystemRoot& root);

/// The system call a file goes through: finit_module when the descriptor is a regular file and
/// either uncompressed or compressed the way the kernel decompresses, in one unit (count_units():
/// the kernel would read only the first of several); init_module otherwise.
MODLOAD_API LoadMethod choose_load_method(const ModuleFile& file,
                                          std::optional<Compression> kernel_decompresses);

/// Inspects the file (a file that is not a valid module never reaches the kernel), then loads it.
/// Returns the method used, or the error: an inspection error (ENOEXEC, EFBIG) or the kernel's.
/// When finit_module answers ENOSYS, the bytes already read go through init_module instead.
///
/// What was checked and what is loaded: init_module gets exactly the bytes that were inspected
/// (read once, into memory). finit_module gets the descriptor that was inspected, but the kernel
/// reads the file again through it: a file rewritten in place between the check and the load
/// (by someone who can write it) goes in unchecked. Load only files that no one else can write.
MODLOAD_API Result<LoadMethod> load_module(Kernel& kernel, ModuleFile& file,
                                           const LoadOptions& options,
                                           std::optional<Compression> kernel_decompresses);

}  // namespace modload
