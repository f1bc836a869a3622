#include "faulting_system.hpp"

#include <utility>

namespace modload::testing {

FaultingSystem::FaultingSystem(System& inner, std::size_t fail_at, int errno_value)
    : inner_(inner), fail_at_(fail_at), errno_value_(errno_value) {}

void FaultingSystem::watch(int fd, const std::string& name) {
    fds_[fd] = name;
}

bool FaultingSystem::fails(const char* call, const std::string& path) {
    if (path.empty()) {
        return false;  // a descriptor this system did not open: not the library's file
    }
    calls_.push_back(IoCall{call, path});
    if (calls_.size() != fail_at_) {
        return false;
    }
    injected_ = true;
    failed_ = calls_.back();
    return true;
}

std::string FaultingSystem::path_of(int fd) const {
    const auto it = fds_.find(fd);
    return it == fds_.end() ? std::string() : it->second;
}

Result<UniqueFd> FaultingSystem::open_given(const std::string& path, int flags) {
    if (fails("open", path)) {
        return make_error(errno_value_);
    }
    auto fd = inner_.open_given(path, flags);
    if (fd) {
        // A number closed since (UniqueFd closes without us) and given again is taken over.
        fds_[fd->get()] = path;
    }
    return fd;
}

Result<FileStatus> FaultingSystem::stat_given(const std::string& path) {
    if (fails("stat", path)) {
        return make_error(errno_value_);
    }
    return inner_.stat_given(path);
}

Result<FileStatus> FaultingSystem::lstat_given(const std::string& path) {
    if (fails("lstat", path)) {
        return make_error(errno_value_);
    }
    return inner_.lstat_given(path);
}

Result<std::string> FaultingSystem::read_link_given(const std::string& path) {
    if (fails("readlink", path)) {
        return make_error(errno_value_);
    }
    return inner_.read_link_given(path);
}

Result<std::string> FaultingSystem::canonical_given(const std::string& path) {
    if (fails("realpath", path)) {
        return make_error(errno_value_);
    }
    return inner_.canonical_given(path);
}

template <class List>
Result<void> FaultingSystem::listing(const std::string& path, const EntryVisitor& each, List list) {
    bool failed = false;
    bool stopped = false;
    auto listed = list([&](const FolderEntry& entry) {
        if (fails("readdir", path)) {
            failed = true;
            return false;
        }
        if (!each(entry)) {
            stopped = true;
            return false;
        }
        return true;
    });
    if (failed) {
        return make_error(errno_value_, std::string(kListingBroken));
    }
    if (!listed || stopped) {
        return listed;
    }
    // The readdir that finds the end.
    if (fails("readdir", path)) {
        return make_error(errno_value_, std::string(kListingBroken));
    }
    return {};
}

Result<void> FaultingSystem::list_given(const std::string& path, const EntryVisitor& each) {
    if (fails("opendir", path)) {
        return make_error(errno_value_);
    }
    return listing(path, each,
                   [&](const EntryVisitor& counted) { return inner_.list_given(path, counted); });
}

Result<void> FaultingSystem::list(int folder, const EntryVisitor& each) {
    const std::string path = path_of(folder);
    // The real listing copies the descriptor (dup) and opens a stream on the copy (fdopendir).
    if (fails("dup", path) || fails("fdopendir", path)) {
        return make_error(errno_value_);
    }
    return listing(path, each,
                   [&](const EntryVisitor& counted) { return inner_.list(folder, counted); });
}

Result<FileStatus> FaultingSystem::stat_at(int folder, const std::string& name) {
    const std::string folder_path = path_of(folder);
    if (fails("fstatat", folder_path.empty() ? folder_path : folder_path + "/" + name)) {
        return make_error(errno_value_);
    }
    return inner_.stat_at(folder, name);
}

Result<FileStatus> FaultingSystem::fstat(int fd) {
    if (fails("fstat", path_of(fd))) {
        return make_error(errno_value_);
    }
    return inner_.fstat(fd);
}

Result<std::vector<std::byte>> FaultingSystem::netlink_request(int protocol,
                                                               std::span<const std::byte> request) {
    (void)protocol;
    if (fails("netlink", "netlink:")) {
        return make_error(errno_value_);
    }
    return inner_.netlink_request(protocol, request);
}

Result<std::vector<std::byte>> FaultingSystem::xtables_entries(int family,
                                                               const std::string& table) {
    if (fails("xtables", "xtables:" + std::to_string(family) + "-" + table)) {
        return make_error(errno_value_);
    }
    return inner_.xtables_entries(family, table);
}

Result<std::size_t> FaultingSystem::read(int fd, std::span<char> buffer) {
    if (fails("read", path_of(fd))) {
        return make_error(errno_value_);
    }
    return inner_.read(fd, buffer);
}

Result<std::size_t> FaultingSystem::read_at(int fd, std::span<char> buffer, std::uint64_t offset) {
    if (fails("pread", path_of(fd))) {
        return make_error(errno_value_);
    }
    return inner_.read_at(fd, buffer, offset);
}

Result<std::size_t> FaultingSystem::write(int fd, std::string_view bytes) {
    if (fails("write", path_of(fd))) {
        return make_error(errno_value_);
    }
    return inner_.write(fd, bytes);
}

Result<void> FaultingSystem::seek_to_end(int fd) {
    if (fails("lseek", path_of(fd))) {
        return make_error(errno_value_);
    }
    return inner_.seek_to_end(fd);
}

Result<bool> FaultingSystem::wait_readable(int fd, std::chrono::milliseconds timeout) {
    if (fails("poll", path_of(fd))) {
        return make_error(errno_value_);
    }
    return inner_.wait_readable(fd, timeout);
}

}  // namespace modload::testing
