// A Kernel that records what it was asked and answers as the test scripted.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <modload/kernel.hpp>

namespace modload::testing {

class FakeKernel final : public Kernel {
public:
    struct Call {
        std::string syscall;     ///< "finit_module", "init_module" or "delete_module"
        std::string parameters;  ///< for the loads
        unsigned flags = 0;
        std::string name;                ///< for delete_module
        std::vector<std::byte> image;    ///< for init_module: what the kernel was given
        bool fd_was_open = false;        ///< for finit_module
    };

    /// The errno the next call of `syscall` answers with (0: success); once each, in order.
    void fail_next(const std::string& syscall, int errno_value);
    /// delete_module(`name`) answers `errno_value` every time.
    void fail_delete(const std::string& name, int errno_value);

    /// Keeps the /proc/modules file at `path` true to the calls: a successful delete_module
    /// drops the module's line, its name from every holder list and one reference from each
    /// module it held.
    void maintain_proc_modules(std::filesystem::path path) { proc_modules_ = std::move(path); }

    /// The next load call appends `message` to the kernel log file at `kmsg` as a /dev/kmsg
    /// record, as the kernel logs why it refused a module.
    void log_next_load(std::filesystem::path kmsg, std::string message);

    const std::vector<Call>& calls() const { return calls_; }

    Result<void> finit_module(int fd, const std::string& parameters, unsigned flags) override;
    Result<void> init_module(std::span<const std::byte> image,
                             const std::string& parameters) override;
    Result<void> delete_module(const std::string& name, unsigned flags) override;

private:
    Result<void> answer(const std::string& syscall);
    void forget_module(const std::string& name);

    std::vector<Call> calls_;
    std::map<std::string, std::vector<int>> scripted_;
    std::map<std::string, int> delete_failures_;
    std::filesystem::path proc_modules_;
    std::filesystem::path kmsg_;
    std::vector<std::string> kmsg_messages_;
    void log_pending();
};

}  // namespace modload::testing
