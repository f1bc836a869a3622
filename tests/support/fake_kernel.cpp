#include "fake_kernel.hpp"

#include <cerrno>
#include <fstream>
#include <stdexcept>

#include <fcntl.h>

#include "model_kernel.hpp"

namespace modload::testing {

void FakeKernel::fail_next(const std::string& syscall, int errno_value) {
    if (errno_value != 0 && !kernel_can_answer(syscall, errno_value)) {
        throw std::invalid_argument("fake kernel: " + syscall + " never answers errno " +
                                    std::to_string(errno_value));
    }
    scripted_[syscall].push_back(errno_value);
}

Result<void> FakeKernel::answer(const std::string& syscall) {
    auto& queue = scripted_[syscall];
    if (queue.empty()) {
        return {};
    }
    const int code = queue.front();
    queue.erase(queue.begin());
    if (code != 0) {
        return make_error(code);
    }
    return {};
}

void FakeKernel::log_next_load(std::filesystem::path kmsg, std::string message) {
    kmsg_ = std::move(kmsg);
    kmsg_messages_.push_back(std::move(message));
}

void FakeKernel::log_pending() {
    if (kmsg_messages_.empty()) {
        return;
    }
    std::ofstream log(kmsg_, std::ios::app);
    // prio,seq,usec,flags;message, and a continuation line the reader must skip.
    log << "3,1001,2000000,-;" << kmsg_messages_.front() << "\n SUBSYSTEM=module\n";
    kmsg_messages_.erase(kmsg_messages_.begin());
}

Result<void> FakeKernel::finit_module(int fd, const std::string& parameters, unsigned flags) {
    log_pending();
    Call call{"finit_module", parameters, flags, {}, {}, ::fcntl(fd, F_GETFD) != -1};
    calls_.push_back(std::move(call));
    return answer("finit_module");
}

Result<void> FakeKernel::init_module(std::span<const std::byte> image,
                                     const std::string& parameters) {
    log_pending();
    calls_.push_back(Call{"init_module", parameters, 0, {}, {image.begin(), image.end()}, false});
    return answer("init_module");
}

Result<void> FakeKernel::delete_module(const std::string& name, unsigned flags) {
    calls_.push_back(Call{"delete_module", {}, flags, name, {}, false});
    return make_error(ENOENT);
}

}  // namespace modload::testing
