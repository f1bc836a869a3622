// In-kernel users of a module's block devices: swap areas (/proc/swaps) and the device-mapper and
// md devices built on them (sysfs holders).
#include <algorithm>
#include <cerrno>
#include <optional>
#include <utility>

#include "mountinfo.hpp"
#include "refs_sources.hpp"
#include "text.hpp"

namespace modload::detail {

std::string shell_quoted(std::string_view word) {
    const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("/._-+:=,@%").find(c) != std::string_view::npos;
    });
    if (plain) {
        return std::string(word);
    }
    std::string quoted = "'";
    for (char c : word) {
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return quoted + "'";
}

namespace {

struct DeviceNumber {
    unsigned major = 0;
    unsigned minor = 0;
};

// "MAJ:MIN\n", as sysfs's dev attribute holds it.
std::optional<DeviceNumber> parse_device_number(std::string_view text) {
    text = trimmed(text);
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) {
        return std::nullopt;
    }
    auto major = parse_number<unsigned>(text.substr(0, colon));
    auto minor = parse_number<unsigned>(text.substr(colon + 1));
    if (!major || !minor) {
        return std::nullopt;
    }
    return DeviceNumber{*major, *minor};
}

std::optional<DeviceNumber> sysfs_device_number(System& system, const std::string& name,
                                                std::vector<UnreadSource>* unread) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
        return std::nullopt;
    }
    return parse_device_number(
        read_or_note(system, system.path("/sys/class/block/" + name + "/dev"), unread));
}

// The block device a swap area's file name is: the device file's number, or, where that is not a
// device here (another mount namespace, a fixture), the number sysfs gives the name it resolves
// to (/dev/mapper/vg-swap -> dm-0).
std::optional<DeviceNumber> swap_device(System& system, const std::string& file,
                                        std::vector<UnreadSource>* unread) {
    const std::filesystem::path path = system.path(file);
    auto st = system.stat_given(path.string());
    if (st && st->type == FileType::block_device) {
        return DeviceNumber{st->rdev_major, st->rdev_minor};
    }
    if (!st && st.error().code != ENOTDIR) {
        note_unread(unread, path, st.error().code);
    }
    std::filesystem::path resolved(file);
    if (auto canonical = system.canonical_given(path.string())) {
        resolved = *canonical;
    } else if (canonical.error().code != ENOTDIR) {
        note_unread(unread, path, canonical.error().code);
    }
    return sysfs_device_number(system, resolved.filename().string(), unread);
}

// Block-device opens that swapon holds: two before 6.9 (the swap file, then claim_swapfile's own
// blkdev_get_by_dev), one since (the swap file opened O_EXCL is the claim).
int swap_opens(std::string_view release) {
    const auto dot = release.find('.');
    if (dot == std::string_view::npos) {
        return 1;
    }
    const auto rest = release.substr(dot + 1);
    const auto end = rest.find_first_not_of("0123456789");
    const auto major = parse_number<unsigned>(release.substr(0, dot));
    const auto minor = parse_number<unsigned>(rest.substr(0, end));
    if (!major || !minor) {
        return 1;
    }
    return std::make_pair(*major, *minor) < std::make_pair(6U, 9U) ? 2 : 1;
}

// The entries of a sysfs folder (names only); a folder that cannot be listed is noted.
std::vector<std::string> entries(System& system, const std::filesystem::path& folder,
                                 std::vector<UnreadSource>* unread) {
    std::vector<std::string> names;
    auto listed = system.list_given(folder.string(), [&](const FolderEntry& entry) {
        if (entry.name != "." && entry.name != "..") {
            names.push_back(entry.name);
        }
        return true;
    });
    if (!listed) {
        note_unread(unread, folder, listed.error().code);
    }
    std::sort(names.begin(), names.end());
    return names;
}

