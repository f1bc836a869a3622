// A module file, opened once: the same descriptor is inspected and loaded.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <modload/compression.hpp>
#include <modload/export.hpp>
#include <modload/module_info.hpp>
#include <modload/result.hpp>
#include <modload/system.hpp>
#include <modload/unique_fd.hpp>

namespace modload {

/// Limits that protect against hostile files.
struct MODLOAD_API OpenOptions {
    /// The largest file and the largest decompressed image accepted. Real modules are at most
    /// tens of MiB even with debug info stripped; 512 MiB leaves room and still bounds memory.
    std::size_t max_image_size = std::size_t{512} << 20;
};

/// A module file read through one descriptor. The contents are read once, at open; the
/// decompressed image and the parsed info are computed on first use and kept.
class MODLOAD_API ModuleFile {
  public:
    /// Opens `path` read-only and close-on-exec and reads it. Fails with the errno of open or
    /// read, EISDIR for a folder, EINVAL for a device, EFBIG past the size limit.
    /// `path` is taken as given (system.open_given): a file the user named.
    static Result<ModuleFile> open(System& system, const std::string& path,
                                   const OpenOptions& options = {});
    /// The same on the running system (live_system()).
    static Result<ModuleFile> open(const std::string& path, const OpenOptions& options = {});

    /// Takes over an open descriptor (standard input, say) and reads it; `display_name` is what
    /// messages call it.
    static Result<ModuleFile> adopt(System& system, UniqueFd fd, std::string display_name,
                                    const OpenOptions& options = {});
    /// The same on the running system (live_system()).
    static Result<ModuleFile> adopt(UniqueFd fd, std::string display_name,
                                    const OpenOptions& options = {});

    const std::string& display_name() const { return display_name_; }
    int fd() const { return fd_.get(); }
    /// Whether the descriptor is a regular file, which finit_module(2) requires.
    bool is_regular_file() const { return regular_file_; }
    Compression compression() const { return compression_; }
    /// The bytes as read from the file, compressed or not.
    std::span<const std::byte> contents() const { return contents_; }

    /// The ELF image: the contents, decompressed when compressed.
    Result<std::span<const std::byte>> image();
    /// A private, writable copy of the image, for loaders that must rewrite it.
    Result<std::vector<std::byte>> image_copy();
    /// The parsed module info: by default what loading needs; the symbol walks only when `parts`
    /// asks for them (then kept too).
    Result<const ModuleInfo*> info(ModuleParts parts = ModuleParts::load);

  private:
    ModuleFile(UniqueFd fd, std::string display_name, OpenOptions options);
    Result<void> read_all(System& system);

    UniqueFd fd_;
    std::string display_name_;
    OpenOptions options_;
    bool regular_file_ = false;
    Compression compression_ = Compression::none;
    std::vector<std::byte> contents_;
    std::vector<std::byte> decompressed_;  // empty unless compressed
    bool decompressed_ready_ = false;
    std::unique_ptr<ModuleInfo> info_;
};

}  // namespace modload
