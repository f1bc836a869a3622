#include <modload/removal.hpp>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include <fcntl.h>

#include <modload/names.hpp>

namespace modload {

Obstacle obstacle_of(const LoadedModule& module) {
    switch (module.state) {
        case ModuleState::loading:
            return Obstacle::loading;
        case ModuleState::unloading:
            return Obstacle::unloading;
        case ModuleState::live:
            break;
    }
    if (!module.holders.empty()) {
        return Obstacle::has_holders;
    }
    if (!module.refcount) {
        return Obstacle::unload_unsupported;
    }
    if (*module.refcount != 0) {
        return Obstacle::in_use;
    }
    return Obstacle::none;
}

Obstacle check_removal(const Snapshot& snapshot, const BuiltinModules& builtin, System& system,
                       std::string_view name) {
    if (builtin.contains(name)) {
        return Obstacle::builtin;
    }
    const LoadedModule* module = snapshot.find(name);
    if (module == nullptr) {
        // Builtin code with parameters or sysfs attributes shows up in /sys/module without being
        // in /proc/modules, as kmod's initstate check finds.
        if (is_valid_module_name(name)) {
            auto folder = system.stat("/sys/module/" + std::string(name));
            if (folder && folder->type == FileType::directory) {
                return Obstacle::builtin;
            }
        }
        return Obstacle::not_loaded;
    }
    return obstacle_of(*module);
}

Result<void> remove_module(Kernel& kernel, std::string_view name, bool force) {
    if (!is_valid_module_name(name)) {
        return make_error(EINVAL, "bad module name");
    }
    const unsigned flags = O_NONBLOCK | (force ? O_TRUNC : 0);
    return kernel.delete_module(std::string(name), flags);
}

}  // namespace modload
