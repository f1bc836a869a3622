// Who holds a module: each of its references that the system can account for.
//
// A module's refcount counts every try_module_get without its module_put; the kernel keeps no list
// of who took them. This puts the list back together from what user space can see:
//   - holder modules, from /proc/modules (exact: one reference each);
//   - open files whose file operations, socket or block device the module owns: a BPF task-file
//     iterator names them exactly; without BPF, /proc/PID/fd matched to the module through sysfs
//     and modules.alias (approximate);
//   - mounted superblocks of a filesystem type the module registers, and the NLS tables a mount
//     loaded (/proc/self/mountinfo; one reference per superblock);
//   - bound loop devices (the loop driver holds itself while a device is bound);
//   - crypto algorithms the module provides that are in use (/proc/crypto);
//   - swap areas (/proc/swaps) and dm and md devices (sysfs holders) on its block devices;
//   - TCP sockets carrying an upper-layer protocol it provides (sock_diag: tls);
// and says how many references are left over, never guessing at them.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <modload/export.hpp>
#include <modload/result.hpp>
#include <modload/snapshot.hpp>
#include <modload/system.hpp>

namespace modload {

enum class ReferenceKind {
    module,           ///< a module that uses this one's symbols
    open_file,        ///< an open file of a process
    mount,            ///< a mounted superblock
    loop_device,      ///< a bound loop device (the loop driver's own reference)
    crypto,           ///< an algorithm the module provides, in use
    nftables,         ///< an nf_tables rule, set, object, flowtable or chain (iptables-nft's too)
    iptables,         ///< a legacy x_tables (iptables, ip6tables, arptables, ebtables) rule
    traffic_control,  ///< a qdisc, class, filter or action (tc)
    socket_layer,     ///< a layer a socket carries: a TCP upper-layer protocol, an AF_ALG type
    swap,             ///< a swap area on a block device the module drives
    block_user,       ///< an md or device-mapper device built on the module's block device
};

/// "module", "file", "mount", "loop", "crypto", "nftables", "iptables", "tc", "socket layer",
/// "swap", "block user": the JSON words.
MODLOAD_API std::string_view reference_kind_name(ReferenceKind kind);

/// How an open file or a mount holds the reference.
enum class HoldVia {
    none,
    file_operations,  ///< the file's operations belong to the module (devices, misc devices)
    socket_family,    ///< the socket's protocol family operations (proto_ops)
    socket_protocol,  ///< the socket's protocol (struct proto)
    socket_family_and_protocol,  ///< both: one reference each
    block_device,                ///< the opened block device's disk belongs to the module
    filesystem,                  ///< the superblock is of a filesystem type the module registers
    nls_table,                   ///< the mount loaded one of the module's character set tables
};

/// "file operations", "socket family", ...: words for people and the JSON "via".
MODLOAD_API std::string_view hold_via_name(HoldVia via);

/// One process's descriptor of an open file.
struct MODLOAD_API FileUser {
    int pid = 0;
    std::string command;  ///< /proc/PID/comm
    int fd = -1;
};

/// One holder and the references it accounts for.
struct MODLOAD_API Reference {
    ReferenceKind kind = ReferenceKind::module;
    int count = 1;  ///< references this holder accounts for
    /// Matched by a rule of thumb (device numbers through sysfs, modules.alias), not read from the
    /// kernel's own pointers: the module probably, not certainly, is the one referenced.
    bool approximate = false;
    HoldVia via = HoldVia::none;
    /// module: the holder module. open_file: the path the file was opened as. mount: the mount
    /// point. loop_device: /dev/loopN. crypto: the algorithm's driver name. swap: the swap area's
    /// file (/dev/zram0). block_user: the dm or md device ("dm-0 (vg-lv)", "md0"). socket_layer:
    /// the socket ("TCP 127.0.0.1:40000 -> 127.0.0.1:443"). nftables, iptables: what holds it,
    /// its first word what kind ("rule table inet t chain c handle 4", "chain table ip n chain
    /// post", "set ...", "object ...", "flowtable ...", "rule filter INPUT #1").
    std::string name;
    /// open_file, socket_layer: every descriptor that shares this one open file (a forked child
    /// shares its parent's), in pid then fd order; a socket no process has open has none.
    std::vector<FileUser> users;
    std::string fstype;  ///< mount: the filesystem type
    /// mount: its source; loop_device: the backing file; crypto: the algorithm; block_user: the
    /// member device (/dev/zram0); socket_layer: the layer ("tls"); nftables, iptables: through
    /// what ("ct", "-m conntrack", "nat chain").
    std::string source;
    /// Where one command lets go of it (a firewall rule, a qdisc, a swap area): that command, as
    /// a person would type it ("nft delete rule inet filter input handle 4"); empty otherwise.
    std::string release_command;
};

/// Where the open files came from.
enum class FileScan {
    bpf,   ///< a BPF task-file iterator: exact
    proc,  ///< /proc/PID/fd and sysfs: approximate
    none,  ///< neither could run (see why_not_bpf)
};

/// "bpf", "proc", "none": the JSON "files".
MODLOAD_API std::string_view file_scan_name(FileScan scan);

/// One module's references.
struct MODLOAD_API ModuleReferences {
    std::string module;
    std::optional<int> refcount;  ///< from the snapshot; nullopt without CONFIG_MODULE_UNLOAD
    std::vector<Reference> references;
    /// refcount minus what the references account for, never below 0.
    int unattributed = 0;
    /// More references were found than the refcount holds: the system changed while it was read
    /// (a file opened between reading /proc/modules and the scan).
    bool changed_while_read = false;
};

/// What attribution found, for every module asked about.
struct MODLOAD_API ReferenceReport {
    std::vector<ModuleReferences> modules;
    FileScan files = FileScan::none;
    /// Why the BPF iterator did not run ("no BTF at /sys/kernel/btf/vmlinux", "built without
    /// libbpf", "Operation not permitted"); empty when it ran or was not asked for.
    std::string why_not_bpf;
};

struct MODLOAD_API ReferenceOptions {
    /// Try the BPF iterator first. It reads the running kernel, not the root folder: turn it off
    /// for a fixture root.
    bool use_bpf = true;
    /// Scan open files at all (the most costly source).
    bool scan_files = true;
    /// uname -r: modules.alias under <root>/lib/modules/<release> tells which filesystem types,
    /// devices and protocol families a module provides. Empty: no aliases are used.
    std::string kernel_release;
};

/// What kind of source could not be read.
enum class UnreadKind {
    process,       ///< a process's own: /proc/PID/fd, one of its descriptors, /proc/PID/comm
    process_list,  ///< /proc itself: the processes could not be listed
    file,          ///< any other: /proc/self/mountinfo, /proc/crypto, a sysfs link, modules.alias
};

/// "process", "process list", "file".
MODLOAD_API std::string_view unread_kind_name(UnreadKind kind);

/// A source that was there but could not be read. The references it would have named count as
/// not attributed; a tool says which sources they were.
struct MODLOAD_API UnreadSource {
    std::filesystem::path path;  ///< as read, under the root
    Error error;                 ///< the errno
    UnreadKind kind = UnreadKind::file;
    std::optional<int> process;  ///< the pid, for kind process
};

/// The references of each module in `names` (normalized names of loaded modules in `snapshot`;
/// one that is not loaded is listed with no references and no refcount). Reads one pass of open
/// files, mounts, loop devices and crypto for all of them. A source that cannot be read
/// attributes nothing: its references count as not attributed.
MODLOAD_API ReferenceReport attribute_references(System& system, const Snapshot& snapshot,
                                                 std::span<const std::string> names,
                                                 const ReferenceOptions& options = {});

/// The same, and `unread` receives each source that was there but could not be read, once (a
/// process's /proc/PID/fd, /proc/self/mountinfo, a sysfs link). A source that is not there
/// (ENOENT: no /proc/crypto, a process that exited, a descriptor closed since it was listed) is
/// not one: it holds no references.
MODLOAD_API ReferenceReport attribute_references(System& system, const Snapshot& snapshot,
                                                 std::span<const std::string> names,
                                                 const ReferenceOptions& options,
                                                 std::vector<UnreadSource>& unread);

/// The same, each unread source as an Error with its path as Error::detail (the form before
/// UnreadSource; kept for the programs built on it).
MODLOAD_API ReferenceReport attribute_references(System& system, const Snapshot& snapshot,
                                                 std::span<const std::string> names,
                                                 const ReferenceOptions& options,
                                                 std::vector<Error>& unread);

}  // namespace modload
