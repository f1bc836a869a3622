// Carrying out removals: waiting for a module to become free, and running a plan step by step.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <modload/kernel.hpp>
#include <modload/removal_plan.hpp>
#include <modload/result.hpp>

namespace modload {

/// Time, behind an interface so that tests neither sleep nor depend on the machine's speed.
class Clock {
public:
    virtual ~Clock() = default;
    virtual std::chrono::steady_clock::time_point now() = 0;
    /// Sleeps up to `duration`; may return early (a signal), and callers re-check.
    virtual void sleep_for(std::chrono::milliseconds duration) = 0;
};

/// The steady clock and nanosleep(2), which a signal interrupts.
Clock& system_clock();

/// How to retry a removal the kernel refuses because the module is in use.
struct WaitPolicy {
    /// How long to keep trying; nullopt waits without limit.
    std::optional<std::chrono::milliseconds> timeout;
    std::chrono::milliseconds first_delay{4};
    std::chrono::milliseconds max_delay{1000};
};

/// Called after each backoff sleep, before the next attempt, with the module and how long it has
/// waited so far. Returns false to give up (a signal arrived, say).
using WaitObserver = std::function<bool(std::string_view name, std::chrono::milliseconds waited)>;

/// Removes `name`, retrying with exponential backoff while the kernel answers EWOULDBLOCK (the
/// module has holders or references; since Linux 3.13 the kernel never waits itself). Any other
/// error ends at once. Errors: the kernel's errno, ETIMEDOUT when the policy's time ran out, and
/// ECANCELED when the observer gave up.
Result<void> remove_module_waiting(Kernel& kernel, std::string_view name, bool force,
                                   const WaitPolicy& policy, Clock& clock,
                                   const WaitObserver& observer);

/// What running a plan did.
struct PlanOutcome {
    std::vector<std::string> removed;
    /// Modules that were gone before their turn (someone else removed them): not an error.
    std::vector<std::string> already_gone;
    /// The step that failed and everything after it, when one failed.
    std::vector<std::string> left;
    std::optional<Error> error;

    bool ok() const { return !error.has_value(); }
};

/// Runs `plan` in order and stops at the first failure. With `wait`, each step waits for its
/// module as remove_module_waiting does; without, each step is one attempt.
PlanOutcome run_plan(Kernel& kernel, const RemovalPlan& plan, bool force,
                     const std::optional<WaitPolicy>& wait, Clock& clock,
                     const WaitObserver& observer);

}  // namespace modload
