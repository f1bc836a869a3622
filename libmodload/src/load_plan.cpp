#include <modload/load_plan.hpp>

#include <algorithm>
#include <cerrno>
#include <set>

#include <modload/names.hpp>

#include "file_io.hpp"

namespace modload {

namespace {

bool is_module_file(const std::filesystem::path& path) {
    const std::string name = path.filename().string();
    for (const char* suffix : {".ko", ".ko.zst", ".ko.xz", ".ko.gz"}) {
        const std::string_view s(suffix);
        if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
            return true;
        }
    }
    return false;
}

bool available(const std::string& name, const Snapshot& loaded, const BuiltinModules& builtin) {
    return loaded.find(name) != nullptr || builtin.contains(name);
}

class DependencyPlanner {
public:
    DependencyPlanner(const Snapshot& loaded, const BuiltinModules& builtin,
                      const ModuleLocator& locator)
        : loaded_(loaded), builtin_(builtin), locator_(locator) {}

    // Adds the dependencies of a module, each after its own. `path` names a cycle.
    Result<void> add_dependencies_of(const ModuleInfo& module, std::vector<std::string>& path) {
        for (const std::string& dep : module.depends()) {
            const std::string name = normalize_module_name(dep);
            if (available(name, loaded_, builtin_) || planned_.count(name) != 0) {
                continue;
            }
            if (std::find(path.begin(), path.end(), name) != path.end()) {
                std::string chain;
                for (auto it = std::find(path.begin(), path.end(), name); it != path.end(); ++it) {
                    chain += *it + " -> ";
                }
                return make_error(ELOOP, "dependencies form a cycle: " + chain + name);
            }
            const auto file_path = locator_.find(name);
            if (!file_path) {
                return make_error(ENOENT, "dependency " + name + " not found in " + locator_.source());
            }
            auto file = ModuleFile::open(file_path->string());
            if (!file) {
                return make_error(file.error().code, file_path->string());
            }
            auto info = file->info();
            if (!info) {
                return make_error(info.error().code,
                                  file_path->string() + ": " + info.error().detail);
            }
            path.push_back(name);
            if (auto r = add_dependencies_of(**info, path); !r) {
                return r;
            }
            path.pop_back();
            planned_.insert(name);
            steps_.push_back(LoadStep{name, *file_path});
        }
        return {};
    }

    std::vector<LoadStep> take() { return std::move(steps_); }

private:
    const Snapshot& loaded_;
    const BuiltinModules& builtin_;
    const ModuleLocator& locator_;
    std::set<std::string> planned_;
    std::vector<LoadStep> steps_;
};

}  // namespace

Result<ModuleLocator> ModuleLocator::from_modules_dep(const SystemRoot& root,
                                                      const std::string& kernel_release) {
    if (kernel_release.empty() || kernel_release.find('/') != std::string::npos ||
        kernel_release == "." || kernel_release == "..") {
        return make_error(EINVAL, "kernel release \"" + kernel_release + "\"");
    }
    const std::filesystem::path folder = root.path("/lib/modules/" + kernel_release);
    auto text = detail::read_text_file(folder / "modules.dep");
    if (!text) {
        return text.error();
    }
    ModuleLocator locator;
    locator.source_ = "modules.dep";
    std::string_view rest = *text;
    // "kernel/net/netfilter/nf_nat.ko.xz: kernel/net/netfilter/nf_conntrack.ko.xz ..."
    while (!rest.empty()) {
        const auto newline = rest.find('\n');
        const std::string_view line = rest.substr(0, newline);
        rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            continue;
        }
        const std::string_view relative = line.substr(0, colon);
        std::filesystem::path file = relative.front() == '/' ? root.path(relative)
                                                              : folder / relative;
        locator.files_.emplace(module_name_from_argument(relative), std::move(file));
    }
    return locator;
}

Result<ModuleLocator> ModuleLocator::from_folder(const std::filesystem::path& folder) {
    ModuleLocator locator;
    locator.source_ = folder.string();
    std::error_code ec;
    // Breadth first, so that a module beside FILE wins over one deeper down.
    std::vector<std::filesystem::path> level{folder};
    for (int depth = 0; depth < 16 && !level.empty(); ++depth) {
        std::vector<std::filesystem::path> next;
        for (const auto& dir : level) {
            std::vector<std::filesystem::path> entries;
            for (auto it = std::filesystem::directory_iterator(dir, ec);
                 !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
                entries.push_back(it->path());
            }
            std::sort(entries.begin(), entries.end());
            for (const auto& entry : entries) {
                if (std::filesystem::is_directory(std::filesystem::symlink_status(entry, ec))) {
                    next.push_back(entry);
                } else if (is_module_file(entry)) {
                    locator.files_.emplace(module_name_from_argument(entry.filename().string()),
                                           entry);
                }
            }
        }
        level = std::move(next);
    }
    if (ec && locator.files_.empty()) {
        return make_error(ec.value(), folder.string());
    }
    return locator;
}

void ModuleLocator::add_fallback(const ModuleLocator& other) {
    files_.insert(other.files_.begin(), other.files_.end());  // keeps existing names
    source_ += " and " + other.source_;
}

std::optional<std::filesystem::path> ModuleLocator::find(const std::string& name) const {
    const auto it = files_.find(name);
    if (it == files_.end()) {
        return std::nullopt;
    }
    return it->second;
}

Result<std::vector<LoadStep>> plan_dependencies(const ModuleInfo& module, const Snapshot& loaded,
                                                const BuiltinModules& builtin,
                                                const ModuleLocator& locator) {
    DependencyPlanner planner(loaded, builtin, locator);
    std::vector<std::string> path{module.name};
    if (auto r = planner.add_dependencies_of(module, path); !r) {
        return r.error();
    }
    return planner.take();
}

std::vector<std::string> missing_dependencies(const ModuleInfo& module, const Snapshot& loaded,
                                              const BuiltinModules& builtin) {
    std::vector<std::string> missing;
    for (const std::string& dep : module.depends()) {
        const std::string name = normalize_module_name(dep);
        if (!available(name, loaded, builtin)) {
            missing.push_back(name);
        }
    }
    return missing;
}

}  // namespace modload
