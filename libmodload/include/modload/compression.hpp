// Compressed module files: detection by magic bytes and bounded in-memory decompression.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <modload/export.hpp>
#include <modload/result.hpp>

namespace modload {

/// The compressions distributions use for modules.
enum class Compression { none, zstd, xz, gzip };

/// "none", "zstd", "xz" or "gzip": the words /sys/module/compression uses.
MODLOAD_API std::string_view compression_name(Compression compression);

/// The compression a word names ("zstd\n" from /sys/module/compression works); nullopt if unknown.
MODLOAD_API std::optional<Compression> compression_from_name(std::string_view name);

/// The compression of `data`, told by its magic bytes; Compression::none when none matches.
MODLOAD_API Compression detect_compression(std::span<const std::byte> data);

/// The compressed format `data` holds when it is one that modules are not read as (kernels
/// compress modules with zstd, xz or gzip only): "bzip2", "lzma" (xz --format=lzma, told by its
/// header's sanity as it has no magic), "lz4" (frame or legacy), "lzip", "lzop"; empty when none.
MODLOAD_API std::string_view unsupported_compression(std::span<const std::byte> data);

/// Decompresses `input` in memory. Fails with EFBIG as soon as the output would pass `max_output`
/// bytes (a crafted file cannot exhaust memory), and with ENOEXEC on a corrupt or truncated stream.
MODLOAD_API Result<std::vector<std::byte>> decompress(Compression compression,
                                                      std::span<const std::byte> input,
                                                      std::size_t max_output);

/// How many units `input` holds, decompressed as decompress() does: gzip members, zstd frames
/// (skippable ones too) or xz streams; 1 for Compression::none. The kernel's own decompressors
/// (kernel/module/decompress.c) read the first and ignore the rest, so a file of several cannot
/// be handed to the kernel compressed. Fails as decompress() does.
MODLOAD_API Result<std::size_t> count_units(Compression compression,
                                            std::span<const std::byte> input,
                                            std::size_t max_output);

}  // namespace modload
