// The one file that makes module system calls. glibc has no wrappers for them.
#include <modload/kernel.hpp>

#include <cerrno>

#include <sys/syscall.h>
#include <unistd.h>

namespace modload {

namespace {

class SystemKernel final : public Kernel {
  public:
    Result<void> finit_module(int fd, const std::string& parameters, unsigned flags) override {
        return check(::syscall(SYS_finit_module, fd, parameters.c_str(), flags));
    }

    Result<void> init_module(std::span<const std::byte> image,
                             const std::string& parameters) override {
        return check(::syscall(SYS_init_module, image.data(), image.size(), parameters.c_str()));
    }

    Result<void> delete_module(const std::string& name, unsigned flags) override {
        return check(::syscall(SYS_delete_module, name.c_str(), flags));
    }

  private:
    static Result<void> check(long ret) {
        if (ret != 0) {
            return make_error(errno);
        }
        return {};
    }
};

}  // namespace

std::unique_ptr<Kernel> make_system_kernel() {
    return std::make_unique<SystemKernel>();
}

}  // namespace modload
