// Time, behind an interface so that tests neither sleep nor depend on the machine's speed.
#pragma once

#include <chrono>

#include <modload/export.hpp>

namespace modload {

class MODLOAD_API Clock {
  public:
    virtual ~Clock() = default;
    virtual std::chrono::steady_clock::time_point now() = 0;
    /// Sleeps up to `duration`; may return early (a signal), and callers re-check.
    virtual void sleep_for(std::chrono::milliseconds duration) = 0;
};

/// The steady clock and nanosleep(2), which a signal interrupts.
MODLOAD_API Clock& system_clock();

}  // namespace modload
