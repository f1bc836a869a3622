// Open files that hold module references, found without BPF: /proc/PID/fd, sysfs and
// modules.alias. Every answer is a rule of thumb, and says so.
#include <fnmatch.h>
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <utility>

#include <fcntl.h>

#include <modload/names.hpp>
#include <modload/unique_fd.hpp>

#include "module_aliases.hpp"
#include "open_files.hpp"
#include "text.hpp"

namespace modload::detail {

ProvidedAliases ProvidedAliases::parse(std::string_view text) {
    // Only what says what a module provides is kept.
    ProvidedAliases aliases;
    aliases.aliases_ = parse_module_aliases(text, [](std::string_view pattern) {
        return pattern.starts_with("fs-") || pattern.starts_with("char-major-") ||
               pattern.starts_with("block-major-") || pattern.starts_with("net-pf-") ||
               pattern.starts_with("tcp-ulp-") ||

               // Firewall rules' expressions, chains, objects, matches and targets.
               pattern.starts_with("nft-") || pattern.starts_with("nf-flowtable-") ||
               pattern.starts_with("ipt_") || pattern.starts_with("ip6t_") ||
               pattern.starts_with("arpt_") || pattern.starts_with("ebt_");
    });
    return aliases;
}

ProvidedAliases ProvidedAliases::read(System& system, const std::string& release,
                                      std::vector<UnreadSource>* unread) {
    if (release.empty()) {
        return {};
    }
    return parse(
        read_or_note(system, system.path("/lib/modules/" + release + "/modules.alias"), unread));
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

bool ProvidedAliases::provides_any(std::string_view module, std::string_view prefix) const {
    return std::any_of(aliases_.begin(), aliases_.end(), [&](const auto& alias) {
        return alias.second == module && alias.first.starts_with(prefix);
    });
}

namespace {

// Whether `path` (as given) exists; a failure to look other than its absence is noted.
bool present(System& system, const std::filesystem::path& path, std::vector<UnreadSource>* unread) {
    auto st = system.stat_given(path.string());
    // As std::filesystem::exists: ENOENT and ENOTDIR say it is not there.
    if (!st && st.error().code != ENOENT && st.error().code != ENOTDIR) {
        note_unread(unread, path, st.error().code);
    }
    return st.has_value();
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

std::string read_or_note(System& system, const std::filesystem::path& path,
                         std::vector<UnreadSource>* unread, std::optional<int> pid) {
    auto text = system.read_text_given(path.string());
    if (!text) {
        note_unread(unread, path, text.error().code, pid);
        return {};
    }
    return std::move(*text);
}

namespace {

// The name /proc/devices gives block major `major` ("252 zram" under "Block devices:"), normalized
// as a module name; empty when none.
std::string block_major_name(System& system, unsigned major, std::vector<UnreadSource>* unread) {
    const std::string devices = read_or_note(system, system.path("/proc/devices"), unread);
    std::string_view text = devices;
    bool in_block = false;
    while (!text.empty()) {
        const auto newline = text.find('\n');
        const std::string_view line = trimmed(text.substr(0, newline));
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        if (line == "Block devices:") {
            in_block = true;
            continue;
        }
        if (line.ends_with(':')) {
            in_block = false;
            continue;
        }
        const auto space = line.find(' ');
        if (in_block && space != std::string_view::npos &&
            parse_number<unsigned>(line.substr(0, space)) == major) {
            return normalize_module_name(std::string(trimmed(line.substr(space + 1))));
        }
    }
    return {};
}

}  // namespace

DeviceOwner device_owner(System& system, bool block, unsigned major, unsigned minor,
                         const ProvidedAliases& aliases, std::vector<UnreadSource>* unread) {
    const std::string number = std::to_string(major) + ":" + std::to_string(minor);
    const std::filesystem::path link =
        system.path(std::string(block ? "/sys/dev/block/" : "/sys/dev/char/") + number);
    std::filesystem::path device;
    if (auto resolved = system.canonical_given(link.string()); !resolved) {
        note_unread(unread, link, resolved.error().code);
    } else {
        device = *resolved;
        if (block && present(system, device / "partition", unread)) {
            device = device.parent_path();  // a partition's disk is its parent
        }
        if (block && present(system, device / "loop", unread)) {
            return {"loop", false};  // the loop driver's own attributes
        }
        const std::filesystem::path driver = device / "device" / "driver" / "module";
        auto driver_module = system.canonical_given(driver.string());
        if (driver_module) {
            return {
                normalize_module_name(std::filesystem::path(*driver_module).filename().string()),
                false};
        }
        note_unread(unread, driver, driver_module.error().code);
    }
    const std::string kind = block ? "block-major-" : "char-major-";
    if (std::string module = aliases.module_for(kind + number.substr(0, number.find(':')) + "-" +
                                                std::to_string(minor));
        !module.empty()) {
        return {std::move(module), true};
    }
    if (block) {
        // A virtual disk (zram, nbd) has no driver link and a dynamic major: the name its driver
        // registered the major under (register_blkdev, /proc/devices) is most often the module's.
        if (std::string module = block_major_name(system, major, unread); !module.empty()) {
            return {std::move(module), true};
        }
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
std::vector<std::pair<std::string, HoldVia>> socket_owners(System& system, int pid, int fd,
                                                           const ProvidedAliases& aliases) {
    auto process = system.pidfd_open(pid);
    if (!process) {
        return {};
    }
    auto socket = system.pidfd_getfd(process->get(), fd);
    if (!socket) {
        return {};
    }
    auto kind = system.socket_kind(socket->get());
    if (!kind) {
        return {};
    }
    const int family = kind->family;
    const int protocol = kind->protocol;
    const int type = kind->type;
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
}

// Descriptors of one open file (a forked child shares its parent's) hold one reference between
// them: kcmp(2) tells, and they get one id.
void same_open_files(System& system, std::vector<OpenFileRecord>& records) {
    std::uint64_t next_id = 1;
    for (std::size_t i = 0; i < records.size(); ++i) {
        OpenFileRecord& r = records[i];
        for (std::size_t j = 0; j < i && r.file_id == 0; ++j) {
            const OpenFileRecord& seen = records[j];
            if (seen.owner == r.owner &&
                system.same_open_file(seen.pid, seen.fd, r.pid, r.fd).value_or(false)) {
                r.file_id = seen.file_id;
            }
        }
        if (r.file_id == 0) {
            r.file_id = next_id++;
        }
    }
}

bool all_digits(const std::string& name) {
    return !name.empty() &&
           std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Result<std::vector<OpenFileRecord>> scan_open_files_proc(System& system,
                                                         const ProvidedAliases& aliases,
                                                         const std::vector<std::string>& wanted,
                                                         std::vector<UnreadSource>* unread) {
    const std::filesystem::path proc = system.path("/proc");
    const bool live = system.live();
    std::map<std::pair<bool, std::uint64_t>, DeviceOwner> owners;  // one sysfs walk per device
    const auto is_wanted = [&](const std::string& module) {
        return !module.empty() && std::find(wanted.begin(), wanted.end(), module) != wanted.end();
    };
    std::vector<OpenFileRecord> records;
    const auto each_process = [&](const FolderEntry& process) {
        if (!all_digits(process.name)) {
            return true;
        }
        const int pid = std::atoi(process.name.c_str());
        const std::filesystem::path fd_folder = proc / process.name / "fd";
        auto folder = system.open_given(fd_folder.string(), O_RDONLY | O_DIRECTORY);
        if (!folder) {
            // Not when gone: nothing is open.
            note_unread(unread, fd_folder, folder.error().code, pid);
            return true;
        }
        std::string command;
        auto listed = system.list(folder->get(), [&](const FolderEntry& entry) {
            if (!all_digits(entry.name)) {
                return true;
            }
            auto st = system.stat_at(folder->get(), entry.name);
            if (!st) {
                // Not when closed since.
                note_unread(unread, fd_folder / entry.name, st.error().code, pid);
                return true;
            }
            const int fd = std::atoi(entry.name.c_str());
            std::vector<std::pair<std::string, HoldVia>> found;
            if (st->type == FileType::character_device || st->type == FileType::block_device) {
                const bool block = st->type == FileType::block_device;
                auto [it, fresh] = owners.try_emplace({block, st->rdev});
                if (fresh) {
                    it->second = device_owner(system, block, st->rdev_major, st->rdev_minor,
                                              aliases, unread);
                }
                found.emplace_back(it->second.module,
                                   block ? HoldVia::block_device : HoldVia::file_operations);
            } else if (st->type == FileType::socket && live) {
                found = socket_owners(system, pid, fd, aliases);
            }
            for (auto& [module, via] : found) {
                if (!is_wanted(module)) {
                    continue;
                }
                if (command.empty()) {
                    command = std::string(detail::trimmed_right(
                        read_or_note(system, proc / process.name / "comm", unread, pid), "\n "));
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
            return true;
        });
        if (!listed) {
            note_unread(unread, fd_folder, listed.error().code, pid);
        }
        return true;
    };
    if (auto listed = system.list_given(proc.string(), each_process); !listed) {
        if (listed.error().detail != kListingBroken) {
            return make_error(listed.error().code, proc.string());
        }
        if (unread != nullptr) {
            // Said whatever the error, "not there" too: /proc is where the module list came from.
            unread->push_back(
                UnreadSource{proc, make_error(listed.error().code), UnreadKind::process_list, {}});
        }
    }
    if (live) {
        same_open_files(system, records);
    }
    return records;
}

std::map<std::uint64_t, std::vector<FileUser>> socket_users(System& system,
                                                            const std::set<std::uint64_t>& inodes,
                                                            std::vector<UnreadSource>* unread) {
    std::map<std::uint64_t, std::vector<FileUser>> users;
    if (inodes.empty()) {
        return users;
    }
    const std::filesystem::path proc = system.path("/proc");
    const auto each_process = [&](const FolderEntry& process) {
        if (!all_digits(process.name)) {
            return true;
        }
        const int pid = std::atoi(process.name.c_str());
        const std::filesystem::path fd_folder = proc / process.name / "fd";
        std::string command;
        auto listed = system.list_given(fd_folder.string(), [&](const FolderEntry& entry) {
            if (!all_digits(entry.name)) {
                return true;
            }
            // A socket's descriptor links to "socket:[INODE]", the inode sock_diag reports.
            auto target = system.read_link_given((fd_folder / entry.name).string());
            if (!target) {
                note_unread(unread, fd_folder / entry.name, target.error().code, pid);
                return true;
            }
            const std::string_view link = *target;
            if (!link.starts_with("socket:[") || !link.ends_with("]")) {
                return true;
            }
            const auto inode = parse_number<std::uint64_t>(link.substr(8, link.size() - 9));
            if (!inode || inodes.count(*inode) == 0) {
                return true;
            }
            if (command.empty()) {
                command = std::string(trimmed_right(
                    read_or_note(system, proc / process.name / "comm", unread, pid), "\n "));
                if (command.empty()) {
                    command = "?";
                }
            }
            users[*inode].push_back({pid, command, std::atoi(entry.name.c_str())});
            return true;
        });
        if (!listed) {
            note_unread(unread, fd_folder, listed.error().code, pid);
        }
        return true;
    };
    if (auto listed = system.list_given(proc.string(), each_process); !listed) {
        note_unread(unread, proc, listed.error().code);
    }
    return users;
}

}  // namespace modload::detail
