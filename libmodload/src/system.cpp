// The real System: the one place in the library that opens, lists, stats and reads files, and
// looks at other processes (with kernel_linux.cpp for the module calls and clock.cpp for time).
#include <modload/system.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>

// glibc's netinet/in.h before the kernel's headers that include linux/in.h.
#include <netinet/in.h>

#include <dirent.h>
#include <fcntl.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>

#include <modload/trace.hpp>

namespace modload {

namespace {

// Reads go through a stack buffer and are appended: growing the destination by a whole chunk
// before each read zero-fills pages that are never used, and on small /proc and /sys files that
// page-touching was most of lsmod's run time (bench/lsmod_scale).
constexpr std::size_t kReadChunk = std::size_t{64} << 10;

template <class Buffer>
Result<void> read_into(System& system, int fd, Buffer& out, std::size_t max_size,
                       bool retry_interrupted) {
    char chunk[kReadChunk];
    for (;;) {
        auto n = system.read(fd, std::span<char>(chunk, sizeof chunk));
        if (!n) {
            // An interrupted read has read nothing (the kernel returns the bytes it had read
            // instead): the retry starts where it stood.
            if (n.error().code == EINTR && retry_interrupted) {
                continue;
            }
            return make_error(n.error().code);
        }
        if (*n == 0) {
            return {};
        }
        if (out.size() + *n > max_size) {
            return make_error(EFBIG, "larger than " + std::to_string(max_size >> 20) + " MiB");
        }
        const auto* begin = reinterpret_cast<const typename Buffer::value_type*>(chunk);
        out.insert(out.end(), begin, begin + *n);
    }
}

FileType type_of_mode(mode_t mode) {
    switch (mode & S_IFMT) {
        case S_IFREG:
            return FileType::regular;
        case S_IFDIR:
            return FileType::directory;
        case S_IFLNK:
            return FileType::symlink;
        case S_IFCHR:
            return FileType::character_device;
        case S_IFBLK:
            return FileType::block_device;
        case S_IFIFO:
            return FileType::fifo;
        case S_IFSOCK:
            return FileType::socket;
        default:
            return FileType::unknown;
    }
}

FileType type_of_entry(unsigned char d_type) {
    switch (d_type) {
        case DT_REG:
            return FileType::regular;
        case DT_DIR:
            return FileType::directory;
        case DT_LNK:
            return FileType::symlink;
        case DT_CHR:
            return FileType::character_device;
        case DT_BLK:
            return FileType::block_device;
        case DT_FIFO:
            return FileType::fifo;
        case DT_SOCK:
            return FileType::socket;
        default:
            return FileType::unknown;
    }
}

FileStatus status_of(const struct stat& st) {
    FileStatus s;
    s.type = type_of_mode(st.st_mode);
    s.mode = st.st_mode & 07777;
    s.uid = st.st_uid;
    s.gid = st.st_gid;
    s.size = static_cast<std::uint64_t>(st.st_size);
    s.device = st.st_dev;
    s.inode = st.st_ino;
    s.rdev = st.st_rdev;
    s.rdev_major = major(st.st_rdev);
    s.rdev_minor = minor(st.st_rdev);
    s.modified =
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec);
    return s;
}

Result<FileStatus> stat_result(int r, const struct stat& st) {
    if (r != 0) {
        return make_error(errno);
    }
    return status_of(st);
}

struct DirCloser {
    void operator()(DIR* d) const { (void)::closedir(d); }
};

// readdir says the end and a failure alike with null; errno tells them apart.
Result<void> list_stream(DIR* stream, const EntryVisitor& each) {
    const std::unique_ptr<DIR, DirCloser> folder(stream);
    for (;;) {
        errno = 0;
        const dirent* entry = ::readdir(folder.get());
        if (entry == nullptr) {
            if (errno != 0) {
                return make_error(errno, std::string(kListingBroken));
            }
            return {};
        }
        if (!each(FolderEntry{entry->d_name, type_of_entry(entry->d_type)})) {
            return {};
        }
    }
}

class SystemTracefs final : public TracefsInterface {
  public:
    Result<void> mount(const std::filesystem::path& target) override {
        if (::mount("tracefs", target.c_str(), "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                    nullptr) != 0) {
            return make_error(errno, "mounting tracefs at " + target.string());
        }
        return {};
    }
    // Not MNT_DETACH: another process that took the mount for its own while it was there and
    // still uses it makes this fail with EBUSY, and keeps its tracefs.
    Result<void> unmount(const std::filesystem::path& target) override {
        if (::umount2(target.c_str(), 0) != 0) {
            return make_error(errno, "unmounting " + target.string());
        }
        return {};
    }
    Result<void> make_instance(const std::filesystem::path& folder) override {
        if (::mkdir(folder.c_str(), 0700) != 0) {
            return make_error(errno, "creating " + folder.string());
        }
        return {};
    }
    Result<void> remove_instance(const std::filesystem::path& folder) override {
        if (::rmdir(folder.c_str()) != 0) {
            return make_error(errno, "removing " + folder.string());
        }
        return {};
    }
};

// Sends one request and reads the answer's datagrams until it ends (NLMSG_DONE, NLMSG_ERROR, or
// a message that is not part of a multipart answer). Messages of other sequence numbers (none on
// a fresh socket) are kept too: the caller reads what it asked for.
// IPT_SO_GET_INFO then IPT_SO_GET_ENTRIES (the IPv6 ones for AF_INET6: the same numbers and
// layouts up to the entries): the info, then the entries header and its entries.
Result<std::vector<std::byte>> xtables_exchange(int family, const std::string& table) {
    if ((family != AF_INET && family != AF_INET6) || table.size() >= XT_TABLE_MAXNAMELEN) {
        return make_error(EINVAL);
    }
    UniqueFd fd(::socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
    if (!fd.valid()) {
        return make_error(errno);
    }
    const int level = family == AF_INET ? SOL_IP : SOL_IPV6;
    ipt_getinfo info{};
    std::memcpy(info.name, table.data(), table.size());
    socklen_t size = sizeof info;
    if (::getsockopt(fd.get(), level, IPT_SO_GET_INFO, &info, &size) != 0) {
        return make_error(errno);
    }
    // The table may grow between the two calls: the kernel then answers EAGAIN; ask again.
    for (int attempt = 0; attempt < 3; ++attempt) {
        std::vector<std::byte> entries(sizeof(ipt_get_entries) + info.size);
        ipt_get_entries head{};
        std::memcpy(head.name, table.data(), table.size());
        head.size = info.size;
        std::memcpy(entries.data(), &head, sizeof head);
        size = static_cast<socklen_t>(entries.size());
        if (::getsockopt(fd.get(), level, IPT_SO_GET_ENTRIES, entries.data(), &size) == 0) {
            std::vector<std::byte> answer(sizeof info);
            std::memcpy(answer.data(), &info, sizeof info);
            answer.insert(answer.end(), entries.begin(), entries.end());
            return answer;
        }
        if (errno != EAGAIN) {
            return make_error(errno);
        }
        size = sizeof info;
        if (::getsockopt(fd.get(), level, IPT_SO_GET_INFO, &info, &size) != 0) {
            return make_error(errno);
        }
    }
    return make_error(EAGAIN);
}

Result<std::vector<std::byte>> netlink_exchange(int fd, std::span<const std::byte> request) {
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    ssize_t sent = 0;
    do {
        sent = ::sendto(fd, request.data(), request.size(), 0,
                        reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        return make_error(errno);
    }
    std::vector<std::byte> answer;
    std::vector<std::byte> buffer(std::size_t{1} << 16);
    constexpr std::size_t kLimit = std::size_t{256} << 20;
    for (;;) {
        const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return make_error(errno);
        }
        if (n == 0) {
            return answer;
        }
        const auto got = static_cast<std::size_t>(n);
        if (answer.size() + got > kLimit) {
            return make_error(EFBIG);
        }
        answer.insert(answer.end(), buffer.begin(), buffer.begin() + n);
        // Whether the datagram ends the answer: its last whole message says.
        std::size_t at = 0;
        bool ended = false;
        while (at + sizeof(nlmsghdr) <= got) {
            nlmsghdr header;
            std::memcpy(&header, buffer.data() + at, sizeof header);
            if (header.nlmsg_len < sizeof header || header.nlmsg_len > got - at) {
                return answer;  // a truncated message: the caller finds it
            }
            ended = header.nlmsg_type == NLMSG_DONE || header.nlmsg_type == NLMSG_ERROR ||
                    (header.nlmsg_flags & NLM_F_MULTI) == 0;
            if (ended) {
                break;
            }
            at += NLMSG_ALIGN(header.nlmsg_len);
        }
        if (ended) {
            return answer;
        }
    }
}

class FilesystemSystem final : public System {
  public:
    FilesystemSystem(std::filesystem::path root, bool live, Kernel& kernel, Clock& clock,
                     TracefsInterface& tracefs, std::unique_ptr<Kernel> owned = nullptr)
        : root_(std::move(root)),
          live_(live),
          owned_kernel_(std::move(owned)),
          kernel_(kernel),
          clock_(clock),
          tracefs_(tracefs) {}

    bool live() const override { return live_; }
    const std::filesystem::path& root() const override { return root_; }
    Kernel& kernel() override { return kernel_; }
    Clock& clock() override { return clock_; }
    TracefsInterface& tracefs() override { return tracefs_; }

    Result<UniqueFd> open_given(const std::string& path, int flags) override {
        UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
        if (!fd.valid()) {
            return make_error(errno);
        }
        return fd;
    }
    Result<FileStatus> stat_given(const std::string& path) override {
        struct stat st {};
        const int r = ::stat(path.c_str(), &st);
        return stat_result(r, st);
    }
    Result<FileStatus> lstat_given(const std::string& path) override {
        struct stat st {};
        const int r = ::lstat(path.c_str(), &st);
        return stat_result(r, st);
    }
    Result<std::string> read_link_given(const std::string& path) override {
        std::string target(256, '\0');
        for (;;) {
            const ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
            if (n < 0) {
                return make_error(errno);
            }
            if (static_cast<std::size_t>(n) < target.size()) {
                target.resize(static_cast<std::size_t>(n));
                return target;
            }
            target.resize(target.size() * 2);
        }
    }
    Result<std::string> canonical_given(const std::string& path) override {
        const std::unique_ptr<char, decltype(&std::free)> resolved(
            ::realpath(path.c_str(), nullptr), &std::free);
        if (resolved == nullptr) {
            return make_error(errno);
        }
        return std::string(resolved.get());
    }
    Result<void> list_given(const std::string& path, const EntryVisitor& each) override {
        DIR* stream = ::opendir(path.c_str());
        if (stream == nullptr) {
            return make_error(errno);
        }
        return list_stream(stream, each);
    }
    Result<void> list(int folder, const EntryVisitor& each) override {
        UniqueFd copy(::dup(folder));
        if (!copy.valid()) {
            return make_error(errno);
        }
        DIR* stream = ::fdopendir(copy.get());
        if (stream == nullptr) {
            return make_error(errno);
        }
        (void)copy.release();  // the DIR owns it now
        return list_stream(stream, each);
    }
    Result<FileStatus> stat_at(int folder, const std::string& name) override {
        struct stat st {};
        const int r = ::fstatat(folder, name.c_str(), &st, 0);
        return stat_result(r, st);
    }
    Result<FileStatus> fstat(int fd) override {
        struct stat st {};
        const int r = ::fstat(fd, &st);
        return stat_result(r, st);
    }
    Result<std::size_t> read(int fd, std::span<char> buffer) override {
        const ssize_t n = ::read(fd, buffer.data(), buffer.size());
        if (n < 0) {
            return make_error(errno);
        }
        return static_cast<std::size_t>(n);
    }
    Result<std::size_t> read_at(int fd, std::span<char> buffer, std::uint64_t offset) override {
        const ssize_t n = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(offset));
        if (n < 0) {
            return make_error(errno);
        }
        return static_cast<std::size_t>(n);
    }
    Result<std::size_t> write(int fd, std::string_view bytes) override {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0) {
            return make_error(errno);
        }
        return static_cast<std::size_t>(n);
    }
    Result<void> seek_to_end(int fd) override {
        if (::lseek(fd, 0, SEEK_END) < 0) {
            return make_error(errno);
        }
        return {};
    }
    Result<bool> wait_readable(int fd, std::chrono::milliseconds timeout) override {
        pollfd p{fd, POLLIN, 0};
        const int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
        if (n < 0) {
            return make_error(errno);
        }
        return n > 0;
    }

