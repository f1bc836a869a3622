#include "fake_kernel.hpp"

#include <fstream>
#include <sstream>

#include <fcntl.h>

namespace modload::testing {

void FakeKernel::fail_next(const std::string& syscall, int errno_value) {
    scripted_[syscall].push_back(errno_value);
}

void FakeKernel::fail_delete(const std::string& name, int errno_value) {
    delete_failures_[name] = errno_value;
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
    if (const auto it = delete_failures_.find(name); it != delete_failures_.end()) {
        return make_error(it->second);
    }
    auto result = answer("delete_module");
    if (result && !proc_modules_.empty()) {
        forget_module(name);
    }
    return result;
}

void FakeKernel::forget_module(const std::string& name) {
    std::ifstream in(proc_modules_);
    std::ostringstream kept;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string module, size, refcount, holders, rest;
        fields >> module >> size >> refcount >> holders;
        std::getline(fields, rest);
        if (module == name) {
            continue;
        }
        const std::string item = name + ",";
        if (const auto at = holders.find(item);
            at != std::string::npos && (at == 0 || holders[at - 1] == ',')) {
            holders.erase(at, item.size());
            holders = holders.empty() ? "-" : holders;
            refcount = std::to_string(std::stoi(refcount) - 1);
        }
        kept << module << ' ' << size << ' ' << refcount << ' ' << holders << rest << '\n';
    }
    in.close();
    std::ofstream(proc_modules_) << kept.str();
}

}  // namespace modload::testing
