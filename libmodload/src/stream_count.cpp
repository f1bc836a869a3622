#include "stream_count.hpp"

#include <cstdint>
#include <cstring>

namespace modload::detail {

namespace {

constexpr unsigned char kXzHeaderMagic[6] = {0xFD, '7', 'z', 'X', 'Z', 0x00};
constexpr std::size_t kXzHeaderSize = 12;
constexpr std::size_t kXzFooterSize = 12;

std::uint8_t byte_at(std::span<const std::byte> data, std::size_t at) {
    return static_cast<std::uint8_t>(data[at]);
}

std::uint32_t le32(std::span<const std::byte> data, std::size_t at) {
    return std::uint32_t{byte_at(data, at)} | (std::uint32_t{byte_at(data, at + 1)} << 8) |
           (std::uint32_t{byte_at(data, at + 2)} << 16) |
           (std::uint32_t{byte_at(data, at + 3)} << 24);
}

// An xz variable-length integer (at most 9 bytes, 63 bits) at `at`, which it moves past; nullopt
// when it runs past `end` or is longer than the format allows.
std::optional<std::uint64_t> vli(std::span<const std::byte> data, std::size_t& at,
                                 std::size_t end) {
    std::uint64_t value = 0;
    for (unsigned i = 0; i < 9; ++i) {
        if (at >= end) {
            return std::nullopt;
        }
        const std::uint8_t b = byte_at(data, at++);
        value |= std::uint64_t{b & 0x7Fu} << (7 * i);
        if ((b & 0x80u) == 0) {
            // A multi-byte integer ending in a zero byte is not in its shortest form.
            if (i != 0 && b == 0) {
                return std::nullopt;
            }
            return value;
        }
    }
    return std::nullopt;
}

// The stream that ends at `end` (its footer's last byte): where it starts, and adds what its
// blocks decompress to. nullopt when its footer, index or header do not check out.
std::optional<std::size_t> xz_stream_start(std::span<const std::byte> data, std::size_t end,
                                           std::uint64_t& uncompressed) {
    if (end < kXzHeaderSize + kXzFooterSize) {
        return std::nullopt;
    }
    const std::size_t footer = end - kXzFooterSize;
    if (byte_at(data, footer + 10) != 'Y' || byte_at(data, footer + 11) != 'Z') {
        return std::nullopt;
    }
    const std::uint64_t index_size = (std::uint64_t{le32(data, footer + 4)} + 1) * 4;
    if (index_size > footer - kXzHeaderSize) {
        return std::nullopt;
    }
    const std::size_t index = footer - static_cast<std::size_t>(index_size);
    // Index Indicator, Number of Records, the records, Index Padding, CRC32.
    if (byte_at(data, index) != 0x00) {
        return std::nullopt;
    }
    std::size_t at = index + 1;
    const std::size_t records_end = footer - 4;
    const auto count = vli(data, at, records_end);
    if (!count) {
        return std::nullopt;
    }
    std::uint64_t blocks = 0;
    for (std::uint64_t r = 0; r < *count; ++r) {
        const auto unpadded = vli(data, at, records_end);
        const auto size = vli(data, at, records_end);
        if (!unpadded || !size || *unpadded == 0 || *unpadded > footer) {
            return std::nullopt;
        }
        blocks += (*unpadded + 3) & ~std::uint64_t{3};
        uncompressed += *size;
        if (blocks > footer || uncompressed > (std::uint64_t{1} << 62)) {
            return std::nullopt;
        }
    }
    // Index Padding: null bytes up to a multiple of four, then the CRC32.
    while (at < records_end && (at - index) % 4 != 0) {
        if (byte_at(data, at++) != 0) {
            return std::nullopt;
        }
    }
    if (at != records_end) {
        return std::nullopt;
    }
    if (blocks + kXzHeaderSize > index) {
        return std::nullopt;
    }
    const std::size_t start = index - static_cast<std::size_t>(blocks) - kXzHeaderSize;
    // The header's magic, and its Stream Flags the footer's copy.
    if (std::memcmp(data.data() + start, kXzHeaderMagic, sizeof kXzHeaderMagic) != 0 ||
        byte_at(data, start + 6) != byte_at(data, footer + 8) ||
        byte_at(data, start + 7) != byte_at(data, footer + 9)) {
        return std::nullopt;
    }
    return start;
}

std::optional<std::size_t> count_xz_streams(std::span<const std::byte> data,
                                            std::size_t max_output) {
    std::size_t end = data.size();
    std::size_t streams = 0;
    std::uint64_t uncompressed = 0;
    while (end > 0) {
        // Stream Padding: null bytes in multiples of four, after a stream.
        while (end >= 4 && le32(data, end - 4) == 0) {
            end -= 4;
        }
        if (end == 0) {
            break;
        }
        const auto start = xz_stream_start(data, end, uncompressed);
        if (!start || uncompressed > max_output) {
            return std::nullopt;
        }
        ++streams;
        end = *start;
    }
    if (streams == 0) {
        return std::nullopt;
    }
    return streams;
}

}  // namespace

std::optional<std::size_t> count_units_framed(Compression compression,
                                              std::span<const std::byte> data,
                                              std::size_t max_output) {
    if (compression == Compression::xz) {
        return count_xz_streams(data, max_output);
    }
    return std::nullopt;
}

}  // namespace modload::detail
