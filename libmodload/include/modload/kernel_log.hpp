// The kernel log (/dev/kmsg): what the kernel said about a module it refused.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <modload/export.hpp>
#include <modload/result.hpp>
#include <modload/system.hpp>
#include <modload/unique_fd.hpp>

namespace modload {

/// A reader of /dev/kmsg that sees only records logged after it was opened. The system must
/// outlive it.
class MODLOAD_API KernelLog {
  public:
    /// Opens the log non-blocking and moves to its end (SEEK_END skips every earlier record).
    static Result<KernelLog> open_at_end(System& system);

    /// The messages logged since opening or since the last call, without the "prio,seq,time;"
    /// prefix and the continuation lines. Records the ring buffer overwrote are skipped.
    Result<std::vector<std::string>> read_new();

  private:
    KernelLog(System& system, UniqueFd fd) : system_(&system), fd_(std::move(fd)) {}
    System* system_;
    UniqueFd fd_;
};

/// The messages about module `name`: the kernel prefixes them "name: " (for example
/// "lab_consumer: Unknown symbol lab_provider_value (err -2)"), or "module name: ".
MODLOAD_API std::vector<std::string> messages_about(std::span<const std::string> messages,
                                                    std::string_view name);

}  // namespace modload
