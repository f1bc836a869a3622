// Removing a loaded module: the checks rmmod makes before asking the kernel, and the request.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <modload/kernel.hpp>
#include <modload/result.hpp>
#include <modload/snapshot.hpp>
#include <modload/system_root.hpp>

namespace modload {

/// The modules built into a kernel, from <root>/lib/modules/<release>/modules.builtin.
class BuiltinModules {
public:
    BuiltinModules() = default;
    explicit BuiltinModules(std::vector<std::string> names);
    /// Reads modules.builtin; a missing file gives an empty set (not every system has one).
    static Result<BuiltinModules> read(const SystemRoot& root, std::string_view kernel_release);
    bool contains(std::string_view name) const;

private:
    std::vector<std::string> names_;  // sorted
};

/// Why a module cannot be removed, in the order kmod's rmmod checks.
enum class RemovalBlock {
    none,                ///< it can go
    builtin,             ///< part of the kernel image
    not_loaded,          ///< not in /proc/modules
    has_holders,         ///< other modules use it
    in_use,              ///< references from outside modules (open files, users)
    unload_unsupported,  ///< the kernel was built without CONFIG_MODULE_UNLOAD
};

struct RemovalCheck {
    RemovalBlock block = RemovalBlock::none;
    const LoadedModule* module = nullptr;  ///< the snapshot entry, when loaded
};

/// What stands in the way of removing `name` (normalized), judged from the snapshot. A module that
/// is not loaded is builtin when modules.builtin lists it or <root>/sys/module/NAME exists.
RemovalCheck check_removal(const Snapshot& snapshot, const BuiltinModules& builtin,
                           const SystemRoot& root, std::string_view name);

/// Asks the kernel to remove `name` without blocking (O_NONBLOCK; the kernel answers EWOULDBLOCK
/// while references remain). `force` adds O_TRUNC, which needs CONFIG_MODULE_FORCE_UNLOAD.
Result<void> remove_module(Kernel& kernel, std::string_view name, bool force);

}  // namespace modload
