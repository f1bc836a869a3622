// Counting a compressed file's units (xz streams) from their framing, without decompressing.
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include <modload/compression.hpp>

namespace modload::detail {

/// How many units `data` holds, read from the format's own framing: for xz, each stream's footer
/// and index, walked from the end of the file (Stream Padding between and after streams, as
/// decompress() takes it), with the size the streams decompress to at most `max_output`.
/// nullopt when the framing does not say (another format, a footer, index or header that does
/// not check out, a size past `max_output`): count_units() must decompress to tell. A file
/// whose framing is sound but whose blocks are damaged is counted here and fails where it is
/// decompressed (in the kernel, or here after the kernel refuses it).
std::optional<std::size_t> count_units_framed(Compression compression,
                                              std::span<const std::byte> data,
                                              std::size_t max_output);

}  // namespace modload::detail
