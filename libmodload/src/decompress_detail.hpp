// What the three decompressors share (internal): their errors, their growing buffer, and each
// codec's entry point (decompress_zstd.cpp, decompress_xz.cpp, decompress_gzip.cpp).
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include <modload/compression.hpp>
#include <modload/result.hpp>

namespace modload::detail {

/// EFBIG: the output passed `max_output` bytes.
Error too_large(std::size_t max_output);
/// ENOEXEC: "corrupt FORMAT data: WHY".
Error corrupt(std::string_view format, std::string_view why);
/// ENOEXEC: `count` bytes that are not another UNIT follow the last one.
Error trailing(std::string_view format, std::string_view unit, std::size_t count);
/// Whether `data` starts with the magic number of `compression`.
bool starts_with_magic(std::span<const std::byte> data, Compression compression);
/// Grows `out` for the next output, never past `max_output` + 1 bytes; false once past the limit.
bool grow(std::vector<std::byte>& out, std::size_t max_output);

/// Each codec: the whole input, every member, frame or stream of it, decompressed up to
/// `max_output` bytes; `units` counts the members, frames or streams read.
Result<std::vector<std::byte>> decompress_zstd(std::span<const std::byte> input,
                                               std::size_t max_output, std::size_t& units);
Result<std::vector<std::byte>> decompress_xz(std::span<const std::byte> input,
                                             std::size_t max_output, std::size_t& units);
Result<std::vector<std::byte>> decompress_gzip(std::span<const std::byte> input,
                                               std::size_t max_output, std::size_t& units);

}  // namespace modload::detail
