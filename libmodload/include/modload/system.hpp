// The system the library works on, behind one interface, as ninja's DiskInterface stands between
// ninja and the disk: the files of /proc, /sys, /lib/modules and /dev under a root folder, the
// files a user names, the kernel, the clock, tracefs and other processes. One real
// implementation (system.cpp) makes the system calls; tests give a fixture root, or wrap one to
// fail its Nth call (tests/support/faulting_system.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <modload/clock.hpp>
#include <modload/export.hpp>
#include <modload/kernel.hpp>
#include <modload/result.hpp>
#include <modload/unique_fd.hpp>

namespace modload {

class TracefsInterface;

/// What a file is (st_mode's type bits, or a folder entry's d_type).
enum class FileType {
    unknown,
    regular,
    directory,
    symlink,
    character_device,
    block_device,
    fifo,
    socket
};

/// What callers need of stat(2).
struct FileStatus {
    FileType type = FileType::unknown;
    unsigned mode = 0;  ///< the permission bits (07777)
    unsigned uid = 0;
    unsigned gid = 0;
    std::uint64_t size = 0;
    std::uint64_t device = 0;  ///< st_dev: the filesystem it is on
    std::uint64_t inode = 0;
    std::uint64_t rdev = 0;  ///< st_rdev: a device file's number
    unsigned rdev_major = 0;
    unsigned rdev_minor = 0;
    /// st_mtim: when the file's data was last written (modules.dep.bin against modules.dep).
    std::chrono::nanoseconds modified{0};
};

/// One entry of a folder, as readdir(3) gives it ("." and ".." included).
struct FolderEntry {
    std::string name;
    FileType type = FileType::unknown;
};

/// The detail of a listing's error that came after the folder was opened (a failed readdir(3)):
/// some entries may have been given.
inline constexpr std::string_view kListingBroken = "listing";

/// Called for each entry of a folder, in the order listed; false stops the listing.
using EntryVisitor = std::function<bool(const FolderEntry&)>;

/// A socket's family, protocol and type (SO_DOMAIN, SO_PROTOCOL, SO_TYPE).
struct SocketKind {
    int family = 0;
    int protocol = 0;
    int type = 0;
};

/// The system. Files are addressed by their absolute path on the system ("/proc/modules"),
/// resolved under the root; the `_given` forms take a path as given (a file the user named on the
/// command line, relative to the working folder, or a path `path()` resolved already). Errors
/// carry the errno and no detail: the caller says where.
class MODLOAD_API System {
  public:
    virtual ~System() = default;

    /// Whether this is the running system at "/", whose processes and kernel are the ones the
    /// files describe (BPF, pidfd and kcmp look at them).
    virtual bool live() const = 0;
    /// The folder that stands for "/".
    virtual const std::filesystem::path& root() const = 0;
    /// `absolute` ("/proc/modules") resolved under the root.
    std::filesystem::path path(std::string_view absolute) const;

    virtual Kernel& kernel() = 0;
    virtual Clock& clock() = 0;
    virtual TracefsInterface& tracefs() = 0;

    // Files, by a path as given.
    virtual Result<UniqueFd> open_given(const std::string& path, int flags) = 0;
    virtual Result<FileStatus> stat_given(const std::string& path) = 0;
    virtual Result<FileStatus> lstat_given(const std::string& path) = 0;
    virtual Result<std::string> read_link_given(const std::string& path) = 0;
    /// realpath(3): the path with every link and "..", resolved.
    virtual Result<std::string> canonical_given(const std::string& path) = 0;
    /// Lists a folder; an error after it was opened stops the listing, with kListingBroken.
    virtual Result<void> list_given(const std::string& path, const EntryVisitor& each) = 0;

    // Descriptors the library opened through this system.
    /// Lists the folder `folder` is open on (through a copy of it: `folder` stays usable).
    virtual Result<void> list(int folder, const EntryVisitor& each) = 0;
    /// fstatat(2) of `name` in `folder`, following a link.
    virtual Result<FileStatus> stat_at(int folder, const std::string& name) = 0;
    virtual Result<FileStatus> fstat(int fd) = 0;
    /// read(2): 0 at the end of the file. EINTR is the caller's to retry or not.
    virtual Result<std::size_t> read(int fd, std::span<char> buffer) = 0;
    /// pread(2): reads at `offset`, leaving the descriptor's position where it was.
    virtual Result<std::size_t> read_at(int fd, std::span<char> buffer, std::uint64_t offset) = 0;
    virtual Result<std::size_t> write(int fd, std::string_view bytes) = 0;
    /// lseek(fd, 0, SEEK_END).
    virtual Result<void> seek_to_end(int fd) = 0;
    /// poll(2) for input, up to `timeout`: false when nothing came; EINTR when a signal came.
    virtual Result<bool> wait_readable(int fd, std::chrono::milliseconds timeout) = 0;

