#include <modload/loader.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>

#include "file_io.hpp"

namespace modload {

namespace {

// The kernel's isspace() (lib/ctype.c), which parse_args() splits at: the C white space and
// 0xA0, Latin-1's no-break space, which is also the last byte of UTF-8 "à".
bool kernel_isspace(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0; }

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

std::optional<Compression> kernel_decompression(const SystemRoot& root) {
    auto text = detail::read_text_file(root.path("/sys/module/compression"), 4096);
    if (!text) {
        return std::nullopt;
    }
    auto compression = compression_from_name(*text);
    if (compression == Compression::none) {
        return std::nullopt;
    }
    return compression;
}

LoadMethod choose_load_method(const ModuleFile& file,
                              std::optional<Compression> kernel_decompresses) {
    if (!file.is_regular_file()) {
        return LoadMethod::init;
    }
    if (file.compression() == Compression::none) {
        return LoadMethod::finit;
    }
    if (kernel_decompresses != file.compression()) {
        return LoadMethod::init;
    }
    // The kernel reads one gzip member, zstd frame or xz stream and ignores the rest: a file of
    // several (`cat a.gz b.gz`) goes in as the bytes decompressed here, all of them, which is
    // what was inspected. A file that does not decompress goes that way too, to fail here.
    auto units = count_units(file.compression(), file.contents(), OpenOptions{}.max_image_size);
    return units && *units == 1 ? LoadMethod::finit_compressed : LoadMethod::init;
}

Result<LoadMethod> load_module(Kernel& kernel, ModuleFile& file, const LoadOptions& options,
                               std::optional<Compression> kernel_decompresses) {
    auto info = file.info();
    if (!info) {
        return info.error();
    }
    LoadMethod method = choose_load_method(file, kernel_decompresses);
    if (method != LoadMethod::init) {
        unsigned flags = method == LoadMethod::finit_compressed ? kInitCompressedFile : 0;
        flags |= options.ignore_modversions ? kInitIgnoreModversions : 0;
        flags |= options.ignore_vermagic ? kInitIgnoreVermagic : 0;
        auto r = kernel.finit_module(file.fd(), options.parameters, flags);
        if (r) {
            return method;
        }
        if (r.error().code != ENOSYS) {
            return r.error();
        }
        method = LoadMethod::init_without_finit;
    }
    if (!options.ignore_modversions && !options.ignore_vermagic) {
        auto image = file.image();
        if (!image) {
            return image.error();
        }
        if (auto r = kernel.init_module(*image, options.parameters); !r) {
            return r.error();
        }
        return method;
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
    return method;
}

}  // namespace modload
