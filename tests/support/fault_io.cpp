// The libc wrappers behind IoFaults. The test executable defines these symbols, so the dynamic
// linker binds every call to them first, those made inside libmodload.so and libstdc++.so
// included (the executable comes first in the lookup order); each forwards to the next definition
// (dlsym(RTLD_NEXT)): libc's, or a sanitizer's interceptor, which then calls libc's.
//
// Reached: open, open64, openat, openat64, read, pread, pread64, fstat, fstat64, stat, stat64,
// lstat, lstat64, fstatat, fstatat64, lseek, lseek64, dup, opendir, fdopendir, readdir,
// readdir64, readlink, readlinkat, realpath (close and closedir only forget a descriptor). A
// folder's entries are one readdir call each. Not reached: what glibc calls internally without the
// PLT (fopen's open, and so std::fstream's; opendir's own open and realpath's own readlink, which
// is why those two are wrapped whole), and raw syscall(2). The library uses neither for the files
// it reads; faults_test.cpp checks that the library's own calls arrive here.

// The build defines _FILE_OFFSET_BITS=64, under which <fcntl.h> renames open to open64 and so on:
// this file defines both names, each under its own.
#undef _FILE_OFFSET_BITS

#include "fault_io.hpp"

#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace modload::testing {

namespace {

struct State {
    std::string root;  // with a trailing '/'
    std::size_t fail_at = 0;
    int errno_value = 0;
    std::vector<IoCall> calls;
    bool injected = false;
    IoCall failed;
    std::map<int, std::string> fds;       // descriptors opened under the root
    std::map<DIR*, std::string> folders;  // folder streams opened under the root
};

State* g_state = nullptr;  // non-null while armed
bool g_paused = false;
bool g_busy = false;  // inside a wrapper's own bookkeeping

template <class F>
F next_definition(const char* name) {
    void* f = ::dlsym(RTLD_NEXT, name);
    if (f == nullptr) {
        std::abort();  // no libc below us: nothing sensible to do
    }
    return reinterpret_cast<F>(f);
}

bool counting() {
    return g_state != nullptr && !g_paused && !g_busy;
}

// The path a call concerns, when it is under the root; empty otherwise.
std::string watched_path(int dirfd, const char* path) {
    if (!counting() || path == nullptr) {
        return {};
    }
    const State& s = *g_state;
    if (path[0] == '/') {
        const std::string_view p(path);
        const std::string_view folder(s.root.data(), s.root.size() - 1);
        if (p.substr(0, s.root.size()) == s.root || p == folder) {
            return std::string(p);
        }
        return {};
    }
    if (dirfd != AT_FDCWD) {
        const auto it = s.fds.find(dirfd);
        if (it != s.fds.end()) {
            return it->second + "/" + path;
        }
    }
    return {};
}

std::string watched_fd(int fd) {
    if (!counting()) {
        return {};
    }
    const auto it = g_state->fds.find(fd);
    return it == g_state->fds.end() ? std::string() : it->second;
}

// Counts the call; true (errno set) when it is the one to fail.
bool fails(const char* call, const std::string& path) {
    if (path.empty()) {
        return false;
    }
    State& s = *g_state;
    g_busy = true;
    s.calls.push_back(IoCall{call, path});
    g_busy = false;
    if (s.calls.size() != s.fail_at) {
        return false;
    }
    s.injected = true;
    s.failed = s.calls.back();
    errno = s.errno_value;
    return true;
}

void remember(int fd, const std::string& path) {
    if (fd >= 0 && !path.empty() && counting()) {
        g_busy = true;
        g_state->fds[fd] = path;
        g_busy = false;
    }
}

std::string watched_folder(DIR* folder) {
    if (!counting()) {
        return {};
    }
    const auto it = g_state->folders.find(folder);
    return it == g_state->folders.end() ? std::string() : it->second;
}

void remember_folder(DIR* folder, const std::string& path) {
    if (folder != nullptr && !path.empty() && counting()) {
        g_busy = true;
        g_state->folders[folder] = path;
        g_busy = false;
    }
}

mode_t mode_argument(int flags, va_list args) {
    const bool creates = (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
    return creates ? static_cast<mode_t>(va_arg(args, int)) : 0;
}

using Open = int (*)(const char*, int, ...);
using OpenAt = int (*)(int, const char*, int, ...);

int open_at(OpenAt next, int dirfd, const char* path, int flags, mode_t mode) {
    const std::string watched = watched_path(dirfd, path);
    if (fails("open", watched)) {
        return -1;
    }
    const int fd = next(dirfd, path, flags, mode);
    remember(fd, watched);
    return fd;
}

int open_path(Open next, const char* path, int flags, mode_t mode) {
    const std::string watched = watched_path(AT_FDCWD, path);
    if (fails("open", watched)) {
        return -1;
    }
    const int fd = next(path, flags, mode);
    remember(fd, watched);
    return fd;
}

}  // namespace

IoFaults::IoFaults(const std::filesystem::path& root, std::size_t fail_at, int errno_value) {
    if (g_state != nullptr) {
        throw std::logic_error("IoFaults: already armed");
    }
    auto* state = new State;
    state->root = root.lexically_normal().string();
    if (state->root.empty() || state->root.back() != '/') {
        state->root += '/';
    }
    state->fail_at = fail_at;
    state->errno_value = errno_value;
    g_paused = false;
    g_state = state;
}

IoFaults::~IoFaults() {
    State* state = g_state;
    g_state = nullptr;
    delete state;
}

void IoFaults::watch(int fd, const std::string& name) {
    g_state->fds[fd] = name;
}

const std::vector<IoCall>& IoFaults::calls() const {
    return g_state->calls;
}

bool IoFaults::injected() const {
    return g_state->injected;
}

const IoCall& IoFaults::failed() const {
    return g_state->failed;
}

IoFaults::Pause::Pause() : was_paused_(g_paused) {
    g_paused = true;
}

IoFaults::Pause::~Pause() {
    g_paused = was_paused_;
}

}  // namespace modload::testing

