#include <modload/unload.hpp>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include <modload/removal.hpp>

namespace modload {

namespace {

class SystemClock final : public Clock {
public:
    std::chrono::steady_clock::time_point now() override { return std::chrono::steady_clock::now(); }

    void sleep_for(std::chrono::milliseconds duration) override {
        // One nanosleep, not a loop over EINTR: a signal must cut the sleep short so that the
        // caller can notice it.
        const auto count = duration.count();
        timespec ts{static_cast<time_t>(count / 1000), static_cast<long>((count % 1000) * 1000000)};
        (void)::nanosleep(&ts, nullptr);
    }
};

bool in_use(const Error& error) { return error.code == EWOULDBLOCK || error.code == EAGAIN; }

}  // namespace

Clock& system_clock() {
    static SystemClock clock;
    return clock;
}

Result<void> remove_module_waiting(Kernel& kernel, std::string_view name, bool force,
                                   const WaitPolicy& policy, Clock& clock,
                                   const WaitObserver& observer) {
    using std::chrono::milliseconds;
    const auto start = clock.now();
    milliseconds delay = policy.first_delay;
    for (;;) {
        auto removed = remove_module(kernel, name, force);
        if (removed || !in_use(removed.error())) {
            return removed;
        }
        auto waited = std::chrono::duration_cast<milliseconds>(clock.now() - start);
        if (policy.timeout && waited >= *policy.timeout) {
            return make_error(ETIMEDOUT, "after " + std::to_string(waited.count()) + " ms");
        }
        milliseconds sleep = delay;
        if (policy.timeout) {
            sleep = std::min(sleep, *policy.timeout - waited);  // one last try at the deadline
        }
        clock.sleep_for(sleep);
        delay = std::min(delay * 2, policy.max_delay);
        // Asked right after the sleep, before the next try: a signal that cut the sleep short
        // must not be followed by one more removal attempt.
        waited = std::chrono::duration_cast<milliseconds>(clock.now() - start);
        if (observer && !observer(name, waited)) {
            return make_error(ECANCELED, "after " + std::to_string(waited.count()) + " ms");
        }
    }
}

PlanOutcome run_plan(Kernel& kernel, const RemovalPlan& plan, bool force,
                     const std::optional<WaitPolicy>& wait, Clock& clock,
                     const WaitObserver& observer) {
    PlanOutcome outcome;
    for (std::size_t i = 0; i < plan.steps.size(); ++i) {
        const std::string& name = plan.steps[i].name;
        auto removed = wait ? remove_module_waiting(kernel, name, force, *wait, clock, observer)
                            : remove_module(kernel, name, force);
        if (removed) {
            outcome.removed.push_back(name);
            continue;
        }
        if (removed.error().code == ENOENT) {
            outcome.already_gone.push_back(name);
            continue;
        }
        outcome.error = removed.error();
        for (std::size_t j = i; j < plan.steps.size(); ++j) {
            outcome.left.push_back(plan.steps[j].name);
        }
        break;
    }
    return outcome;
}

}  // namespace modload
