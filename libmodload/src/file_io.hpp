// Reading whole files through one descriptor (internal).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <modload/result.hpp>

namespace modload::detail {

/// Appends everything `fd` yields until end of file, failing with EFBIG past `max_size` bytes.
/// A read that a signal interrupted (EINTR) is retried when `retry_interrupted`: right for a
/// regular file, whose reads never wait for long. From a pipe or a terminal, which may wait
/// forever, EINTR is returned, so that a program whose handler noted SIGINT can stop.
Result<void> read_fd(int fd, std::vector<std::byte>& out, std::size_t max_size,
                     bool retry_interrupted);

/// Reads a small text file (/proc, /sys, /lib/modules) whole: open, read to the end (a read
/// interrupted by a signal is retried), close. An interrupted open is not retried: it waited,
/// so the file is no ordinary one, and the signal is the caller's to act on.
Result<std::string> read_text_file(const std::filesystem::path& path,
                                   std::size_t max_size = std::size_t{64} << 20);

}  // namespace modload::detail
