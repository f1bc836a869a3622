// Reading whole files through one descriptor (internal).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <modload/result.hpp>

namespace modload::detail {

/// Appends everything `fd` yields until end of file, failing with EFBIG past `max_size` bytes.
Result<void> read_fd(int fd, std::vector<std::byte>& out, std::size_t max_size);

/// Reads a small text file (/proc, /sys) whole: open, read to the end, close.
Result<std::string> read_text_file(const std::filesystem::path& path,
                                   std::size_t max_size = std::size_t{64} << 20);

}  // namespace modload::detail
