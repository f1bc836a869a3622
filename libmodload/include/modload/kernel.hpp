// The kernel's module system calls, behind an interface so that tests can script the answers.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include <modload/export.hpp>
#include <modload/result.hpp>

namespace modload {

/// finit_module(2) flags, kept here rather than pulled from kernel headers (as kmod does).
inline constexpr unsigned kInitIgnoreModversions = 1;  ///< MODULE_INIT_IGNORE_MODVERSIONS
inline constexpr unsigned kInitIgnoreVermagic = 2;     ///< MODULE_INIT_IGNORE_VERMAGIC
inline constexpr unsigned kInitCompressedFile = 4;     ///< MODULE_INIT_COMPRESSED_FILE (5.17+)

/// The module system calls. Refusals (EEXIST, EBUSY, ENOENT, ENOEXEC, EWOULDBLOCK...) come back
/// as errors holding the kernel's errno.
class MODLOAD_API Kernel {
  public:
    virtual ~Kernel() = default;
    /// finit_module(2): the kernel reads the module from `fd`.
    virtual Result<void> finit_module(int fd, const std::string& parameters, unsigned flags) = 0;
    /// init_module(2): the kernel takes the module from memory.
    virtual Result<void> init_module(std::span<const std::byte> image,
                                     const std::string& parameters) = 0;
    /// delete_module(2) with `flags` (O_NONBLOCK, O_TRUNC).
    virtual Result<void> delete_module(const std::string& name, unsigned flags) = 0;
};

/// The running kernel.
MODLOAD_API std::unique_ptr<Kernel> make_system_kernel();

}  // namespace modload
