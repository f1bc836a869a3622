// modules.builtin: one path a line, read into a sorted set of names.
#include <modload/builtin_modules.hpp>

#include <algorithm>
#include <cerrno>

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

}  // namespace modload
