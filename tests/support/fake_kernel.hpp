// A Kernel that records the loads it is asked for, with the exact bytes, parameters and flags,
// and answers as the test queued: what the load paths' tests need to see. Only answers the real
// kernel can give are accepted. Removals belong to the model (model_kernel.hpp), which answers
// them by the kernel's rules; here delete_module always finds nothing loaded (ENOENT).
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
        std::string name;              ///< for delete_module
        std::vector<std::byte> image;  ///< for init_module: what the kernel was given
        bool fd_was_open = false;      ///< for finit_module
    };

    /// The errno the next call of `syscall` answers with (0: success); once each, in order.
    /// std::invalid_argument for an errno that call never gives (kernel_can_answer()).
    void fail_next(const std::string& syscall, int errno_value);

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
    void log_pending();

    std::vector<Call> calls_;
    std::map<std::string, std::vector<int>> scripted_;
    std::filesystem::path kmsg_;
    std::vector<std::string> kmsg_messages_;
};

}  // namespace modload::testing
