// What the kernel's own module decompressor takes, told from a compressed file's stream header.
#pragma once

#include <cstddef>
#include <span>

#include <modload/compression.hpp>
#include <modload/loader.hpp>

namespace modload::detail {

/// What in `data`'s stream header the kernel's decompressor for `compression` cannot take
/// (kernel/module/decompress.c, 5.17 to 6.12, and lib/xz): LoadReason::none when nothing does, or
/// when the header cannot be read (the file then fails as it decompresses here). Only `reason`,
/// `count` and `detail` are set. Reads headers only: no decompression.
LoadChoice kernel_decompressor_limit(Compression compression, std::span<const std::byte> data);

}  // namespace modload::detail
