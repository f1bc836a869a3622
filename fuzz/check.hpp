// What every fuzz target shares: a check that stops the run, so that libFuzzer keeps the input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include <unistd.h>

namespace modload::fuzz {

/// A property the library promises. A broken one aborts: libFuzzer reports a deadly signal and
/// writes the input out, as it does for a sanitizer report.
inline void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz: property broken: %s\n", what);
        std::abort();
    }
}

/// A scratch system root in /dev/shm (memory, not disk: targets rewrite a file on every run),
/// one per process so parallel runs do not share it, removed at exit.
class ScratchRoot {
  public:
    ScratchRoot()
        : path_(std::filesystem::path("/dev/shm") /
                ("modload-fuzz-" + std::to_string(::getpid()))) {
        std::filesystem::create_directories(path_);
    }
    ~ScratchRoot() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    ScratchRoot(const ScratchRoot&) = delete;
    ScratchRoot& operator=(const ScratchRoot&) = delete;

    const std::filesystem::path& path() const { return path_; }

    /// Writes `data` as the file at `absolute` ("/proc/modules") under the root, replacing it.
    void write(std::string_view absolute, const unsigned char* data, std::size_t size) const {
        const std::filesystem::path file = path_ / std::filesystem::path(absolute).relative_path();
        std::filesystem::create_directories(file.parent_path());
        std::FILE* f = std::fopen(file.c_str(), "wb");
        require(f != nullptr, "the scratch root is writable");
        require(size == 0 || std::fwrite(data, 1, size, f) == size, "the scratch file is written");
        require(std::fclose(f) == 0, "the scratch file is closed");
    }

  private:
    std::filesystem::path path_;
};

}  // namespace modload::fuzz