    unsigned effective_uid() override { return ::geteuid(); }

    Result<UniqueFd> pidfd_open(int pid) override {
#ifdef SYS_pidfd_open
        UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
        if (!fd.valid()) {
            return make_error(errno);
        }
        return fd;
#else
        (void)pid;
        return make_error(ENOSYS);
#endif
    }
    Result<UniqueFd> pidfd_getfd(int pidfd, int fd) override {
#ifdef SYS_pidfd_getfd
        UniqueFd copy(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, fd, 0)));
        if (!copy.valid()) {
            return make_error(errno);
        }
        return copy;
#else
        (void)pidfd, (void)fd;
        return make_error(ENOSYS);
#endif
    }
    Result<bool> same_open_file(int pid1, int fd1, int pid2, int fd2) override {
#ifdef SYS_kcmp
        constexpr int kcmp_file = 0;  // KCMP_FILE
        const long r = ::syscall(SYS_kcmp, pid1, pid2, kcmp_file, fd1, fd2);
        if (r < 0) {
            return make_error(errno);
        }
        return r == 0;
#else
        (void)pid1, (void)fd1, (void)pid2, (void)fd2;
        return make_error(ENOSYS);
#endif
    }
    Result<std::vector<std::byte>> netlink_request(int protocol,
                                                   std::span<const std::byte> request) override {
        if (!live_) {
            return recorded_answer(protocol, request);
        }
        UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol));
        if (!fd.valid()) {
            return make_error(errno);
        }
        // The kernel answers at once; a bound keeps a lost answer from hanging the tool.
        const timeval limit{5, 0};
        (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        return netlink_exchange(fd.get(), request);
    }

    Result<std::vector<std::byte>> xtables_entries(int family, const std::string& table) override {
        if (!live_) {
            return recorded_file("/.xtables/" + std::to_string(family) + "-" + table);
        }
        return xtables_exchange(family, table);
    }

    Result<SocketKind> socket_kind(int fd) override {
        SocketKind kind;
        socklen_t size = sizeof kind.family;
        if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &kind.family, &size) != 0) {
            return make_error(errno);
        }
        size = sizeof kind.protocol;
        (void)::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &kind.protocol, &size);
        size = sizeof kind.type;
        (void)::getsockopt(fd, SOL_SOCKET, SO_TYPE, &kind.type, &size);
        return kind;
    }

  private:
    Result<std::vector<std::byte>> recorded_answer(int protocol,
                                                   std::span<const std::byte> request) {
        if (request.size() <= sizeof(nlmsghdr)) {
            return make_error(EINVAL);
        }
        nlmsghdr header;
        std::memcpy(&header, request.data(), sizeof header);
        const auto family = static_cast<unsigned>(request[sizeof header]);
        return recorded_file("/.netlink/" + std::to_string(protocol) + "-" +
                             std::to_string(header.nlmsg_type) + "-" + std::to_string(family));
    }

    // A kernel answer recorded under the root (a fixture), whole.
    Result<std::vector<std::byte>> recorded_file(const std::string& absolute) {
        auto fd = open_given(path(absolute).string(), O_RDONLY | O_CLOEXEC);
        if (!fd) {
            return fd.error();
        }
        std::vector<std::byte> answer;
        if (auto r = read_all(fd->get(), answer, std::size_t{64} << 20, true); !r) {
            return r.error();
        }
        return answer;
    }

    std::filesystem::path root_;
    bool live_;
    std::unique_ptr<Kernel> owned_kernel_;
    Kernel& kernel_;
    Clock& clock_;
    TracefsInterface& tracefs_;
};

