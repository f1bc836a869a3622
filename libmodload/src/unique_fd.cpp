#include <modload/unique_fd.hpp>

#include <unistd.h>

namespace modload {

void UniqueFd::reset(int fd) {
    if (fd_ >= 0) {
        // close() may report EINTR, but the descriptor is released on Linux either way.
        (void)::close(fd_);
    }
    fd_ = fd;
}

}  // namespace modload
