#include <modload/load_plan.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <set>

#include <sys/stat.h>

#include <modload/names.hpp>

#include "load_plan_detail.hpp"

namespace modload {

namespace detail {

// Whether no other user could have written `path` or the folder it is in (whoever can write a
// folder can swap the file in it): EPERM naming which, or the error of looking.
Result<void> check_trusted(System& system, const std::filesystem::path& path,
                           const FileStatus* file) {
    const uid_t caller = system.effective_uid();
    const std::filesystem::path parent = path.parent_path().empty() ? "." : path.parent_path();
    auto folder = system.stat_given(parent.string());
    if (!folder) {
        return make_error(folder.error().code, parent.string());
    }
    if (auto why = untrusted_because(folder->mode, folder->uid, caller)) {
        return make_error(EPERM, "folder " + parent.string() + " is " + *why + "; not trusted");
    }
    Result<FileStatus> st = FileStatus{};
    if (file == nullptr) {
        st = system.stat_given(path.string());
        if (!st) {
            return make_error(st.error().code, path.string());
        }
        file = &*st;
    }
    if (auto why = untrusted_because(file->mode, file->uid, caller)) {
        return make_error(EPERM, path.string() + " is " + *why + "; not trusted");
    }
    return {};
}

bool available(const std::string& name, const Snapshot& loaded, const BuiltinModules& builtin) {
    return loaded.find(name) != nullptr || builtin.contains(name);
}

}  // namespace detail

using detail::available;
using detail::check_trusted;

Result<std::shared_ptr<ModuleFile>> open_trusted(System& system,
                                                 const std::filesystem::path& path) {
    auto file = ModuleFile::open(system, path.string());
    if (!file) {
        return make_error(file.error().code, path.string());
    }
    auto st = system.fstat(file->fd());
    if (!st) {
        return make_error(st.error().code, path.string());
    }
    if (auto trusted = check_trusted(system, path, &*st); !trusted) {
        return trusted.error();
    }
    return std::make_shared<ModuleFile>(std::move(*file));
}

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

Result<ModuleLocator> ModuleLocator::make(System& system, const std::string& kernel_release,
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
    locator.system_ = &system;
    locator.folder_ = system.path("/lib/modules/" + kernel_release);
    auto text = system.read_text_given((locator.folder_ / "modules.dep").string());
    if (!text) {
        if (text.error().code == ENOENT) {
            return locator;  // no modules.dep: only the module's folder
        }
        return text.error();
    }
    locator.text_ = std::move(*text);
    // "kernel/net/netfilter/nf_nat.ko.xz: kernel/net/netfilter/nf_conntrack.ko.xz ..."
    const std::string_view all = locator.text_;
    for (std::size_t at = 0; at < all.size();) {
        const std::size_t newline = std::min(all.find('\n', at), all.size());
        const std::string_view line = all.substr(at, newline - at);
        const auto colon = line.find(':');
        if (colon != std::string_view::npos && colon != 0) {
            const Entry entry{at, colon, at + colon + 1, line.size() - colon - 1};
            locator.modules_dep_.emplace(module_name_from_argument(line.substr(0, colon)), entry);
        }
        at = newline + 1;
    }
    return locator;
}

ModuleLocator::Found ModuleLocator::found(const Entry& entry) const {
    const std::string_view text = text_;
    const std::string_view relative = text.substr(entry.path_begin, entry.path_length);
    Found found;
    found.path = relative.front() == '/' ? system_->path(relative) : folder_ / relative;
    std::vector<std::string> needs;
    std::string_view deps = text.substr(entry.deps_begin, entry.deps_length);
    while (!deps.empty()) {
        const std::size_t start = deps.find_first_not_of(" \t\r");
        if (start == std::string_view::npos) {
            break;
        }
        deps.remove_prefix(start);
        const std::size_t end = std::min(deps.find_first_of(" \t\r"), deps.size());
        needs.push_back(module_name_from_argument(deps.substr(0, end)));
        deps.remove_prefix(end);
    }
    found.recorded_dependencies = std::move(needs);
    return found;
}

Result<std::optional<ModuleLocator::Found>> ModuleLocator::find(const std::string& name) const {
    if (const auto it = modules_dep_.find(name); it != modules_dep_.end()) {
        return std::optional<Found>(found(it->second));
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
            auto st = system_->stat_given(candidate.string());
            if (st && st->type == FileType::regular) {
                return std::optional<Found>(
                    Found{std::move(candidate), ModuleSource::beside_module, std::nullopt});
            }
            if (!st && st.error().code != ENOENT && st.error().code != ENOTDIR) {
                return make_error(st.error().code, candidate.string());
            }
        }
    }
    return std::optional<Found>();
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
