#include "stream_header.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace modload::detail {

namespace {

unsigned byte_at(std::span<const std::byte> data, std::size_t at) {
    return std::to_integer<unsigned>(data[at]);
}

LoadChoice limited(LoadReason reason, std::size_t count, std::string detail) {
    LoadChoice choice;
    choice.method = LoadMethod::init;
    choice.reason = reason;
    choice.count = count;
    choice.detail = std::move(detail);
    return choice;
}

// ---- xz (the .xz file format 1.1.0; the kernel's reader is lib/xz/xz_dec_stream.c)

constexpr std::size_t kXzStreamHeader = 12;
constexpr unsigned kXzLzma2 = 0x21;

// The BCJ filter of the machine this library runs on: lib/Kconfig builds the kernel's decoder with
// it by default (XZ_DEC_X86 "default y if X86", and so on); others may be missing, and then
// finit_module fails. Debian's 6.12 for amd64 has x86, ARM64 and RISC-V, not ARM or PowerPC.
#if defined(__x86_64__) || defined(__i386__)
constexpr unsigned kMachineBcj = 0x04;
#elif defined(__aarch64__)
constexpr unsigned kMachineBcj = 0x0a;
#elif defined(__riscv)
constexpr unsigned kMachineBcj = 0x0b;
#elif defined(__powerpc__)
constexpr unsigned kMachineBcj = 0x05;
#elif defined(__arm__)
constexpr unsigned kMachineBcj = 0x07;
#elif defined(__sparc__)
constexpr unsigned kMachineBcj = 0x09;
#else
constexpr unsigned kMachineBcj = 0x100;  // no filter ID: every BCJ filter is decompressed here
#endif

std::string xz_check_name(unsigned id) {
    switch (id) {
        case 0:
            return "none";
        case 1:
            return "CRC32";
        case 4:
            return "CRC64";
        case 10:
            return "SHA-256";
        default:
            return "check ID " + std::to_string(id);
    }
}

std::string xz_filter_name(std::uint64_t id) {
    switch (id) {
        case 0x03:
            return "Delta";
        case 0x04:
            return "x86 BCJ";
        case 0x05:
            return "PowerPC BCJ";
        case 0x06:
            return "IA-64 BCJ";
        case 0x07:
            return "ARM BCJ";
        case 0x08:
            return "ARM-Thumb BCJ";
        case 0x09:
            return "SPARC BCJ";
        case 0x0a:
            return "ARM64 BCJ";
        case 0x0b:
            return "RISC-V BCJ";
        case kXzLzma2:
            return "LZMA2";
        default:
            return "filter ID " + std::to_string(id);
    }
}

// A variable-length integer of the xz format (at most 9 bytes, 7 bits each, little end first).
std::optional<std::uint64_t> read_vli(std::span<const std::byte> data, std::size_t& at) {
    std::uint64_t value = 0;
    for (unsigned i = 0; i < 9 && at < data.size(); ++i) {
        const unsigned b = byte_at(data, at++);
        value |= std::uint64_t{b & 0x7fU} << (7 * i);
        if ((b & 0x80U) == 0) {
            return value;
        }
    }
    return std::nullopt;
}

struct XzFilter {
    std::uint64_t id;
    std::uint64_t properties_size;
};

LoadChoice xz_limit(std::span<const std::byte> data) {
    if (data.size() < kXzStreamHeader) {
        return {};
    }
    // Stream Flags: a null byte, then the check ID. lib/xz takes none (0) and CRC32 (1) and answers
    // XZ_OPTIONS_ERROR to the rest: the kernel logs "decompression failed with status 6".
    const unsigned check = byte_at(data, 7) & 0x0fU;
    if (check > 1) {
        return limited(LoadReason::xz_check, 0, xz_check_name(check));
    }
    // The first Block Header; xz(1) gives every block of a stream the same filter chain.
    if (data.size() < kXzStreamHeader + 2) {
        return {};
    }
    const unsigned size_byte = byte_at(data, kXzStreamHeader);
    if (size_byte == 0) {
        return {};  // no block: the Index follows at once
    }
    const std::size_t header_end = kXzStreamHeader + (std::size_t{size_byte} + 1) * 4;
    if (header_end > data.size()) {
        return {};
    }
    const std::span<const std::byte> header = data.first(header_end - 4);  // less its CRC32
    const unsigned flags = byte_at(header, kXzStreamHeader + 1);
    std::size_t at = kXzStreamHeader + 2;
    for (const unsigned present : {0x40U, 0x80U}) {  // Compressed Size, Uncompressed Size
        if ((flags & present) != 0 && !read_vli(header, at)) {
            return {};
        }
    }
    std::vector<XzFilter> chain;
    for (unsigned i = 0; i < (flags & 0x03U) + 1; ++i) {
        const std::optional<std::uint64_t> id = read_vli(header, at);
        const std::optional<std::uint64_t> size = id ? read_vli(header, at) : std::nullopt;
        if (!size || *size > header.size() - at) {
            return {};
        }
        chain.push_back({*id, *size});
        at += static_cast<std::size_t>(*size);
    }
    // lib/xz decodes LZMA2 alone or behind one BCJ filter without a start offset
    // (dec_block_header).
    for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
        if (i > 0 || chain[i].id != kMachineBcj || chain[i].properties_size != 0) {
            return limited(LoadReason::xz_filter, 0, xz_filter_name(chain[i].id));
        }
    }
    if (chain.back().id != kXzLzma2) {
        return limited(LoadReason::xz_filter, 0, xz_filter_name(chain.back().id));
    }
    return {};
}

