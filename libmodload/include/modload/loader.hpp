// Loading a module file: parameters, the choice of system call, and forcing.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <modload/compression.hpp>
#include <modload/export.hpp>
#include <modload/kernel.hpp>
#include <modload/module_file.hpp>
#include <modload/result.hpp>
#include <modload/system.hpp>

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

/// "finit_module", "finit_module compressed", "init_module", "init_module without finit_module".
MODLOAD_API std::string_view load_method_name(LoadMethod method);

/// Why a module went through init_module as the bytes decompressed here, rather than to the
/// kernel whole. The tools word it; `count` and `detail` say more where the reason has more.
enum class LoadReason {
    none,                      ///< nothing kept it from the kernel (or it went whole)
    not_a_file,                ///< read from a pipe: finit_module reads only a regular file
    kernel_lacks_compression,  ///< the kernel decompresses no module itself
    kernel_other_compression,  ///< the kernel decompresses another format; detail: its name
    several_units,  ///< count: gzip members, zstd frames or xz streams; the kernel reads one
    xz_check,       ///< detail: the check ("CRC64", "SHA-256"); the kernel takes none or CRC32
    xz_filter,      ///< detail: the filter ("Delta", "ARM BCJ") the kernel does not take
    gzip_header,    ///< detail: the header fields ("FCOMMENT, FEXTRA") the kernel cannot skip
    zstd_window,    ///< count: the window size in bytes, past what the kernel decodes
    /// finit_module with MODULE_INIT_COMPRESSED_FILE answered EINVAL: the kernel could not
    /// decompress a file its header let through
    kernel_refused,
};

/// "none", "not a file", "kernel lacks compression", "kernel other compression", "several
/// units", "xz check", "xz filter", "gzip header", "zstd window", "kernel refused".
MODLOAD_API std::string_view load_reason_name(LoadReason reason);

/// The system call chosen for a file, and why.
struct MODLOAD_API LoadChoice {
    LoadMethod method = LoadMethod::finit;
    LoadReason reason = LoadReason::none;
    std::size_t count = 0;
    std::string detail;
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
MODLOAD_API std::optional<Compression> kernel_decompression(System& system);

/// The system call a file goes through: finit_module when the descriptor is a regular file and
/// either uncompressed or compressed the way the kernel decompresses, in one unit (count_units():
/// the kernel would read only the first of several); init_module otherwise.
MODLOAD_API LoadMethod choose_load_method(const ModuleFile& file,
                                          std::optional<Compression> kernel_decompresses);

/// choose_load_method() with its reason. A compressed file goes whole only when the kernel
/// decompresses its format and its stream header asks nothing the kernel's decompressor lacks
/// (kernel/module/decompress.c, lib/xz): an xz check other than none or CRC32, an xz filter other
/// than LZMA2 and the machine's own BCJ filter, gzip header fields other than FNAME, a zstd window
/// past 2 GiB; and when it holds one unit.
MODLOAD_API LoadChoice choose_load(const ModuleFile& file,
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

/// load_module() that also says why: the choice of choose_load(), or, when finit_module with
/// MODULE_INIT_COMPRESSED_FILE answered EINVAL (the kernel could not decompress the file), the
/// init_module of the bytes decompressed here that followed (LoadReason::kernel_refused). That
/// second call also follows a module whose own init answered EINVAL: it then runs once more and
/// fails alike.
MODLOAD_API Result<LoadChoice> load_module_explained(
    Kernel& kernel, ModuleFile& file, const LoadOptions& options,
    std::optional<Compression> kernel_decompresses);

}  // namespace modload
