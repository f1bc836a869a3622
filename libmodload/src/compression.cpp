// Compressed module files: the formats by their magic numbers and names, what a misnamed file
// really holds, and decompression through the codec of each format (decompress_*.cpp).
#include <modload/compression.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>

#include "decompress_detail.hpp"

namespace modload {

namespace {

struct Magic {
    Compression compression;
    std::array<unsigned char, 6> bytes;
    std::size_t length;
};

// The same table kmod keeps: magic numbers, never file names, decide.
constexpr std::array kMagics = {
    Magic{Compression::zstd, {0x28, 0xb5, 0x2f, 0xfd}, 4},
    Magic{Compression::xz, {0xfd, '7', 'z', 'X', 'Z', 0x00}, 6},
    Magic{Compression::gzip, {0x1f, 0x8b}, 2},
};

}  // namespace

namespace detail {

namespace {

// The output buffer starts small and doubles up to steps of kChunk: a stream that is refused at
// its header, or a small module, zero-fills a few KiB, not a whole chunk.
constexpr std::size_t kFirstChunk = std::size_t{16} << 10;
constexpr std::size_t kChunk = std::size_t{1} << 20;

}  // namespace

Error too_large(std::size_t max_output) {
    return make_error(EFBIG,
                      "decompressed size exceeds " + std::to_string(max_output >> 20) + " MiB");
}

Error corrupt(std::string_view format, std::string_view why) {
    return make_error(ENOEXEC, "corrupt " + std::string(format) + " data: " + std::string(why));
}

// Every format is read the same way at its end: another member, frame or stream is read too (as
// `gzip -dc`, `zstd -dc` and `xz -dc` do), and any other byte after the last one makes the file
// corrupt: what is loaded must be all that the file says, with nothing hidden behind it.
Error trailing(std::string_view format, std::string_view unit, std::size_t count) {
    return corrupt(format, std::to_string(count) + " bytes after the last " + std::string(unit));
}

bool starts_with_magic(std::span<const std::byte> data, Compression compression) {
    return detect_compression(data) == compression;
}

// Grows `out` (doubling from kFirstChunk, then by kChunk at a time), never past max_output + 1
// bytes: one byte over the limit is enough to know the limit was passed, and nothing larger is
// ever allocated.
bool grow(std::vector<std::byte>& out, std::size_t max_output) {
    if (out.size() > max_output) {
        return false;
    }
    // Saturating: with max_output == SIZE_MAX ("no limit"), max_output + 1 wrapped to 0 and the
    // buffer never grew, so every stream failed as corrupt.
    const std::size_t ceiling = max_output < SIZE_MAX ? max_output + 1 : max_output;
    const std::size_t step = out.empty() ? kFirstChunk : std::min(out.size(), kChunk);
    const std::size_t size = std::min(out.size() + step, ceiling);
    // resize() alone lets vector double its capacity, which could allocate twice the limit;
    // double here instead, but never past the ceiling.
    if (size > out.capacity()) {
        out.reserve(std::min(std::max(size, 2 * out.capacity()), ceiling));
    }
    out.resize(size);
    return true;
}

}  // namespace detail

std::string_view compression_name(Compression compression) {
    switch (compression) {
        case Compression::zstd:
            return "zstd";
        case Compression::xz:
            return "xz";
        case Compression::gzip:
            return "gzip";
        case Compression::none:
            break;
    }
    return "none";
}

std::optional<Compression> compression_from_name(std::string_view name) {
    while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) {
        name.remove_suffix(1);
    }
    for (const Compression c :
         {Compression::none, Compression::zstd, Compression::xz, Compression::gzip}) {
        if (name == compression_name(c)) {
            return c;
        }
    }
    return std::nullopt;
}

Compression detect_compression(std::span<const std::byte> data) {
    for (const Magic& magic : kMagics) {
        if (data.size() >= magic.length &&
            std::memcmp(data.data(), magic.bytes.data(), magic.length) == 0) {
            return magic.compression;
        }
    }
    return Compression::none;
}

namespace {

bool starts_with(std::span<const std::byte> data, std::initializer_list<unsigned char> bytes) {
    return data.size() >= bytes.size() &&
           std::equal(bytes.begin(), bytes.end(), data.begin(),
                      [](unsigned char b, std::byte d) { return std::byte{b} == d; });
}

// The header of xz --format=lzma (LZMA_Alone): a properties byte (lc + lp * 9 + pb * 45, below
// 225), a dictionary size that xz and LZMA SDK write as 2^n or 2^n + 2^(n-1), and the
// uncompressed size, or all ones when unknown. No magic: all three must hold.
bool is_lzma_alone(std::span<const std::byte> data) {
    if (data.size() < 13 || std::to_integer<unsigned>(data[0]) >= 225) {
        return false;
    }
    std::uint32_t dictionary = 0;
    std::uint64_t size = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        dictionary |= std::uint32_t{std::to_integer<std::uint8_t>(data[1 + i])} << (8 * i);
    }
    for (std::size_t i = 0; i < 8; ++i) {
        size |= std::uint64_t{std::to_integer<std::uint8_t>(data[5 + i])} << (8 * i);
    }
    // 2^n, or two adjacent bits: 2^n + 2^(n-1).
    const bool usual_dictionary =
        dictionary >= 4096 &&
        (std::has_single_bit(dictionary) ||
         (std::popcount(dictionary) == 2 && (dictionary & (dictionary >> 1)) != 0));
    return usual_dictionary && (size == UINT64_MAX || size < (std::uint64_t{1} << 40));
}

}  // namespace

std::string_view unsupported_compression(std::span<const std::byte> data) {
    if (starts_with(data, {0x7f, 'E', 'L', 'F'})) {
        return {};
    }
    if (starts_with(data, {'B', 'Z', 'h'}) && data.size() > 3 &&
        std::to_integer<unsigned>(data[3]) >= '1' && std::to_integer<unsigned>(data[3]) <= '9') {
        return "bzip2";
    }
    if (starts_with(data, {0x04, 0x22, 0x4d, 0x18}) ||
        starts_with(data, {0x02, 0x21, 0x4c, 0x18})) {
        return "lz4";
    }
    if (starts_with(data, {'L', 'Z', 'I', 'P'})) {
        return "lzip";
    }
    if (starts_with(data, {0x89, 'L', 'Z', 'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a})) {
        return "lzop";
    }
    if (is_lzma_alone(data)) {
        return "lzma";
    }
    return {};
}

namespace {

Result<std::vector<std::byte>> decompress_counting(Compression compression,
                                                   std::span<const std::byte> input,
                                                   std::size_t max_output, std::size_t& units) {
    switch (compression) {
        case Compression::zstd:
            return detail::decompress_zstd(input, max_output, units);
        case Compression::xz:
            return detail::decompress_xz(input, max_output, units);
        case Compression::gzip:
            return detail::decompress_gzip(input, max_output, units);
        case Compression::none:
            break;
    }
    if (input.size() > max_output) {
        return detail::too_large(max_output);
    }
    units = 1;
    return std::vector<std::byte>(input.begin(), input.end());
}

}  // namespace

Result<std::vector<std::byte>> decompress(Compression compression, std::span<const std::byte> input,
                                          std::size_t max_output) {
    std::size_t units = 0;
    return decompress_counting(compression, input, max_output, units);
}

Result<std::size_t> count_units(Compression compression, std::span<const std::byte> input,
                                std::size_t max_output) {
    std::size_t units = 0;
    auto out = decompress_counting(compression, input, max_output, units);
    if (!out) {
        return out.error();
    }
    return units;
}

}  // namespace modload
