// A Kernel that counts the module system calls made through it and has the model answer one of
// them, the Nth, with a chosen errno (ModelKernel::fail_next: a real answer of that call, without
// effect). What the model reads to answer, it reads itself, not through the System the file
// faults are injected in: those are for our reads, not the kernel's.
#pragma once

#include <cstddef>
#include <string>

#include <modload/kernel.hpp>

#include "model_kernel.hpp"

namespace modload::testing {

class FaultyKernel final : public Kernel {
  public:
    /// Call number `fail_at` (from 1; 0: none) answers `errno_value`.
    explicit FaultyKernel(ModelKernel& model, std::size_t fail_at = 0, int errno_value = 0)
        : model_(model), fail_at_(fail_at), errno_(errno_value) {}

    /// The calls made so far.
    std::size_t count() const { return count_; }
    /// Whether call number `fail_at` was made, and so failed.
    bool injected() const { return injected_; }
    /// The system call that failed: "finit_module", "init_module" or "delete_module".
    const std::string& failed() const { return failed_; }

    Result<void> finit_module(int fd, const std::string& parameters, unsigned flags) override {
        before("finit_module");
        return model_.finit_module(fd, parameters, flags);
    }

    Result<void> init_module(std::span<const std::byte> image,
                             const std::string& parameters) override {
        before("init_module");
        return model_.init_module(image, parameters);
    }

    Result<void> delete_module(const std::string& name, unsigned flags) override {
        before("delete_module");
        return model_.delete_module(name, flags);
    }

  private:
    void before(const std::string& syscall) {
        if (++count_ == fail_at_) {
            injected_ = true;
            failed_ = syscall;
            model_.fail_next(syscall, errno_);
        }
    }

    ModelKernel& model_;
    std::size_t fail_at_;
    int errno_;
    std::size_t count_ = 0;
    bool injected_ = false;
    std::string failed_;
};

}  // namespace modload::testing
