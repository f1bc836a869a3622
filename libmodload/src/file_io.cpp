#include "file_io.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include <modload/unique_fd.hpp>

namespace modload::detail {

namespace {

// Large enough that /proc/modules of thousands of modules comes in a few reads.
constexpr std::size_t kReadChunk = std::size_t{256} << 10;

template <class Buffer>
Result<void> read_into(int fd, Buffer& out, std::size_t max_size) {
    for (;;) {
        const std::size_t used = out.size();
        if (used > max_size) {
            return make_error(EFBIG, "larger than " + std::to_string(max_size >> 20) + " MiB");
        }
        out.resize(used + kReadChunk);
        const ssize_t n = ::read(fd, out.data() + used, kReadChunk);
        if (n < 0) {
            out.resize(used);
            if (errno == EINTR) {
                continue;
            }
            return make_error(errno);
        }
        out.resize(used + static_cast<std::size_t>(n));
        if (n == 0) {
            return {};
        }
    }
}

}  // namespace

Result<void> read_fd(int fd, std::vector<std::byte>& out, std::size_t max_size) {
    return read_into(fd, out, max_size);
}

Result<std::string> read_text_file(const std::filesystem::path& path, std::size_t max_size) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
        return make_error(errno, path.string());
    }
    std::string text;
    if (auto r = read_into(fd.get(), text, max_size); !r) {
        return make_error(r.error().code, path.string());
    }
    return text;
}

}  // namespace modload::detail
