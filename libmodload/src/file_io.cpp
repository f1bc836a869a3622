#include "file_io.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include <modload/unique_fd.hpp>

namespace modload::detail {

namespace {

// Reads go through a stack buffer and are appended: growing the destination by a whole chunk
// before each read zero-fills pages that are never used, and on small /proc and /sys files that
// page-touching was most of lsmod's run time (bench/lsmod_scale).
constexpr std::size_t kReadChunk = std::size_t{64} << 10;

template <class Buffer>
Result<void> read_into(int fd, Buffer& out, std::size_t max_size, bool retry_interrupted) {
    char chunk[kReadChunk];
    for (;;) {
        const ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0) {
            // An interrupted read has read nothing (the kernel returns the bytes it had read
            // instead): the retry starts where it stood.
            if (errno == EINTR && retry_interrupted) {
                continue;
            }
            return make_error(errno);
        }
        if (n == 0) {
            return {};
        }
        if (out.size() + static_cast<std::size_t>(n) > max_size) {
            return make_error(EFBIG, "larger than " + std::to_string(max_size >> 20) + " MiB");
        }
        const auto* begin = reinterpret_cast<const typename Buffer::value_type*>(chunk);
        out.insert(out.end(), begin, begin + n);
    }
}

}  // namespace

Result<void> read_fd(int fd, std::vector<std::byte>& out, std::size_t max_size,
                     bool retry_interrupted) {
    return read_into(fd, out, max_size, retry_interrupted);
}

Result<std::string> read_text_file(const std::filesystem::path& path, std::size_t max_size) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
        return make_error(errno, path.string());
    }
    std::string text;
    if (auto r = read_into(fd.get(), text, max_size, true); !r) {
        return make_error(r.error().code, path.string());
    }
    return text;
}

}  // namespace modload::detail
