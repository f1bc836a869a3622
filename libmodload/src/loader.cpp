#include <modload/loader.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>

#include "loader_detail.hpp"
#include "stream_count.hpp"
#include "stream_header.hpp"

namespace modload {

namespace {

// The kernel's isspace() (lib/ctype.c), which parse_args() splits at: the C white space and
// 0xA0, Latin-1's no-break space, which is also the last byte of UTF-8 "à".
bool kernel_isspace(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0;
}

bool has_space(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](unsigned char c) { return kernel_isspace(c); });
}

// The kernel's parse_args() splits at white space outside double quotes and strips one pair of
// quotes around a value, so `tag="two words"` sets tag to "two words".
std::string quote_word(const std::string& word) {
    if (!has_space(word) || word.find('"') != std::string::npos) {
        return word;
    }
    const auto eq = word.find('=');
    if (eq == std::string::npos) {
        return '"' + word + '"';
    }
    return word.substr(0, eq + 1) + '"' + word.substr(eq + 1) + '"';
}

}  // namespace

std::string join_parameters(std::span<const std::string> words) {
    std::string joined;
    for (const std::string& word : words) {
        if (!joined.empty()) {
            joined += ' ';
        }
        joined += quote_word(word);
    }
    return joined;
}

std::optional<Compression> kernel_decompression(System& system) {
    auto text = system.read_text("/sys/module/compression", 4096);
    if (!text) {
        return std::nullopt;
    }
    auto compression = compression_from_name(*text);
    if (compression == Compression::none) {
        return std::nullopt;
    }
    return compression;
}

LoadChoice choose_load(const ModuleFile& file, std::optional<Compression> kernel_decompresses) {
    LoadChoice choice;
    if (!file.is_regular_file()) {
        choice.method = LoadMethod::init;
        choice.reason = LoadReason::not_a_file;
        return choice;
    }
    if (file.compression() == Compression::none) {
        return choice;
    }
    choice.method = LoadMethod::init;
    if (!kernel_decompresses) {
        choice.reason = LoadReason::kernel_lacks_compression;
        return choice;
    }
    if (*kernel_decompresses != file.compression()) {
        choice.reason = LoadReason::kernel_other_compression;
        choice.detail = std::string(compression_name(*kernel_decompresses));
        return choice;
    }
    if (LoadChoice limit = detail::kernel_decompressor_limit(file.compression(), file.contents());
        limit.reason != LoadReason::none) {
        return limit;
    }
    // The kernel reads one gzip member, zstd frame or xz stream and ignores the rest: a file of
    // several (`cat a.gz b.gz`) goes in as the bytes decompressed here, all of them, which is
    // what was inspected. A file that does not decompress goes that way too, to fail here.
    // Counted from the streams' own framing where it can be (xz: footers and indexes), so that a
    // file the kernel takes whole is not decompressed here too.
    const std::size_t max_output = OpenOptions{}.max_image_size;
    std::optional<std::size_t> framed =
        detail::count_units_framed(file.compression(), file.contents(), max_output);
    auto units = framed ? Result<std::size_t>(*framed)
                        : count_units(file.compression(), file.contents(), max_output);
    if (!units) {
        return choice;
    }
    if (*units > 1) {
        choice.reason = LoadReason::several_units;
        choice.count = *units;
        return choice;
    }
    choice.method = LoadMethod::finit_compressed;
    return choice;
}

LoadMethod choose_load_method(const ModuleFile& file,
                              std::optional<Compression> kernel_decompresses) {
    return choose_load(file, kernel_decompresses).method;
}

namespace detail {

Result<LoadChoice> load_module_checked(Kernel& kernel, ModuleFile& file, const LoadOptions& options,
                                       std::optional<Compression> kernel_decompresses,
                                       bool inspect_first) {
    LoadChoice choice = choose_load(file, kernel_decompresses);
    // What goes in through init_module is always inspected here first: those are the bytes
    // this call hands over.
    if (inspect_first || choice.method == LoadMethod::init) {
        if (auto info = file.info(); !info) {
            return info.error();
        }
    }
    if (choice.method != LoadMethod::init) {
        unsigned flags = choice.method == LoadMethod::finit_compressed ? kInitCompressedFile : 0;
        flags |= options.ignore_modversions ? kInitIgnoreModversions : 0;
        flags |= options.ignore_vermagic ? kInitIgnoreVermagic : 0;
        auto r = kernel.finit_module(file.fd(), options.parameters, flags);
        if (r) {
            return choice;
        }
        // module_decompress() answers EINVAL for whatever its decompressor refuses (a check, a
        // filter or a dictionary this kernel's lib/xz was built without): the bytes decompressed
        // here, inspected, go instead.
        if (choice.method == LoadMethod::finit_compressed && r.error().code == EINVAL) {
            choice.method = LoadMethod::init;
            choice.reason = LoadReason::kernel_refused;
        } else if (r.error().code == ENOSYS) {
            choice.method = LoadMethod::init_without_finit;
        } else {
            return r.error();
        }
    }
    auto info = file.info();
    if (!info) {
        return info.error();
    }
    if (!options.ignore_modversions && !options.ignore_vermagic) {
        auto image = file.image();
        if (!image) {
            return image.error();
        }
        if (auto r = kernel.init_module(*image, options.parameters); !r) {
            return r.error();
        }
        return choice;
    }
    // init_module has no flags: force by rewriting a private copy of the image.
    auto copy = file.image_copy();
    if (!copy) {
        return copy.error();
    }
    if (options.ignore_modversions) {
        if (auto r = strip_modversions(*copy, **info); !r) {
            return r.error();
        }
    }
    if (options.ignore_vermagic) {
        if (auto r = strip_vermagic(*copy, **info); !r) {
            return r.error();
        }
    }
    if (auto r = kernel.init_module(*copy, options.parameters); !r) {
        return r.error();
    }
    return choice;
}

}  // namespace detail

Result<LoadChoice> load_module_explained(Kernel& kernel, ModuleFile& file,
                                         const LoadOptions& options,
                                         std::optional<Compression> kernel_decompresses) {
    return detail::load_module_checked(kernel, file, options, kernel_decompresses, true);
}

Result<LoadMethod> load_module(Kernel& kernel, ModuleFile& file, const LoadOptions& options,
                               std::optional<Compression> kernel_decompresses) {
    auto choice = load_module_explained(kernel, file, options, kernel_decompresses);
    if (!choice) {
        return choice.error();
    }
    return choice->method;
}

}  // namespace modload
