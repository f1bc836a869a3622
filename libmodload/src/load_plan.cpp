#include <modload/load_plan.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <set>

#include <sys/stat.h>

#include <modload/names.hpp>

#include "load_plan_detail.hpp"
#include "module_index.hpp"

namespace modload {

namespace detail {

Result<std::optional<std::string>> distrust(System& system, const std::filesystem::path& path,
                                            const FileStatus* file) {
    const uid_t caller = system.effective_uid();
    const std::filesystem::path parent = path.parent_path().empty() ? "." : path.parent_path();
    auto folder = system.stat_given(parent.string());
    if (!folder) {
        return make_error(folder.error().code, parent.string());
    }
    if (auto why = untrusted_because(folder->mode, folder->uid, caller)) {
        return std::optional<std::string>("folder " + parent.string() + " is " + *why +
                                          "; not trusted");
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
        return std::optional<std::string>(path.string() + " is " + *why + "; not trusted");
    }
    return std::optional<std::string>();
}

// Whether no other user could have written `path` or the folder it is in (whoever can write a
// folder can swap the file in it): EPERM naming which, or the error of looking.
Result<void> check_trusted(System& system, const std::filesystem::path& path,
                           const FileStatus* file) {
    auto why = distrust(system, path, file);
    if (!why) {
        return why.error();
    }
    if (*why) {
        return make_error(EPERM, **why);
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

namespace {

// Whether the file name at the end of modules.dep's `path` ("kernel/a/foo-bar.ko.xz") is that of
// module `name` ("foo_bar"), as module_name_from_argument() would spell it, without building it.
bool names_module(std::string_view path, std::string_view name) {
    if (const auto slash = path.rfind('/'); slash != std::string_view::npos) {
        path.remove_prefix(slash + 1);
    }
    if (path.size() < name.size() || (path.size() > name.size() && path[name.size()] != '.')) {
        return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        if ((path[i] == '-' ? '_' : path[i]) != name[i]) {
            return false;
        }
    }
    return true;
}

// When modules.dep.bin may stand for modules.dep: it is there, and modules.dep was not written
// after it (depmod writes the text first; one edited by hand since is newer). Either missing
// says no; a failure to look is an error, not an absence.
Result<bool> index_is_current(System& system, const std::filesystem::path& text,
                              const std::filesystem::path& index) {
    auto t = system.stat_given(text.string());
    if (!t) {
        return t.error().code == ENOENT ? Result<bool>(false)
                                        : Result<bool>(make_error(t.error().code, text.string()));
    }
    auto i = system.stat_given(index.string());
    if (!i) {
        return i.error().code == ENOENT ? Result<bool>(false)
                                        : Result<bool>(make_error(i.error().code, index.string()));
    }
    return t->modified <= i->modified;
}

}  // namespace

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
    const std::filesystem::path text_path = locator.folder_ / "modules.dep";
    const std::filesystem::path index_path = locator.folder_ / "modules.dep.bin";
    auto current = index_is_current(system, text_path, index_path);
    if (!current) {
        return current.error();
    }
    if (*current) {
        // One that is not an index of this format, or gone meanwhile, leaves the text to read.
        auto index = detail::ModuleIndex::open(system, index_path);
        if (index) {
            locator.index_ = std::make_shared<const detail::ModuleIndex>(std::move(*index));
            return locator;
        }
        if (index.error().code != EINVAL && index.error().code != ENOENT) {
            return index.error();
        }
    }
    auto text = system.read_text_given(text_path.string());
    if (!text) {
        if (text.error().code == ENOENT) {
            return locator;  // no modules.dep: only the module's folder
        }
        return text.error();
    }
    locator.text_ = std::move(*text);
    return locator;
}

Result<std::optional<std::string_view>> ModuleLocator::line_of(std::string_view name) const {
    if (index_) {
        auto line = index_->find(name);
        if (!line) {
            return make_error(line.error().code,
                              (folder_ / "modules.dep.bin").string() + ": " + line.error().detail);
        }
        // A value without its colon is no modules.dep line: as if the name were not there.
        if (*line && ((*line)->find(':') == std::string_view::npos || (*line)->front() == ':')) {
            return std::optional<std::string_view>();
        }
        return line;
    }
    // "kernel/net/netfilter/nf_nat.ko.xz: kernel/net/netfilter/nf_conntrack.ko.xz ...": the
    // first line whose file is `name`'s, as the index would answer.
    const std::string_view all = text_;
    for (std::size_t at = 0; at < all.size();) {
        const std::size_t newline = std::min(all.find('\n', at), all.size());
        const std::string_view line = all.substr(at, newline - at);
        at = newline + 1;
        const auto colon = line.find(':');
        if (colon != std::string_view::npos && colon != 0 &&
            names_module(line.substr(0, colon), name)) {
            return std::optional<std::string_view>(line);
        }
    }
    return std::optional<std::string_view>();
}

ModuleLocator::Found ModuleLocator::found(std::string_view line) const {
    const std::size_t colon = line.find(':');
    const std::string_view relative = line.substr(0, colon);
    Found found;
    found.path = relative.front() == '/' ? system_->path(relative) : folder_ / relative;
    std::vector<std::string> needs;
    std::string_view deps = line.substr(colon + 1);
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

Result<std::optional<ModuleLocator::Found>> ModuleLocator::find_listed(
    const std::filesystem::path& file) const {
    const std::string name = module_name_from_argument(file.string());
    if (!is_valid_module_name(name)) {
        return std::optional<Found>();
    }
    auto line = line_of(name);
    if (!line) {
        return line.error();
    }
    if (!*line) {
        return std::optional<Found>();
    }
    Found listed = found(**line);
    // A relative path is not made absolute here (that asks the process for its working folder,
    // outside the system): it is compared by what it is, below.
    if (file.is_absolute() && file.lexically_normal() == listed.path.lexically_normal()) {
        return std::optional<Found>(std::move(listed));
    }
    // The same file by another path (a symbolic link on the way, /lib and /usr/lib).
    FileStatus a;
    FileStatus b;
    using Look = std::pair<const std::filesystem::path*, FileStatus*>;
    for (auto [path, st] : {Look{&file, &a}, Look{&listed.path, &b}}) {
        auto looked = system_->stat_given(path->string());
        if (!looked) {
            if (looked.error().code == ENOENT || looked.error().code == ENOTDIR) {
                return std::optional<Found>();
            }
            return make_error(looked.error().code, path->string());
        }
        *st = *looked;
    }
    if (a.device == b.device && a.inode == b.inode) {
        return std::optional<Found>(std::move(listed));
    }
    return std::optional<Found>();
}

Result<std::optional<ModuleLocator::Found>> ModuleLocator::find(const std::string& name) const {
    auto line = line_of(name);
    if (!line) {
        return line.error();
    }
    if (*line) {
        return std::optional<Found>(found(**line));
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
    // Without an underscore in the name, the dashed spelling is the same: looked at once.
    const std::size_t spellings = dashed == name ? 1 : 2;
    const std::string* bases[] = {&name, &dashed};
    for (std::size_t i = 0; i < spellings; ++i) {
        const std::string& base = *bases[i];
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