// A holder as people know it: "dm-0 (vg-lv)" for a named device-mapper device, else its name.
std::pair<std::string, std::string> holder_name_and_release(System& system,
                                                            const std::string& holder,
                                                            std::vector<UnreadSource>* unread) {
    const std::filesystem::path block = system.path("/sys/class/block/" + holder);
    if (holder.starts_with("dm-")) {
        const std::string name(trimmed(read_or_note(system, block / "dm" / "name", unread)));
        if (!name.empty()) {
            return {holder + " (" + name + ")", "dmsetup remove " + shell_quoted(name)};
        }
        return {holder, ""};
    }
    if (holder.starts_with("md")) {
        return {holder, "mdadm --stop /dev/" + shell_quoted(holder)};
    }
    return {holder, ""};
}

}  // namespace

std::vector<OwnedReference> swap_references(System& system, const ProvidedAliases& aliases,
                                            std::string_view release,
                                            std::vector<UnreadSource>* unread) {
    std::vector<OwnedReference> refs;
    const std::string swaps = read_or_note(system, system.path("/proc/swaps"), unread);
    std::string_view text = swaps;
    bool header = true;
    while (!text.empty()) {
        const auto newline = text.find('\n');
        const std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        if (std::exchange(header, false)) {
            continue;  // "Filename Type Size Used Priority"
        }
        // The file name is escaped (\040 for a space), so it is one field; a deleted one ends in
        // " (deleted)", two fields more.
        const std::vector<std::string_view> w = words(line);
        if (w.size() != 5 || w[1] != "partition") {
            continue;
        }
        const std::string file = unescaped(w[0]);
        const std::optional<DeviceNumber> device = swap_device(system, file, unread);
        if (!device) {
            continue;
        }
        const DeviceOwner owner =
            device_owner(system, true, device->major, device->minor, aliases, unread);
        if (owner.module.empty()) {
            continue;
        }
        OwnedReference owned;
        owned.module = owner.module;
        owned.ref.kind = ReferenceKind::swap;
        owned.ref.count = swap_opens(release);
        owned.ref.approximate = owner.approximate;
        owned.ref.via = HoldVia::block_device;
        owned.ref.name = file;
        owned.ref.release_command = "swapoff " + shell_quoted(file);
        refs.push_back(std::move(owned));
    }
    return refs;
}

std::vector<OwnedReference> block_user_references(System& system, const ProvidedAliases& aliases,
                                                  std::vector<UnreadSource>* unread) {
    std::vector<OwnedReference> refs;
    const std::filesystem::path sys_block = system.path("/sys/block");
    for (const std::string& disk : entries(system, sys_block, unread)) {
        // The disk itself and each of its partitions (a folder of it with a "partition" file).
        std::vector<std::string> members{disk};
        for (const std::string& name : entries(system, sys_block / disk, unread)) {
            if (name.starts_with(disk) &&
                system.stat_given((sys_block / disk / name / "partition").string())) {
                members.push_back(name);
            }
        }
        std::optional<DeviceOwner> owner;
        for (const std::string& member : members) {
            const std::filesystem::path folder =
                member == disk ? sys_block / disk : sys_block / disk / member;
            auto st = system.stat_given((folder / "holders").string());
            if (!st) {
                continue;  // no holders folder: nothing can be built on it
            }
            for (const std::string& holder : entries(system, folder / "holders", unread)) {
                if (!owner) {
                    const std::optional<DeviceNumber> number =
                        parse_device_number(read_or_note(system, sys_block / disk / "dev", unread));
                    owner = number ? device_owner(system, true, number->major, number->minor,
                                                  aliases, unread)
                                   : DeviceOwner{};
                }
                if (owner->module.empty()) {
                    break;
                }
                auto [name, release] = holder_name_and_release(system, holder, unread);
                OwnedReference owned;
                owned.module = owner->module;
                owned.ref.kind = ReferenceKind::block_user;
                owned.ref.approximate = owner->approximate;
                owned.ref.via = HoldVia::block_device;
                owned.ref.name = std::move(name);
                owned.ref.source = "/dev/" + member;
                owned.ref.release_command = std::move(release);
                refs.push_back(std::move(owned));
            }
        }
    }
    return refs;
}

}  // namespace modload::detail
