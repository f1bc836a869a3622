// Who holds a module: each source of references, then what is left over.
#include <modload/references.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include <unistd.h>

#include <modload/names.hpp>

#include "mountinfo.hpp"
#include "open_files.hpp"
#include "refs_netfilter.hpp"
#include "refs_sources.hpp"
#include "refs_tc.hpp"

namespace modload {

namespace {

// The modules.alias forms of what a firewall rule can hold: nf_tables's expressions, chain types,
// objects and flowtables, and x_tables's matches and targets.
constexpr std::array<std::string_view, 6> kFirewallAliases = {"nft-",  "nf-flowtable-", "ipt_",
                                                              "ip6t_", "arpt_",         "ebt_"};

}  // namespace

std::string_view reference_kind_name(ReferenceKind kind) {
    switch (kind) {
        case ReferenceKind::module:
            return "module";
        case ReferenceKind::open_file:
            return "file";
        case ReferenceKind::mount:
            return "mount";
        case ReferenceKind::loop_device:
            return "loop";
        case ReferenceKind::crypto:
            return "crypto";
        case ReferenceKind::nftables:
            return "nftables";
        case ReferenceKind::iptables:
            return "iptables";
        case ReferenceKind::traffic_control:
            return "tc";
        case ReferenceKind::socket_layer:
            return "socket layer";
        case ReferenceKind::swap:
            return "swap";
        case ReferenceKind::block_user:
            return "block user";
    }
    return "?";
}

std::string_view hold_via_name(HoldVia via) {
    switch (via) {
        case HoldVia::none:
            return "";
        case HoldVia::file_operations:
            return "file operations";
        case HoldVia::socket_family:
            return "socket family";
        case HoldVia::socket_protocol:
            return "socket protocol";
        case HoldVia::socket_family_and_protocol:
            return "socket family and protocol";
        case HoldVia::block_device:
            return "block device";
        case HoldVia::filesystem:
            return "filesystem";
        case HoldVia::nls_table:
            return "character set table";
    }
    return "?";
}

namespace {

using detail::OpenFileRecord;
using detail::ProvidedAliases;

// ---------------------------------------------------------------------------- open files --

// The path a descriptor was opened as; nullopt when it has been closed since it was listed (it
// holds nothing now), "(unread)" when the link cannot be read (noted).
std::optional<std::string> fd_path(System& system, const FileUser& user,
                                   std::vector<UnreadSource>* unread) {
    const auto link =
        system.path("/proc/" + std::to_string(user.pid) + "/fd/" + std::to_string(user.fd));
    // As std::filesystem::read_symlink does: lstat says whether it is a link, then readlink.
    auto st = system.lstat_given(link.string());
    Result<std::string> target =
        st ? (st->type == FileType::symlink ? system.read_link_given(link.string())
                                            : Result<std::string>(make_error(EINVAL)))
           : Result<std::string>(st.error());
    if (!target && (target.error().code == ENOENT || target.error().code == ESRCH)) {
        return std::nullopt;
    }
    if (!target) {
        detail::note_unread(unread, link, target.error().code, user.pid);
        return "(unread)";
    }
    return std::move(*target);
}

// One reference per open file and module, or two for a socket whose family and protocol are both
// the module's. Descriptors sharing one open file (same id) share its references; without ids
// (the /proc scan) each descriptor counts alone.
std::vector<Reference> file_references(System& system, std::vector<OpenFileRecord> records,
                                       const std::string& module, bool approximate,
                                       std::vector<UnreadSource>* unread) {
    std::map<std::pair<std::uint64_t, std::pair<int, int>>, Reference> files;
    std::map<std::pair<std::uint64_t, std::pair<int, int>>, std::set<HoldVia>> vias;
    for (OpenFileRecord& r : records) {
        if (r.owner != module) {
            continue;
        }
        const auto key = r.file_id != 0
                             ? std::make_pair(r.file_id, std::make_pair(0, 0))
                             : std::make_pair(std::uint64_t{0}, std::make_pair(r.pid, r.fd));
        Reference& ref = files[key];
        ref.kind = ReferenceKind::open_file;
        ref.approximate = approximate;
        const FileUser user{r.pid, std::move(r.command), r.fd};
        const bool seen = std::any_of(ref.users.begin(), ref.users.end(), [&](const FileUser& u) {
            return u.pid == user.pid && u.fd == user.fd;
        });
        if (!seen) {
            ref.users.push_back(user);
        }
        vias[key].insert(r.via);
    }
    std::vector<Reference> refs;
    for (auto& [key, ref] : files) {
        const std::set<HoldVia>& held = vias[key];
        ref.count = static_cast<int>(held.size());
        ref.via = held.size() == 2 && held.count(HoldVia::socket_family) != 0 &&
                          held.count(HoldVia::socket_protocol) != 0
                      ? HoldVia::socket_family_and_protocol
                      : *held.begin();
        std::sort(ref.users.begin(), ref.users.end(), [](const FileUser& a, const FileUser& b) {
            return std::tie(a.pid, a.fd) < std::tie(b.pid, b.fd);
        });
        // Named after its first descriptor still open; closed by all, it holds nothing now.
        while (!ref.users.empty()) {
            if (std::optional<std::string> path = fd_path(system, ref.users.front(), unread)) {
                ref.name = std::move(*path);
                break;
            }
            ref.users.erase(ref.users.begin());
        }
        if (!ref.users.empty()) {
            refs.push_back(std::move(ref));
        }
    }
    std::sort(refs.begin(), refs.end(), [](const Reference& a, const Reference& b) {
        return std::tie(a.users.front().pid, a.users.front().fd) <
               std::tie(b.users.front().pid, b.users.front().fd);
    });
    return refs;
}

// ---------------------------------------------------------------------------------- mounts --

using Mount = detail::MountEntry;
using detail::words;

// One Mount per superblock (a bind mount shows the same superblock again), in mountinfo order.
std::vector<Mount> superblocks(std::string_view text) {
    std::vector<Mount> mounts;
    std::set<std::pair<std::string, std::string>> seen;
    for (Mount& m : detail::parse_mountinfo(text)) {
        if (seen.insert({m.device, m.fstype}).second) {
            mounts.push_back(std::move(m));
        }
    }
    return mounts;
}

// The NLS tables a mount's options name: codepage=437 is nls_cp437, iocharset=X is nls_X.
std::vector<std::string> nls_tables(std::string_view options) {
    std::vector<std::string> tables;
    while (!options.empty()) {
        const auto comma = options.find(',');
        const std::string_view option = options.substr(0, comma);
        options.remove_prefix(comma == std::string_view::npos ? options.size() : comma + 1);
        if (option.starts_with("codepage=")) {
            tables.push_back(normalize_module_name("nls_cp" + std::string(option.substr(9))));
        } else if (option.starts_with("iocharset=")) {
            tables.push_back(normalize_module_name("nls_" + std::string(option.substr(10))));
        }
    }
    return tables;
}

bool is_block_device(System& system, const Mount& m, std::vector<UnreadSource>* unread) {
    if (m.major == 0) {
        return false;
    }
    const std::filesystem::path link = system.path("/sys/dev/block/" + m.device);
    auto st = system.stat_given(link.string());
    // As std::filesystem::exists: ENOENT and ENOTDIR say it is not there.
    if (!st && st.error().code != ENOENT && st.error().code != ENOTDIR) {
        detail::note_unread(unread, link, st.error().code);
    }
    return st.has_value();
}

Reference mount_reference(const Mount& m, HoldVia via, bool approximate) {
    Reference ref;
    ref.kind = ReferenceKind::mount;
    ref.via = via;
    ref.approximate = approximate;
    ref.name = m.mount_point;
    ref.fstype = m.fstype;
    ref.source = m.source;
    return ref;
}

std::vector<Reference> mount_references(System& system, const std::vector<Mount>& mounts,
                                        const std::set<std::string>& filesystems,
                                        const ProvidedAliases& aliases, const std::string& module,
                                        std::vector<UnreadSource>* unread) {
    std::vector<Reference> refs;
    for (const Mount& m : mounts) {
        if (filesystems.count(m.fstype) != 0) {
            refs.push_back(mount_reference(m, HoldVia::filesystem, false));
        }
        for (const std::string& table : nls_tables(m.options)) {
            if (table == module) {
                refs.push_back(mount_reference(m, HoldVia::nls_table, false));
            }
        }
        if (is_block_device(system, m, unread)) {
            const detail::DeviceOwner owner =
                detail::device_owner(system, true, m.major, m.minor, aliases, unread);
            if (owner.module == module) {
                refs.push_back(mount_reference(m, HoldVia::block_device, owner.approximate));
            }
        }
    }
    return refs;
}

// The filesystem types a module registers: its fs-TYPE aliases, and its own name when
// /proc/filesystems lists a type of that name.
std::set<std::string> filesystems_of(const std::string& module, const ProvidedAliases& aliases,
                                     std::string_view registered) {
    std::set<std::string> types;
    for (std::string& type : aliases.filesystems_of(module)) {
        types.insert(std::move(type));
    }
    while (!registered.empty()) {
        const auto newline = registered.find('\n');
        const std::vector<std::string_view> w = words(registered.substr(0, newline));
        registered.remove_prefix(newline == std::string_view::npos ? registered.size()
                                                                   : newline + 1);
        if (!w.empty() && w.back() == module) {  // "nodev\tTYPE" or "\tTYPE"
            types.insert(module);
        }
    }
    return types;
}

// ------------------------------------------------------------------------ loop and crypto --

// A bound loop device holds a reference on the loop driver until it is detached.
std::vector<Reference> loop_references(System& system, std::vector<UnreadSource>* unread) {
    std::vector<Reference> refs;
    const std::filesystem::path devices = system.path("/sys/block");
    auto listed = system.list_given(devices.string(), [&](const FolderEntry& entry) {
        const std::string& device = entry.name;
        if (!device.starts_with("loop")) {
            return true;
        }
        std::string backing =
            detail::read_or_note(system, devices / device / "loop" / "backing_file", unread);
        while (!backing.empty() && backing.back() == '\n') {
            backing.pop_back();
        }
        if (backing.empty()) {
            return true;  // not bound (or unreadable, noted)
        }
        Reference ref;
        ref.kind = ReferenceKind::loop_device;
        ref.name = "/dev/" + device;
        ref.source = std::move(backing);
        refs.push_back(std::move(ref));
        return true;
    });
    if (!listed) {
        detail::note_unread(unread, devices, listed.error().code);
    }
    std::sort(refs.begin(), refs.end(),
              [](const Reference& a, const Reference& b) { return a.name < b.name; });
    return refs;
}

// /proc/crypto: per algorithm "name", "driver", "module" and "refcnt". The registration holds one
// count; each user (a transform, or an instance built on it) holds one more and a reference on the
// module.
std::vector<Reference> crypto_references(std::string_view text, const std::string& module) {
    std::vector<Reference> refs;
    std::map<std::string, std::string> fields;
    const auto flush = [&] {
        if (fields.empty()) {
            return;
        }
        const int refcnt = std::atoi(fields["refcnt"].c_str());
        if (normalize_module_name(fields["module"]) == module && refcnt > 1) {
            Reference ref;
            ref.kind = ReferenceKind::crypto;
            ref.count = refcnt - 1;
            ref.name = fields["driver"];
            ref.source = fields["name"];
            refs.push_back(std::move(ref));
        }
        fields.clear();
    };
    while (!text.empty()) {
        const auto newline = text.find('\n');
        const std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) {
            flush();
            continue;
        }
        const auto key = words(line.substr(0, colon));
        const auto value = words(line.substr(colon + 1));
        if (key.size() == 1 && value.size() == 1) {
            fields[std::string(key[0])] = std::string(value[0]);
        }
    }
    flush();
    return refs;
}

}  // namespace

