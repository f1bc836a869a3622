#include <modload/removal.hpp>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include <fcntl.h>

#include <modload/names.hpp>

namespace modload {

BuiltinModules::BuiltinModules(std::vector<std::string> names) : names_(std::move(names)) {
    std::sort(names_.begin(), names_.end());
}

Result<BuiltinModules> BuiltinModules::read(System& system, std::string_view kernel_release) {
    // The release becomes one path component; it may be longer than a module name.
    if (kernel_release.empty() || kernel_release == "." || kernel_release == ".." ||
        kernel_release.find('/') != std::string_view::npos) {
        return make_error(EINVAL, "kernel release \"" + std::string(kernel_release) + "\"");
    }
    const std::string path = "/lib/modules/" + std::string(kernel_release) + "/modules.builtin";
    auto text = system.read_text(path);
    if (!text) {
        if (text.error().code == ENOENT) {
            return BuiltinModules();
        }
        return text.error();
    }
    // One path a line: kernel/lib/crc-itu-t.ko
    std::vector<std::string> names;
    std::string_view rest = *text;
    while (!rest.empty()) {
        const auto newline = rest.find('\n');
        const std::string_view line = rest.substr(0, newline);
        rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
        if (!line.empty()) {
            names.push_back(module_name_from_argument(line));
        }
    }
    return BuiltinModules(std::move(names));
}

bool BuiltinModules::contains(std::string_view name) const {
    return std::binary_search(names_.begin(), names_.end(), name);
}

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
