#include <modload/module_file.hpp>

#include <cerrno>
#include <optional>
#include <string_view>
#include <utility>

#include <fcntl.h>

namespace modload {

ModuleFile::ModuleFile(UniqueFd fd, std::string display_name, OpenOptions options)
    : fd_(std::move(fd)), display_name_(std::move(display_name)), options_(options) {}

Result<ModuleFile> ModuleFile::open(System& system, const std::string& path,
                                    const OpenOptions& options) {
    auto fd = system.open_given(path, O_RDONLY);
    if (!fd) {
        return make_error(fd.error().code);
    }
    return adopt(system, std::move(*fd), path, options);
}

Result<ModuleFile> ModuleFile::open(const std::string& path, const OpenOptions& options) {
    return open(live_system(), path, options);
}

Result<ModuleFile> ModuleFile::adopt(System& system, UniqueFd fd, std::string display_name,
                                     const OpenOptions& options) {
    ModuleFile file(std::move(fd), std::move(display_name), options);
    if (auto r = file.read_all(system); !r) {
        return r.error();
    }
    return file;
}

Result<ModuleFile> ModuleFile::adopt(UniqueFd fd, std::string display_name,
                                     const OpenOptions& options) {
    return adopt(live_system(), std::move(fd), std::move(display_name), options);
}

Result<void> ModuleFile::read_all(System& system) {
    auto st = system.fstat(fd_.get());
    if (!st) {
        return make_error(st.error().code);
    }
    if (st->type == FileType::directory) {
        return make_error(EISDIR);
    }
    // A device would read forever (/dev/zero) or block; modules come from files and pipes.
    if (st->type == FileType::character_device || st->type == FileType::block_device) {
        return make_error(EINVAL, "not a regular file");
    }
    regular_file_ = st->type == FileType::regular;
    if (regular_file_ && st->size > options_.max_image_size) {
        return make_error(EFBIG,
                          "larger than " + std::to_string(options_.max_image_size >> 20) + " MiB");
    }
    if (regular_file_) {
        contents_.reserve(static_cast<std::size_t>(st->size));
    }
    // pread-like semantics are not needed: the descriptor is new (or standard input, read once),
    // and finit_module reads from offset 0 whatever the file position. A pipe's read that a
    // signal interrupts is not retried: insmod - would otherwise wait on a silent pipe through
    // every SIGINT.
    if (auto r = system.read_all(fd_.get(), contents_, options_.max_image_size, regular_file_);
        !r) {
        return r.error();
    }
    contents_.shrink_to_fit();
    compression_ = detect_compression(contents_);
    return {};
}

namespace {

// The compression a module file's name claims, as distributions name them (m.ko.xz).
std::optional<Compression> named_compression(std::string_view name) {
    for (const auto& [suffix, compression] :
         {std::pair{".zst", Compression::zstd}, std::pair{".xz", Compression::xz},
          std::pair{".gz", Compression::gzip}}) {
        if (name.ends_with(suffix)) {
            return compression;
        }
    }
    return std::nullopt;
}

}  // namespace

Result<std::span<const std::byte>> ModuleFile::image() {
    if (compression_ == Compression::none) {
        // Said here, before the ELF reader calls it "not an ELF file", which names nothing.
        if (const std::string_view format = unsupported_compression(contents_); !format.empty()) {
            const std::optional<Compression> named = named_compression(display_name_);
            return make_error(
                ENOEXEC,
                "holds " + std::string(format) + " data" +
                    (named ? ", not " + std::string(compression_name(*named)) + " as its name says"
                           : std::string()) +
                    "; modules are read as zstd, xz or gzip");
        }
        return std::span<const std::byte>(contents_);
    }
    if (!decompressed_ready_) {
        auto out = decompress(compression_, contents_, options_.max_image_size);
        if (!out) {
            return out.error();
        }
        decompressed_ = std::move(*out);
        decompressed_ready_ = true;
    }
    return std::span<const std::byte>(decompressed_);
}

Result<std::vector<std::byte>> ModuleFile::image_copy() {
    auto view = image();
    if (!view) {
        return view.error();
    }
    return std::vector<std::byte>(view->begin(), view->end());
}

Result<const ModuleInfo*> ModuleFile::info(ModuleParts parts) {
    if (!info_ || (parts == ModuleParts::all && !info_->symbols_read)) {
        auto view = image();
        if (!view) {
            return view.error();
        }
        auto parsed = parse_module_image(*view, parts);
        if (!parsed) {
            return parsed.error();
        }
        info_ = std::make_unique<ModuleInfo>(std::move(*parsed));
    }
    return static_cast<const ModuleInfo*>(info_.get());
}

}  // namespace modload