using modload::testing::fails;
using modload::testing::next_definition;
using modload::testing::remember;
using modload::testing::remember_folder;
using modload::testing::watched_fd;
using modload::testing::watched_folder;
using modload::testing::watched_path;

extern "C" {

int open(const char* path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    const mode_t mode = modload::testing::mode_argument(flags, args);
    va_end(args);
    static const auto next = next_definition<modload::testing::Open>("open");
    return modload::testing::open_path(next, path, flags, mode);
}

int open64(const char* path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    const mode_t mode = modload::testing::mode_argument(flags, args);
    va_end(args);
    static const auto next = next_definition<modload::testing::Open>("open64");
    return modload::testing::open_path(next, path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    const mode_t mode = modload::testing::mode_argument(flags, args);
    va_end(args);
    static const auto next = next_definition<modload::testing::OpenAt>("openat");
    return modload::testing::open_at(next, dirfd, path, flags, mode);
}

int openat64(int dirfd, const char* path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    const mode_t mode = modload::testing::mode_argument(flags, args);
    va_end(args);
    static const auto next = next_definition<modload::testing::OpenAt>("openat64");
    return modload::testing::open_at(next, dirfd, path, flags, mode);
}

int close(int fd) {
    static const auto next = next_definition<int (*)(int)>("close");
    if (modload::testing::g_state != nullptr && !modload::testing::g_busy) {
        modload::testing::g_busy = true;
        modload::testing::g_state->fds.erase(fd);
        modload::testing::g_busy = false;
    }
    return next(fd);
}

ssize_t read(int fd, void* buffer, size_t size) {
    static const auto next = next_definition<ssize_t (*)(int, void*, size_t)>("read");
    if (fails("read", watched_fd(fd))) {
        return -1;
    }
    return next(fd, buffer, size);
}

ssize_t pread(int fd, void* buffer, size_t size, off_t offset) {
    static const auto next = next_definition<ssize_t (*)(int, void*, size_t, off_t)>("pread");
    if (fails("pread", watched_fd(fd))) {
        return -1;
    }
    return next(fd, buffer, size, offset);
}

ssize_t pread64(int fd, void* buffer, size_t size, off64_t offset) {
    static const auto next = next_definition<ssize_t (*)(int, void*, size_t, off64_t)>("pread64");
    if (fails("pread", watched_fd(fd))) {
        return -1;
    }
    return next(fd, buffer, size, offset);
}

off_t lseek(int fd, off_t offset, int whence) noexcept {
    static const auto next = next_definition<off_t (*)(int, off_t, int)>("lseek");
    if (fails("lseek", watched_fd(fd))) {
        return -1;
    }
    return next(fd, offset, whence);
}

off64_t lseek64(int fd, off64_t offset, int whence) noexcept {
    static const auto next = next_definition<off64_t (*)(int, off64_t, int)>("lseek64");
    if (fails("lseek", watched_fd(fd))) {
        return -1;
    }
    return next(fd, offset, whence);
}

int fstat(int fd, struct stat* st) noexcept {
    static const auto next = next_definition<int (*)(int, struct stat*)>("fstat");
    if (fails("fstat", watched_fd(fd))) {
        return -1;
    }
    return next(fd, st);
}

int fstat64(int fd, struct stat64* st) noexcept {
    static const auto next = next_definition<int (*)(int, struct stat64*)>("fstat64");
    if (fails("fstat", watched_fd(fd))) {
        return -1;
    }
    return next(fd, st);
}

int stat(const char* path, struct stat* st) noexcept {
    static const auto next = next_definition<int (*)(const char*, struct stat*)>("stat");
    if (fails("stat", watched_path(AT_FDCWD, path))) {
        return -1;
    }
    return next(path, st);
}

int stat64(const char* path, struct stat64* st) noexcept {
    static const auto next = next_definition<int (*)(const char*, struct stat64*)>("stat64");
    if (fails("stat", watched_path(AT_FDCWD, path))) {
        return -1;
    }
    return next(path, st);
}

int lstat(const char* path, struct stat* st) noexcept {
    static const auto next = next_definition<int (*)(const char*, struct stat*)>("lstat");
    if (fails("lstat", watched_path(AT_FDCWD, path))) {
        return -1;
    }
    return next(path, st);
}

int lstat64(const char* path, struct stat64* st) noexcept {
    static const auto next = next_definition<int (*)(const char*, struct stat64*)>("lstat64");
    if (fails("lstat", watched_path(AT_FDCWD, path))) {
        return -1;
    }
    return next(path, st);
}

int fstatat(int dirfd, const char* path, struct stat* st, int flags) noexcept {
    static const auto next =
        next_definition<int (*)(int, const char*, struct stat*, int)>("fstatat");
    if (fails("fstatat", watched_path(dirfd, path))) {
        return -1;
    }
    return next(dirfd, path, st, flags);
}

int fstatat64(int dirfd, const char* path, struct stat64* st, int flags) noexcept {
    static const auto next =
        next_definition<int (*)(int, const char*, struct stat64*, int)>("fstatat64");
    if (fails("fstatat", watched_path(dirfd, path))) {
        return -1;
    }
    return next(dirfd, path, st, flags);
}

int dup(int fd) noexcept {
    static const auto next = next_definition<int (*)(int)>("dup");
    const std::string watched = watched_fd(fd);
    if (fails("dup", watched)) {
        return -1;
    }
    const int copy = next(fd);
    remember(copy, watched);
    return copy;
}

DIR* opendir(const char* path) {
    static const auto next = next_definition<DIR* (*)(const char*)>("opendir");
    const std::string watched = watched_path(AT_FDCWD, path);
    if (fails("opendir", watched)) {
        return nullptr;
    }
    DIR* folder = next(path);
    remember_folder(folder, watched);
    return folder;
}

DIR* fdopendir(int fd) {
    static const auto next = next_definition<DIR* (*)(int)>("fdopendir");
    const std::string watched = watched_fd(fd);
    if (fails("fdopendir", watched)) {
        return nullptr;
    }
    DIR* folder = next(fd);
    remember_folder(folder, watched);
    return folder;
}

dirent* readdir(DIR* folder) {
    static const auto next = next_definition<dirent* (*)(DIR*)>("readdir");
    if (fails("readdir", watched_folder(folder))) {
        return nullptr;
    }
    return next(folder);
}

dirent64* readdir64(DIR* folder) {
    static const auto next = next_definition<dirent64* (*)(DIR*)>("readdir64");
    if (fails("readdir", watched_folder(folder))) {
        return nullptr;
    }
    return next(folder);
}

int closedir(DIR* folder) {
    static const auto next = next_definition<int (*)(DIR*)>("closedir");
    if (modload::testing::g_state != nullptr && !modload::testing::g_busy) {
        modload::testing::g_busy = true;
        auto& state = *modload::testing::g_state;
        state.folders.erase(folder);
        state.fds.erase(::dirfd(folder));  // the descriptor it owned closes with it
        modload::testing::g_busy = false;
    }
    return next(folder);
}

ssize_t readlink(const char* path, char* buffer, size_t size) noexcept {
    static const auto next = next_definition<ssize_t (*)(const char*, char*, size_t)>("readlink");
    if (fails("readlink", watched_path(AT_FDCWD, path))) {
        return -1;
    }
    return next(path, buffer, size);
}

ssize_t readlinkat(int dirfd, const char* path, char* buffer, size_t size) noexcept {
    static const auto next =
        next_definition<ssize_t (*)(int, const char*, char*, size_t)>("readlinkat");
    if (fails("readlink", watched_path(dirfd, path))) {
        return -1;
    }
    return next(dirfd, path, buffer, size);
}

char* realpath(const char* path, char* resolved) noexcept {
    static const auto next = next_definition<char* (*)(const char*, char*)>("realpath");
    if (fails("realpath", watched_path(AT_FDCWD, path))) {
        return nullptr;
    }
    return next(path, resolved);
}

}  // extern "C"
