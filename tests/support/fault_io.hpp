// Failing the Nth file system call of the code under test, as SQLite's I/O-error tests do, without
// a hook in the library: fault_io.cpp defines open, read, stat and friends in the test executable,
// which the dynamic linker binds before libc's, also for the calls made inside libmodload.so.
// Disarmed they forward at once; armed (an IoFaults in scope) they count the calls made on paths
// under one folder, or on descriptors opened from it, and fail the chosen one.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace modload::testing {

/// One counted call: "open", "read", "fstat", "stat", "lseek", ... and the path it concerned
/// (for a descriptor, the path it was opened from).
struct IoCall {
    std::string call;
    std::string path;
};

/// Arms the wrappers while in scope (one at a time; tests run on one thread).
class IoFaults {
  public:
    /// Counts the calls on paths under `root`; call number `fail_at` (from 1; 0: none) fails with
    /// `errno_value`, without reaching libc.
    explicit IoFaults(const std::filesystem::path& root, std::size_t fail_at = 0,
                      int errno_value = 0);
    ~IoFaults();
    IoFaults(const IoFaults&) = delete;
    IoFaults& operator=(const IoFaults&) = delete;

    /// Counts the calls on `fd` too (a pipe, say), as if it had been opened under the root.
    void watch(int fd, const std::string& name);

    /// The calls counted so far, in order.
    const std::vector<IoCall>& calls() const;
    /// Whether call number `fail_at` was made, and so failed.
    bool injected() const;
    /// The call that failed.
    const IoCall& failed() const;

    /// While one is in scope, nothing is counted: what the model kernel reads is not ours.
    class Pause {
      public:
        Pause();
        ~Pause();
        Pause(const Pause&) = delete;
        Pause& operator=(const Pause&) = delete;

      private:
        bool was_paused_;
    };
};

}  // namespace modload::testing
