// Open files that hold module references, found without BPF: /proc/PID/fd, sysfs and
// modules.alias. Every answer is a rule of thumb, and says so.
#include <fnmatch.h>
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <modload/names.hpp>
#include <modload/unique_fd.hpp>

#include "file_io.hpp"
#include "module_aliases.hpp"
#include "open_files.hpp"
#include "text.hpp"

namespace modload::detail {

ProvidedAliases ProvidedAliases::parse(std::string_view text) {
    // Only what says what a module provides is kept.
    ProvidedAliases aliases;
    aliases.aliases_ = parse_module_aliases(text, [](std::string_view pattern) {
        return pattern.starts_with("fs-") || pattern.starts_with("char-major-") ||
               pattern.starts_with("block-major-") || pattern.starts_with("net-pf-");
    });
    return aliases;
}

ProvidedAliases ProvidedAliases::read(const SystemRoot& root, const std::string& release,
                                      std::vector<UnreadSource>* unread) {
    if (release.empty()) {
        return {};
    }
    return parse(read_or_note(root.path("/lib/modules/" + release + "/modules.alias"), unread));
}

std::string ProvidedAliases::module_for(std::string_view value) const {
    const std::string subject(value);
    for (const auto& [pattern, module] : aliases_) {
        if (::fnmatch(pattern.c_str(), subject.c_str(), 0) == 0) {
            return module;
        }
    }
    return {};
}

std::vector<std::string> ProvidedAliases::filesystems_of(std::string_view module) const {
    std::vector<std::string> types;
    for (const auto& [pattern, owner] : aliases_) {
        if (owner == module && pattern.starts_with("fs-")) {
            types.push_back(pattern.substr(3));
        }
    }
    return types;
}

namespace {

bool present(const std::filesystem::path& path, std::vector<UnreadSource>* unread) {
    std::error_code ec;
    const bool there = std::filesystem::exists(path, ec);
    if (ec) {
        note_unread(unread, path, ec.value());
    }
    return there;
}

}  // namespace

void note_unread(std::vector<UnreadSource>* unread, const std::filesystem::path& path, int code,
                 std::optional<int> pid) {
    if (unread == nullptr || code == ENOENT || code == ESRCH) {
        return;
    }
    const bool said = std::any_of(unread->begin(), unread->end(),
                                  [&](const UnreadSource& u) { return u.path == path; });
    if (!said) {
        unread->push_back(UnreadSource{path, make_error(code),
                                       pid ? UnreadKind::process : UnreadKind::file, pid});
    }
}

std::string read_or_note(const std::filesystem::path& path, std::vector<UnreadSource>* unread,
                         std::optional<int> pid) {
    auto text = read_text_file(path);
    if (!text) {
        note_unread(unread, path, text.error().code, pid);
        return {};
    }
    return std::move(*text);
}

DeviceOwner device_owner(const SystemRoot& root, bool block, unsigned major, unsigned minor,
                         const ProvidedAliases& aliases, std::vector<UnreadSource>* unread) {
    const std::string number = std::to_string(major) + ":" + std::to_string(minor);
    const std::filesystem::path link =
        root.path(std::string(block ? "/sys/dev/block/" : "/sys/dev/char/") + number);
    std::error_code ec;
    std::filesystem::path device = std::filesystem::canonical(link, ec);
    if (ec) {
        note_unread(unread, link, ec.value());
    } else {
        if (block && present(device / "partition", unread)) {
            device = device.parent_path();  // a partition's disk is its parent
        }
        if (block && present(device / "loop", unread)) {
            return {"loop", false};  // the loop driver's own attributes
        }
        const std::filesystem::path driver = device / "device" / "driver" / "module";
        const auto driver_module = std::filesystem::canonical(driver, ec);
        if (!ec) {
            return {normalize_module_name(driver_module.filename().string()), false};
        }
        note_unread(unread, driver, ec.value());
    }
    const std::string kind = block ? "block-major-" : "char-major-";
    if (std::string module = aliases.module_for(kind + number.substr(0, number.find(':')) + "-" +
                                                std::to_string(minor));
        !module.empty()) {
        return {std::move(module), true};
    }
    if (!device.empty()) {
        // A misc device is often named after its module (/sys/devices/virtual/misc/lab_dev).
        return {normalize_module_name(device.filename().string()), true};
    }
    return {};
}

namespace {

// The modules behind a socket of another process: its family and protocol, read through a
// duplicate of its descriptor, matched against "net-pf-F" and "net-pf-F-proto-P[-type-T]".
std::vector<std::pair<std::string, HoldVia>> socket_owners(int pid, int fd,
                                                           const ProvidedAliases& aliases) {
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
    const UniqueFd process(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!process.valid()) {
        return {};
    }
    const UniqueFd socket(static_cast<int>(::syscall(SYS_pidfd_getfd, process.get(), fd, 0)));
    if (!socket.valid()) {
        return {};
    }
    int family = 0;
    int protocol = 0;
    int type = 0;
    socklen_t size = sizeof family;
    if (::getsockopt(socket.get(), SOL_SOCKET, SO_DOMAIN, &family, &size) != 0) {
        return {};
    }
    size = sizeof protocol;
    (void)::getsockopt(socket.get(), SOL_SOCKET, SO_PROTOCOL, &protocol, &size);
    size = sizeof type;
    (void)::getsockopt(socket.get(), SOL_SOCKET, SO_TYPE, &type, &size);
    const std::string pf = "net-pf-" + std::to_string(family);
    const std::string proto = pf + "-proto-" + std::to_string(protocol);
    std::string by_protocol = aliases.module_for(proto + "-type-" + std::to_string(type));
    if (by_protocol.empty()) {
        by_protocol = aliases.module_for(proto);
    }
    const std::string by_family = aliases.module_for(pf);
    // A module that provides the family owns its operations, and the protocol too unless another
    // module claims that.
    std::vector<std::pair<std::string, HoldVia>> owners;
    if (!by_family.empty()) {
        owners.emplace_back(by_family, HoldVia::socket_family);
    }
    if (!by_protocol.empty() || !by_family.empty()) {
        owners.emplace_back(by_protocol.empty() ? by_family : by_protocol,
                            HoldVia::socket_protocol);
    }
    return owners;
#else
    (void)pid, (void)fd, (void)aliases;
    return {};
#endif
}

// Descriptors of one open file (a forked child shares its parent's) hold one reference between
// them: kcmp(2) tells, and they get one id.
void same_open_files(std::vector<OpenFileRecord>& records) {
#ifdef SYS_kcmp
    constexpr int kcmp_file = 0;  // KCMP_FILE
    std::uint64_t next_id = 1;
    for (std::size_t i = 0; i < records.size(); ++i) {
        OpenFileRecord& r = records[i];
        for (std::size_t j = 0; j < i && r.file_id == 0; ++j) {
            const OpenFileRecord& seen = records[j];
            if (seen.owner == r.owner &&
                ::syscall(SYS_kcmp, seen.pid, r.pid, kcmp_file, seen.fd, r.fd) == 0) {
                r.file_id = seen.file_id;
            }
        }
        if (r.file_id == 0) {
            r.file_id = next_id++;
        }
    }
#else
    (void)records;
#endif
}

bool all_digits(const char* name) {
    if (*name == '\0') {
        return false;
    }
    for (; *name != '\0'; ++name) {
        if (*name < '0' || *name > '9') {
            return false;
        }
    }
    return true;
}

}  // namespace

Result<std::vector<OpenFileRecord>> scan_open_files_proc(const SystemRoot& root,
                                                         const ProvidedAliases& aliases,
                                                         const std::vector<std::string>& wanted,
                                                         std::vector<UnreadSource>* unread) {
    const std::filesystem::path proc = root.path("/proc");
    DIR* processes = ::opendir(proc.c_str());
    if (processes == nullptr) {
        return make_error(errno, proc.string());
    }
    const bool live = root.root() == "/";
    std::map<std::pair<bool, dev_t>, DeviceOwner> owners;  // one sysfs walk per device
    const auto is_wanted = [&](const std::string& module) {
        return !module.empty() && std::find(wanted.begin(), wanted.end(), module) != wanted.end();
    };
    std::vector<OpenFileRecord> records;
    // readdir says the end and a failure alike with null; errno tells them apart.
    const auto next_entry = [](DIR* folder) {
        errno = 0;
        return ::readdir(folder);
    };
    while (const dirent* process = next_entry(processes)) {
        if (!all_digits(process->d_name)) {
            continue;
        }
        const int pid = std::atoi(process->d_name);
        const std::filesystem::path fd_folder = proc / process->d_name / "fd";
        const UniqueFd folder(::open(fd_folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!folder.valid()) {
            note_unread(unread, fd_folder, errno, pid);  // not when gone: nothing open
            continue;
        }
        UniqueFd copy(::dup(folder.get()));
        DIR* fds = copy.valid() ? ::fdopendir(copy.get()) : nullptr;
        if (fds == nullptr) {
            note_unread(unread, fd_folder, errno, pid);
            continue;
        }
        (void)copy.release();  // the DIR owns it now
        std::string command;
        while (const dirent* entry = next_entry(fds)) {
            if (!all_digits(entry->d_name)) {
                continue;
            }
            struct stat st {};
            if (::fstatat(folder.get(), entry->d_name, &st, 0) != 0) {
                note_unread(unread, fd_folder / entry->d_name, errno, pid);  // not when closed
                continue;
            }
            const int fd = std::atoi(entry->d_name);
            std::vector<std::pair<std::string, HoldVia>> found;
            if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
                const bool block = S_ISBLK(st.st_mode);
                auto [it, fresh] = owners.try_emplace({block, st.st_rdev});
                if (fresh) {
                    it->second = device_owner(root, block, major(st.st_rdev), minor(st.st_rdev),
                                              aliases, unread);
                }
                found.emplace_back(it->second.module,
                                   block ? HoldVia::block_device : HoldVia::file_operations);
            } else if (S_ISSOCK(st.st_mode) && live) {
                found = socket_owners(pid, fd, aliases);
            }
            for (auto& [module, via] : found) {
                if (!is_wanted(module)) {
                    continue;
                }
                if (command.empty()) {
                    command = std::string(detail::trimmed_right(
                        read_or_note(proc / process->d_name / "comm", unread, pid), "\n "));
                    if (command.empty()) {
                        command = "?";
                    }
                }
                records.push_back({.file_id = 0,
                                   .pid = pid,
                                   .command = command,
                                   .fd = fd,
                                   .owner = std::move(module),
                                   .via = via});
            }
        }
        if (errno != 0) {
            note_unread(unread, fd_folder, errno, pid);
        }
        ::closedir(fds);
    }
    if (errno != 0 && unread != nullptr) {
        // Said whatever the error, "not there" too: /proc is where the module list came from.
        unread->push_back(UnreadSource{proc, make_error(errno), UnreadKind::process_list, {}});
    }
    ::closedir(processes);
    if (live) {
        same_open_files(records);
    }
    return records;
}

}  // namespace modload::detail
