// The modules built into the kernel image (modules.builtin): never loaded, never removed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <modload/export.hpp>
#include <modload/result.hpp>
#include <modload/system.hpp>

namespace modload {

/// The modules built into a kernel, from /lib/modules/<release>/modules.builtin.
class MODLOAD_API BuiltinModules {
  public:
    BuiltinModules() = default;
    explicit BuiltinModules(std::vector<std::string> names);
    /// Reads modules.builtin; a missing file gives an empty set (not every system has one).
    static Result<BuiltinModules> read(System& system, std::string_view kernel_release);
    bool contains(std::string_view name) const;

  private:
    std::vector<std::string> names_;  // sorted
};

}  // namespace modload
