// Where /proc, /sys and /lib/modules are: "/" on a real system, a fixture tree in tests.
#pragma once

#include <filesystem>
#include <string_view>

#include <modload/export.hpp>

namespace modload {

/// The folder that stands for "/" when the library reads /proc, /sys and /lib/modules.
class MODLOAD_API SystemRoot {
  public:
    explicit SystemRoot(std::filesystem::path root = "/") : root_(std::move(root)) {}

    /// `absolute` ("/proc/modules") resolved under the root.
    std::filesystem::path path(std::string_view absolute) const;
    const std::filesystem::path& root() const { return root_; }

  private:
    std::filesystem::path root_;
};

}  // namespace modload