std::string path_text(std::string_view path) {
    return std::string(path);
}

}  // namespace

TracefsInterface& system_tracefs() {
    static SystemTracefs tracefs;
    return tracefs;
}

std::filesystem::path System::path(std::string_view absolute) const {
    while (!absolute.empty() && absolute.front() == '/') {
        absolute.remove_prefix(1);
    }
    return root() / absolute;
}

Result<UniqueFd> System::open(std::string_view absolute, int flags) {
    return open_given(path(absolute).string(), flags);
}

Result<FileStatus> System::stat(std::string_view absolute) {
    return stat_given(path(absolute).string());
}

Result<FileStatus> System::lstat(std::string_view absolute) {
    return lstat_given(path(absolute).string());
}

Result<std::string> System::read_link(std::string_view absolute) {
    return read_link_given(path(absolute).string());
}

Result<void> System::list(std::string_view absolute, const EntryVisitor& each) {
    return list_given(path(absolute).string(), each);
}

Result<std::string> System::read_text(std::string_view absolute, std::size_t max_size) {
    return read_text_given(path(absolute).string(), max_size);
}

Result<std::string> System::read_text_given(const std::string& path, std::size_t max_size) {
    auto fd = open_given(path, O_RDONLY);
    if (!fd) {
        return make_error(fd.error().code, path_text(path));
    }
    std::string text;
    if (auto r = read_into(*this, fd->get(), text, max_size, true); !r) {
        return make_error(r.error().code, path_text(path));
    }
    return text;
}

Result<void> System::read_all(int fd, std::vector<std::byte>& out, std::size_t max_size,
                              bool retry_interrupted) {
    return read_into(*this, fd, out, max_size, retry_interrupted);
}

Result<void> System::read_all(int fd, std::string& out, std::size_t max_size,
                              bool retry_interrupted) {
    return read_into(*this, fd, out, max_size, retry_interrupted);
}

std::unique_ptr<System> make_live_system() {
    std::unique_ptr<Kernel> kernel = make_system_kernel();
    Kernel& k = *kernel;
    return std::make_unique<FilesystemSystem>("/", true, k, system_clock(), system_tracefs(),
                                              std::move(kernel));
}

std::unique_ptr<System> make_rooted_system(std::filesystem::path root, Kernel& kernel, Clock& clock,
                                           TracefsInterface& tracefs) {
    return std::make_unique<FilesystemSystem>(std::move(root), false, kernel, clock, tracefs);
}

std::unique_ptr<System> make_rooted_system(std::filesystem::path root, Kernel& kernel,
                                           Clock& clock) {
    return make_rooted_system(std::move(root), kernel, clock, system_tracefs());
}

System& live_system() {
    static const std::unique_ptr<System> system = make_live_system();
    return *system;
}

}  // namespace modload
