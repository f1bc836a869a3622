// Open files that hold module references, as the sources of references.cpp find them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <modload/references.hpp>
#include <modload/result.hpp>
#include <modload/system.hpp>

#include <string_view>

namespace modload::detail {

/// One descriptor whose open file holds a reference on `owner`.
struct OpenFileRecord {
    /// Identifies the open file (struct file): descriptors with the same id share one reference.
    /// 0 when unknown (the /proc scan), then every descriptor counts on its own.
    std::uint64_t file_id = 0;
    int pid = 0;          ///< the process (thread group) id
    std::string command;  ///< the task's comm
    int fd = -1;
    std::string owner;  ///< the module's name, as the kernel spells it
    HoldVia via = HoldVia::file_operations;
};

/// Every process's open files whose file operations, socket operations, socket protocol or block
/// device's disk belong to a module, read by a BPF task-file iterator over the running kernel
/// (CO-RE against /sys/kernel/btf/vmlinux). Errors: ENOTSUP when the library was built without
/// BPF; otherwise the errno of the step that failed, with a detail that says which ("no BTF at
/// /sys/kernel/btf/vmlinux", "loading the iterator").
Result<std::vector<OpenFileRecord>> scan_open_files_bpf(System& system);

}  // namespace modload::detail

namespace modload::detail {

/// The aliases in modules.alias that tell what a module provides: "fs-vfat", "char-major-10-*",
/// "block-major-1-*", "net-pf-15", "tcp-ulp-tls". Patterns are fnmatch(3) globs, as depmod writes
/// them.
class ProvidedAliases {
  public:
    /// From <root>/lib/modules/<release>/modules.alias; a missing file knows no aliases, nor does
    /// one that cannot be read (noted in `unread`).
    static ProvidedAliases read(System& system, const std::string& release,
                                std::vector<UnreadSource>* unread = nullptr);
    static ProvidedAliases parse(std::string_view text);

    /// The module an alias pattern matches `value` for ("block-major-7-0" -> "loop"); empty when
    /// none does.
    std::string module_for(std::string_view value) const;
    /// The filesystem types a module registers ("fs-TYPE").
    std::vector<std::string> filesystems_of(std::string_view module) const;
    /// Whether `module` has an alias that starts with `prefix` ("tcp-ulp-").
    bool provides_any(std::string_view module, std::string_view prefix) const;

  private:
    std::vector<std::pair<std::string, std::string>> aliases_;  // pattern, module
};

/// Adds to `unread` (when there is one) that `path` could not be read, and why (`code`), unless
/// `code` says it is not there: ENOENT (no /proc/crypto on this kernel, a descriptor closed since
/// it was listed) or ESRCH (a process that exited). What is not there holds no references; what
/// could not be read may, and the caller says so.
/// A process's own file (/proc/PID/fd, a descriptor, /proc/PID/comm) is noted with its `pid`.
void note_unread(std::vector<UnreadSource>* unread, const std::filesystem::path& path, int code,
                 std::optional<int> pid = std::nullopt);

/// A small file (as given) read whole (System::read_text_given); empty when it is not there or
/// cannot be read, the latter noted in `unread`.
std::string read_or_note(System& system, const std::filesystem::path& path,
                         std::vector<UnreadSource>* unread, std::optional<int> pid = std::nullopt);

/// The module behind a character or block device, through sysfs and modules.alias.
struct DeviceOwner {
    std::string module;
    /// Found by an alias or the device's name, not by sysfs's driver link or the loop driver's
    /// own attributes.
    bool approximate = true;
};
DeviceOwner device_owner(System& system, bool block, unsigned major, unsigned minor,
                         const ProvidedAliases& aliases,
                         std::vector<UnreadSource>* unread = nullptr);

/// The fallback of scan_open_files_bpf: /proc/PID/fd of every process, each character or block
/// device matched to its module by device_owner(), each socket by its family and protocol
/// (on the running system only, through pidfd_getfd) and modules.alias. Keeps only the files
/// whose owner is in `wanted`. Approximate by nature. On the running system, descriptors of one
/// open file share an id (kcmp); under another root every id is 0. Fails only when /proc cannot be
/// listed; a process's folder, descriptor or name that cannot be read is noted in `unread`.
Result<std::vector<OpenFileRecord>> scan_open_files_proc(
    System& system, const ProvidedAliases& aliases, const std::vector<std::string>& wanted,
    std::vector<UnreadSource>* unread = nullptr);

/// The descriptors of every process that are one of the sockets `inodes` (as sock_diag reports
/// them: /proc/PID/fd/N links to "socket:[INODE]"), in /proc's order. A process's folder or
/// descriptor that cannot be read is noted in `unread`.
std::map<std::uint64_t, std::vector<FileUser>> socket_users(System& system,
                                                            const std::set<std::uint64_t>& inodes,
                                                            std::vector<UnreadSource>* unread);

}  // namespace modload::detail
