// Failing the Nth file call of the code under test, as SQLite's I/O-error tests do, through the
// library's one seam to the system: a System that forwards to another (a FixtureSystem), counts
// the calls on files and on the descriptors it opened, and fails the chosen one with the chosen
// errno without forwarding it. Nothing the library reads can escape it (every file goes through
// a System), and it needs no symbol interposition, so it runs in every build, the static one too.
//
// The calls are named after the system calls the real implementation (libmodload/src/system.cpp)
// makes for them, each a point where the real one can fail: "open", "stat", "lstat", "readlink",
// "realpath", "opendir" then one "readdir" per entry and one at the end, for a listing through a
// descriptor "dup" and "fdopendir" before them, "fstatat", "fstat", "read", "pread", "lseek".
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include <modload/system.hpp>

namespace modload::testing {

/// One counted call: "open", "read", "fstat", "stat", "lseek", ... and the path it concerned
/// (for a descriptor, the path it was opened from).
struct IoCall {
    std::string call;
    std::string path;
};

class FaultingSystem final : public System {
  public:
    /// Forwards to `inner`; call number `fail_at` (from 1; 0: none) fails with `errno_value`.
    explicit FaultingSystem(System& inner, std::size_t fail_at = 0, int errno_value = 0);

    /// Counts the calls on `fd` too (a pipe, say), as if it had been opened through this system.
    void watch(int fd, const std::string& name);

    /// The calls counted so far, in order.
    const std::vector<IoCall>& calls() const { return calls_; }
    /// Whether call number `fail_at` was made, and so failed.
    bool injected() const { return injected_; }
    /// The call that failed.
    const IoCall& failed() const { return failed_; }

    bool live() const override { return inner_.live(); }
    const std::filesystem::path& root() const override { return inner_.root(); }
    Kernel& kernel() override { return inner_.kernel(); }
    Clock& clock() override { return inner_.clock(); }
    TracefsInterface& tracefs() override { return inner_.tracefs(); }

    Result<UniqueFd> open_given(const std::string& path, int flags) override;
    Result<FileStatus> stat_given(const std::string& path) override;
    Result<FileStatus> lstat_given(const std::string& path) override;
    Result<std::string> read_link_given(const std::string& path) override;
    Result<std::string> canonical_given(const std::string& path) override;
    Result<void> list_given(const std::string& path, const EntryVisitor& each) override;
    using System::list;
    Result<void> list(int folder, const EntryVisitor& each) override;
    Result<FileStatus> stat_at(int folder, const std::string& name) override;
    Result<FileStatus> fstat(int fd) override;
    Result<std::size_t> read(int fd, std::span<char> buffer) override;
    Result<std::size_t> read_at(int fd, std::span<char> buffer, std::uint64_t offset) override;
    Result<std::size_t> write(int fd, std::string_view bytes) override;
    Result<void> seek_to_end(int fd) override;
    Result<bool> wait_readable(int fd, std::chrono::milliseconds timeout) override;
    unsigned effective_uid() override { return inner_.effective_uid(); }
    Result<UniqueFd> pidfd_open(int pid) override { return inner_.pidfd_open(pid); }
    Result<UniqueFd> pidfd_getfd(int pidfd, int fd) override {
        return inner_.pidfd_getfd(pidfd, fd);
    }
    Result<bool> same_open_file(int pid1, int fd1, int pid2, int fd2) override {
        return inner_.same_open_file(pid1, fd1, pid2, fd2);
    }
    Result<SocketKind> socket_kind(int fd) override { return inner_.socket_kind(fd); }
    /// Counted as "netlink", its path "netlink:", the start of every netlink source's name in
    /// messages ("netlink:tc qdiscs", "netlink:sock_diag").
    Result<std::vector<std::byte>> netlink_request(int protocol,
                                                   std::span<const std::byte> request) override;
    /// Counted as "xtables", its path "xtables:FAMILY-TABLE".
    Result<std::vector<std::byte>> xtables_entries(int family, const std::string& table) override;

  private:
    // Counts the call; true when it is the one to fail.
    bool fails(const char* call, const std::string& path);
    // The path `fd` was opened from; empty when it was not opened here (not counted).
    std::string path_of(int fd) const;
    // Counts one "readdir" per entry and one at the end around `list`, which lists `path`.
    template <class List>
    Result<void> listing(const std::string& path, const EntryVisitor& each, List list);

    System& inner_;
    std::size_t fail_at_;
    int errno_value_;
    std::vector<IoCall> calls_;
    bool injected_ = false;
    IoCall failed_;
    std::map<int, std::string> fds_;  // descriptors opened here, by the path they came from
};

}  // namespace modload::testing