    /// geteuid(2): whom files must belong to, to be trusted.
    virtual unsigned effective_uid() = 0;

    // Other processes (on the live system only).
    virtual Result<UniqueFd> pidfd_open(int pid) = 0;
    /// A copy of descriptor `fd` of the process `pidfd` is open on.
    virtual Result<UniqueFd> pidfd_getfd(int pidfd, int fd) = 0;
    /// kcmp(KCMP_FILE): whether two processes' descriptors are one open file.
    virtual Result<bool> same_open_file(int pid1, int fd1, int pid2, int fd2) = 0;
    virtual Result<SocketKind> socket_kind(int fd) = 0;

    // The kernel's netlink interfaces (nf_tables, rtnetlink, sock_diag).
    /// Sends `request` (one netlink message, nlmsg_seq and nlmsg_pid as the caller set them) on a
    /// fresh socket of netlink `protocol` (NETLINK_NETFILTER, NETLINK_ROUTE, NETLINK_SOCK_DIAG)
    /// and returns the answer's messages as the kernel wrote them, one after another: through
    /// NLMSG_DONE for a dump, through the first NLMSG_ERROR, or the first message otherwise.
    /// Errors are those of socket, send and recv (EPROTONOSUPPORT: no such interface); an
    /// NLMSG_ERROR is in the answer, for the caller to read (netlink_messages()). A rooted system
    /// answers with the file /.netlink/PROTOCOL-TYPE-FAMILY under its root (the request's
    /// nlmsg_type and the first byte after its header, in decimal), ENOENT when there is none.
    virtual Result<std::vector<std::byte>> netlink_request(int protocol,
                                                           std::span<const std::byte> request) = 0;

    /// The rules of one legacy x_tables table (iptables, ip6tables): for `family` AF_INET or
    /// AF_INET6 and `table` ("filter", "nat"...), getsockopt IPT_SO_GET_INFO (IP6T_SO_GET_INFO) on
    /// a raw socket, then IPT_SO_GET_ENTRIES for the size it said: the struct ipt_getinfo as the
    /// kernel wrote it, then struct ipt_get_entries with its entries. Asking for a table that is
    /// not there makes the kernel load its module: ask only for those /proc/net/ip_tables_names
    /// lists. Errors are those of socket and getsockopt (ENOPROTOOPT: no x_tables; ENOENT: no
    /// such table). A rooted system answers with the file /.xtables/FAMILY-TABLE under its root
    /// (FAMILY in decimal), ENOENT when there is none.
    virtual Result<std::vector<std::byte>> xtables_entries(int family,
                                                           const std::string& table) = 0;

    // Under the root.
    Result<UniqueFd> open(std::string_view absolute, int flags);
    Result<FileStatus> stat(std::string_view absolute);
    Result<FileStatus> lstat(std::string_view absolute);
    Result<std::string> read_link(std::string_view absolute);
    Result<void> list(std::string_view absolute, const EntryVisitor& each);

    /// Reads a small text file (/proc, /sys, /lib/modules) whole: open, read to the end (a read
    /// interrupted by a signal is retried), close. An interrupted open is not retried: it waited,
    /// so the file is no ordinary one, and the signal is the caller's to act on. The error's
    /// detail is the path.
    Result<std::string> read_text(std::string_view absolute,
                                  std::size_t max_size = std::size_t{64} << 20);
    Result<std::string> read_text_given(const std::string& path,
                                        std::size_t max_size = std::size_t{64} << 20);
    /// Appends everything `fd` yields until end of file, failing with EFBIG past `max_size`
    /// bytes. EINTR is retried when `retry_interrupted`: right for a regular file, whose reads
    /// never wait for long; from a pipe or a terminal, which may wait forever, it is returned,
    /// so that a program whose handler noted SIGINT can stop.
    Result<void> read_all(int fd, std::vector<std::byte>& out, std::size_t max_size,
                          bool retry_interrupted);
    Result<void> read_all(int fd, std::string& out, std::size_t max_size, bool retry_interrupted);
};

/// The running system: "/", the running kernel (make_system_kernel), system_clock(), tracefs.
MODLOAD_API std::unique_ptr<System> make_live_system();

/// The files under `root` (a fixture folder, or another system's root), with the kernel, clock
/// and tracefs given; live() is false. The references must outlive the system.
MODLOAD_API std::unique_ptr<System> make_rooted_system(std::filesystem::path root, Kernel& kernel,
                                                       Clock& clock, TracefsInterface& tracefs);
/// The same with the real tracefs calls (system_tracefs()), for a root that has no trace.
MODLOAD_API std::unique_ptr<System> make_rooted_system(std::filesystem::path root, Kernel& kernel,
                                                       Clock& clock);

/// One live system for the process, made on first use (what the conveniences that take no System
/// use).
MODLOAD_API System& live_system();

}  // namespace modload