ReferenceReport attribute_references(System& system, const Snapshot& snapshot,
                                     std::span<const std::string> names,
                                     const ReferenceOptions& options) {
    std::vector<UnreadSource> unread;
    return attribute_references(system, snapshot, names, options, unread);
}

ReferenceReport attribute_references(System& system, const Snapshot& snapshot,
                                     std::span<const std::string> names,
                                     const ReferenceOptions& options,
                                     std::vector<Error>& unread_errors) {
    std::vector<UnreadSource> unread;
    ReferenceReport report = attribute_references(system, snapshot, names, options, unread);
    for (const UnreadSource& source : unread) {
        unread_errors.push_back(make_error(source.error.code, source.path.string()));
    }
    return report;
}

ReferenceReport attribute_references(System& system, const Snapshot& snapshot,
                                     std::span<const std::string> names,
                                     const ReferenceOptions& options,
                                     std::vector<UnreadSource>& unread_sources) {
    std::vector<UnreadSource>* unread = &unread_sources;
    ReferenceReport report;
    const std::vector<std::string> wanted(names.begin(), names.end());
    const ProvidedAliases aliases = ProvidedAliases::read(system, options.kernel_release, unread);

    std::vector<OpenFileRecord> files;
    if (options.scan_files) {
        if (options.use_bpf) {
            auto scanned = detail::scan_open_files_bpf(system);
            if (scanned) {
                report.files = FileScan::bpf;
                files = std::move(*scanned);
            } else {
                report.why_not_bpf = scanned.error().message();
            }
        }
        if (report.files == FileScan::none) {
            auto scanned = detail::scan_open_files_proc(system, aliases, wanted, unread);
            if (scanned) {
                report.files = FileScan::proc;
                files = std::move(*scanned);
            } else {
                // Always said, "not there" too: /proc is where the module list came from.
                unread->push_back(UnreadSource{system.path("/proc"),
                                               make_error(scanned.error().code),
                                               UnreadKind::process_list,
                                               {}});
            }
        }
    }
    const std::vector<Mount> mounts =
        superblocks(detail::read_or_note(system, system.path("/proc/self/mountinfo"), unread));
    const std::string registered =
        detail::read_or_note(system, system.path("/proc/filesystems"), unread);
    const std::string crypto = detail::read_or_note(system, system.path("/proc/crypto"), unread);
    // Swap areas, dm and md members, socket layers: read once, kept by the module they hold.
    std::vector<detail::OwnedReference> layers;
    for (std::vector<detail::OwnedReference> more :
         {detail::swap_references(system, aliases, options.kernel_release, unread),
          detail::block_user_references(system, aliases, unread),
          detail::socket_layer_references(system, aliases, wanted, unread)}) {
        std::move(more.begin(), more.end(), std::back_inserter(layers));
    }
    const std::vector<detail::TrafficControlHolder> tc =
        detail::traffic_control_holders(system, options.kernel_release, wanted, unread);
    // Firewall rules are dumped only for a module that can be in one: dumping every ruleset for
    // any module costs, and says unread sources that have nothing to do with it.
    const bool firewall_asked =
        std::any_of(wanted.begin(), wanted.end(), [&](const std::string& module) {
            return module == "nf_tables" || module == "nft_compat" || module == "x_tables" ||
                   std::any_of(kFirewallAliases.begin(), kFirewallAliases.end(),
                               [&](std::string_view prefix) {
                                   return aliases.provides_any(module, prefix);
                               });
        });
    std::vector<detail::FirewallHold> firewall;
    if (firewall_asked) {
        firewall = detail::nftables_holds(system, aliases, unread);
        for (detail::FirewallHold& hold : detail::xtables_holds(system, aliases, unread)) {
            firewall.push_back(std::move(hold));
        }
    }

    for (const std::string& name : wanted) {
        ModuleReferences mine;
        mine.module = name;
        const LoadedModule* module = snapshot.find(name);
        if (module != nullptr) {
            mine.refcount = module->refcount;
            for (const std::string& holder : module->holders) {
                Reference ref;
                ref.kind = ReferenceKind::module;
                ref.name = holder;
                mine.references.push_back(std::move(ref));
            }
            const auto add = [&](std::vector<Reference> more) {
                for (Reference& ref : more) {
                    mine.references.push_back(std::move(ref));
                }
            };
            add(file_references(system, files, name, report.files == FileScan::proc, unread));
            add(mount_references(system, mounts, filesystems_of(name, aliases, registered), aliases,
                                 name, unread));
            if (name == "loop") {
                add(loop_references(system, unread));
            }
            add(crypto_references(crypto, name));
            for (const detail::OwnedReference& owned : layers) {
                if (owned.module == name) {
                    mine.references.push_back(owned.ref);
                }
            }
            add(detail::traffic_control_references(tc, name));
            for (const detail::FirewallHold& hold : firewall) {
                if (hold.module == name) {
                    mine.references.push_back(hold.reference);
                }
            }
        }
        int attributed = 0;
        for (const Reference& ref : mine.references) {
            attributed += ref.count;
        }
        const int refcount = mine.refcount.value_or(0);
        mine.unattributed = std::max(0, refcount - attributed);
        mine.changed_while_read = mine.refcount.has_value() && attributed > refcount;
        report.modules.push_back(std::move(mine));
    }
    return report;
}

}  // namespace modload