// ---- gzip (RFC 1952; the kernel's reader is module_gzip_header_len())

constexpr unsigned kGzipFhcrc = 0x02;
constexpr unsigned kGzipFextra = 0x04;
constexpr unsigned kGzipFcomment = 0x10;

LoadChoice gzip_limit(std::span<const std::byte> data) {
    if (data.size() < 10) {
        return {};
    }
    // The kernel skips the 10 fixed bytes and FNAME's name, and inflates from there: a member with
    // an extra field, a comment or a header CRC is inflated from inside its header, and fails.
    const unsigned flags = byte_at(data, 3);
    std::string fields;
    for (const auto& [bit, name] :
         {std::pair{kGzipFextra, "FEXTRA"}, std::pair{kGzipFcomment, "FCOMMENT"},
          std::pair{kGzipFhcrc, "FHCRC"}}) {
        if ((flags & bit) != 0) {
            fields += (fields.empty() ? "" : ", ") + std::string(name);
        }
    }
    if (!fields.empty()) {
        return limited(LoadReason::gzip_header, 0, fields);
    }
    return {};
}

// ---- zstd (RFC 8878; the kernel's reader is module_zstd_decompress())

// ZSTD_WINDOWLOG_MAX on 64-bit machines (31) and 32-bit ones (30): the kernel refuses a larger
// window ("ZSTD-compressed data has too large a window size").
constexpr std::uint64_t kZstdKernelWindowMax = std::uint64_t{1} << (sizeof(void*) == 8 ? 31 : 30);

LoadChoice zstd_limit(std::span<const std::byte> data) {
    if (data.size() < 6) {
        return {};
    }
    const unsigned descriptor = byte_at(data, 4);
    const bool single_segment = (descriptor & 0x20U) != 0;
    std::uint64_t window = 0;
    if (!single_segment) {
        const unsigned w = byte_at(data, 5);
        const std::uint64_t base = std::uint64_t{1} << (10 + (w >> 3));
        window = base + (base >> 3) * (w & 0x07U);
    } else {
        // The window is the content size, which follows the dictionary ID.
        constexpr std::array<std::size_t, 4> kDictionaryIdSize{0, 1, 2, 4};
        constexpr std::array<std::size_t, 4> kContentSizeSize{1, 2, 4, 8};
        const std::size_t at = 5 + kDictionaryIdSize[descriptor & 0x03U];
        const std::size_t size = kContentSizeSize[descriptor >> 6];
        if (at + size > data.size()) {
            return {};
        }
        for (std::size_t i = 0; i < size; ++i) {
            window |= std::uint64_t{byte_at(data, at + i)} << (8 * i);
        }
        window += size == 2 ? 256 : 0;
    }
    if (window > kZstdKernelWindowMax) {
        return limited(LoadReason::zstd_window,
                       static_cast<std::size_t>(std::min<std::uint64_t>(window, SIZE_MAX)), "");
    }
    return {};
}

}  // namespace

LoadChoice kernel_decompressor_limit(Compression compression, std::span<const std::byte> data) {
    switch (compression) {
        case Compression::xz:
            return xz_limit(data);
        case Compression::gzip:
            return gzip_limit(data);
        case Compression::zstd:
            return zstd_limit(data);
        case Compression::none:
            break;
    }
    return {};
}

}  // namespace modload::detail
