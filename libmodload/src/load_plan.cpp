#include <modload/load_plan.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <set>

#include <sys/stat.h>
#include <unistd.h>

#include <modload/names.hpp>

#include "file_io.hpp"

namespace modload {

namespace {

// Opens a dependency and checks, through the descriptor it will be loaded from, that no other
// user could have written it; its folder is checked too, since whoever can write a folder can
// swap the file in it.
Result<std::shared_ptr<ModuleFile>> open_trusted(const std::filesystem::path& path) {
    const uid_t caller = ::geteuid();
    struct stat folder {};
    const std::filesystem::path parent = path.parent_path().empty() ? "." : path.parent_path();
    if (::stat(parent.c_str(), &folder) != 0) {
        return make_error(errno, parent.string());
    }
    if (auto why = untrusted_because(folder.st_mode, folder.st_uid, caller)) {
        return make_error(EPERM, "folder " + parent.string() + " is " + *why + "; not trusted");
    }
    auto file = ModuleFile::open(path.string());
    if (!file) {
        return make_error(file.error().code, path.string());
    }
    struct stat st {};
    if (::fstat(file->fd(), &st) != 0) {
        return make_error(errno, path.string());
    }
    if (auto why = untrusted_because(st.st_mode, st.st_uid, caller)) {
        return make_error(EPERM, path.string() + " is " + *why + "; not trusted");
    }
    return std::make_shared<ModuleFile>(std::move(*file));
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
            auto looked = locator_.find(name);
            if (!looked) {
                return looked.error();
            }
            const std::optional<ModuleLocator::Found>& found = *looked;
            if (!found) {
                return make_error(ENOENT,
                                  "dependency " + name + " not found in " + locator_.searched());
            }
            auto file = open_trusted(found->path);
            if (!file) {
                return file.error();
            }
            auto info = (*file)->info();
            if (!info) {
                return make_error(info.error().code,
                                  found->path.string() + ": " + info.error().detail);
            }
            path.push_back(name);
            if (auto r = add_dependencies_of(**info, path); !r) {
                return r;
            }
            path.pop_back();
            planned_.insert(name);
            steps_.push_back(LoadStep{name, found->path, found->source, std::move(*file)});
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

std::string_view module_source_name(ModuleSource source) {
    return source == ModuleSource::modules_dep ? "modules.dep" : "beside the module";
}

std::optional<std::string> untrusted_because(mode_t mode, uid_t owner, uid_t caller) {
    if ((mode & (S_IWGRP | S_IWOTH)) != 0 || (mode & S_ISVTX) != 0) {
        char octal[8];
        (void)std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode & 07777));
        return std::string((mode & S_ISVTX) != 0 ? "sticky" : "writable by others") + " (mode " +
               octal + ")";
    }
    if (owner != 0 && owner != caller) {
        return "owned by uid " + std::to_string(owner);
    }
    return std::nullopt;
}

Result<ModuleLocator> ModuleLocator::make(const SystemRoot& root,
                                          const std::string& kernel_release,
                                          const std::filesystem::path& beside) {
    if (kernel_release.empty() || kernel_release.find('/') != std::string::npos ||
        kernel_release == "." || kernel_release == "..") {
        return make_error(EINVAL, "kernel release \"" + kernel_release + "\"");
    }
    ModuleLocator locator;
    locator.beside_ = beside;
    locator.searched_ = "modules.dep";
    if (!beside.empty()) {
        locator.searched_ += " and " + beside.string();
    }
    const std::filesystem::path folder = root.path("/lib/modules/" + kernel_release);
    auto text = detail::read_text_file(folder / "modules.dep");
    if (!text) {
        if (text.error().code == ENOENT) {
            return locator;  // no modules.dep: only the module's folder
        }
        return text.error();
    }
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
        locator.modules_dep_.emplace(module_name_from_argument(relative), std::move(file));
    }
    return locator;
}

Result<std::optional<ModuleLocator::Found>> ModuleLocator::find(const std::string& name) const {
    if (const auto it = modules_dep_.find(name); it != modules_dep_.end()) {
        return std::optional<Found>(Found{it->second, ModuleSource::modules_dep});
    }
    // A name from depends= is the module's word, not a path: "../x" must not leave the folder.
    if (beside_.empty() || !is_valid_module_name(name)) {
        return std::optional<Found>();
    }
    // Only the folder itself: the file names a module may have, as depmod and kmod spell them.
    const std::string dashed = [&] {
        std::string d = name;
        std::replace(d.begin(), d.end(), '_', '-');
        return d;
    }();
    for (const std::string& base : {name, dashed}) {
        for (const char* suffix : {".ko", ".ko.zst", ".ko.xz", ".ko.gz"}) {
            std::filesystem::path candidate = beside_ / (base + suffix);
            std::error_code ec;
            if (std::filesystem::is_regular_file(candidate, ec)) {
                return std::optional<Found>(Found{std::move(candidate), ModuleSource::beside_module});
            }
            if (ec && ec.value() != ENOENT && ec.value() != ENOTDIR) {
                return make_error(ec.value(), candidate.string());
            }
        }
    }
    return std::optional<Found>();
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
