// Carrying out a removal while the kernel changes underneath: every step is judged again on a
// fresh read of /proc/modules just before its delete_module, and every answer is read against
// the lifecycle (lifecycle.hpp).
#include <modload/removal.hpp>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <set>
#include <string_view>

#include <modload/modprobe_config.hpp>
#include <modload/names.hpp>
#include <modload/softdeps.hpp>

namespace modload {

namespace {

using std::chrono::milliseconds;

bool kernel_says_in_use(const Error& error) {
    return error.code == EWOULDBLOCK || error.code == EAGAIN;
}

// The errno that stands for an obstacle when the library, not the kernel, refuses.
int errno_of(Obstacle obstacle) {
    switch (obstacle) {
        case Obstacle::builtin:
        case Obstacle::not_loaded:
            return ENOENT;
        case Obstacle::has_holders:
        case Obstacle::in_use:
            return EWOULDBLOCK;
        case Obstacle::loading:
        case Obstacle::unloading:
            return EBUSY;
        case Obstacle::unload_unsupported:
            return ENOSYS;
        case Obstacle::none:
            break;
    }
    return 0;
}

std::string after(milliseconds waited) {
    return "after " + std::to_string(waited.count()) + " ms";
}

enum class StepEnd { removed, gone, kept, failed };

class Remover {
  public:
    Remover(Kernel& kernel, System& system, const Snapshot& first, const RemovalOptions& options,
            Clock& clock, RemovalObserver& observer, RemovalOutcome& outcome)
        : kernel_(kernel),
          system_(system),
          first_(first),
          options_(options),
          clock_(clock),
          observer_(observer),
          outcome_(outcome) {}

    StepEnd run(const PlanStep& step);

  private:
    // One step's waiting: when it began and the next backoff delay.
    struct Wait {
        std::chrono::steady_clock::time_point start;
        milliseconds delay;
    };

    // Sleeps before the next look at `module`. False, with the failure recorded, once `limit`
    // has passed.
    bool pause(Wait& wait, const LoadedModule& module, Obstacle obstacle,
               std::optional<milliseconds> limit);
    StepEnd fail(RemovalFailureKind kind, const std::string& name, std::optional<Obstacle> obstacle,
                 Error error, const std::optional<LoadedModule>& module);
    StepEnd keep(const LoadedModule& module);
    // A wait for the references `now` may still have from modules this call removed, when
    // nothing else can explain them; nullopt when they are not all accounted for.
    std::optional<ReleaseWait> late_release(const PlanStep& step, const LoadedModule& now) const;
    bool removed_here(const std::string& name) const;

    Kernel& kernel_;
    System& system_;
    const Snapshot& first_;
    const RemovalOptions& options_;
    Clock& clock_;
    RemovalObserver& observer_;
    RemovalOutcome& outcome_;
};

StepEnd Remover::fail(RemovalFailureKind kind, const std::string& name,
                      std::optional<Obstacle> obstacle, Error error,
                      const std::optional<LoadedModule>& module) {
    outcome_.failures.push_back(
        RemovalFailure{kind, RemovalStage::removing, name, obstacle, std::move(error), module});
    return StepEnd::failed;
}

StepEnd Remover::keep(const LoadedModule& module) {
    outcome_.kept.push_back(module);
    return StepEnd::kept;
}

bool Remover::removed_here(const std::string& name) const {
    return std::find(outcome_.removed.begin(), outcome_.removed.end(), name) !=
           outcome_.removed.end();
}

// The kernel drops some references a moment after the delete_module of the module that had them
// returns: an internal mount's last mntput (configfs's, pinned by simple_pin_fs for the
// subsystems target_core_mod or netconsole registered) is cleaned up by delayed_mntput_work one
// jiffy later (fs/namespace.c, mntput_no_expire()), and only then does deactivate_super() put the
// filesystem's module. Such a dependency is in use at its turn, by nothing that lasts. It is
// waited for when its references now are no more than those its first read showed besides its
// holders that this call removed: one reference more is a new user, and it is kept at once. (A
// module's exit gives back at once what it took from its soft dependencies: libcrc32c's crc32c
// transform is freed in its exit, crypto_free_shash() putting crc32c_intel.)
std::optional<ReleaseWait> Remover::late_release(const PlanStep& step,
                                                 const LoadedModule& now) const {
    const LoadedModule* first = first_.find(step.name);
    if (first == nullptr || !first->refcount || !now.refcount || !now.holders.empty() ||
        now.state != ModuleState::live) {
        return std::nullopt;
    }
    ReleaseWait wait{step.name, {}, milliseconds{0}, false};
    int holders_removed = 0;
    for (const std::string& holder : first->holders) {
        if (removed_here(holder)) {
            wait.after.push_back(holder);
            ++holders_removed;
        }
    }
    if (wait.after.empty() || *now.refcount > *first->refcount - holders_removed) {
        return std::nullopt;
    }
    return wait;
}

bool Remover::pause(Wait& wait, const LoadedModule& module, Obstacle obstacle,
                    std::optional<milliseconds> limit) {
    const auto waited = std::chrono::duration_cast<milliseconds>(clock_.now() - wait.start);
    if (limit && waited >= *limit) {
        // A going module that outlasts the limit is still going: the kernel's EBUSY. Anything
        // else simply did not become free in time.
        Error error = obstacle == Obstacle::unloading
                          ? make_error(EBUSY, "still being removed " + after(waited))
                          : make_error(ETIMEDOUT, after(waited));
        fail(RemovalFailureKind::timed_out, module.name, obstacle, std::move(error), module);
        return false;
    }
    observer_.waiting(module, obstacle, waited);
    milliseconds sleep = wait.delay;
    if (limit) {
        sleep = std::min(sleep, *limit - waited);  // one last look at the deadline
    }
    clock_.sleep_for(sleep);
    const WaitPolicy backoff = options_.wait.value_or(WaitPolicy{});
    wait.delay = std::min(wait.delay * 2, backoff.max_delay);
    return true;
}

StepEnd Remover::run(const PlanStep& step) {
    const std::string& name = step.name;
    const bool dependency =
        step.reason == PlanReason::unused_dependency || step.reason == PlanReason::softdep;
    // Only targets and their holders are waited for: a dependency that gained a user is kept.
    const bool waits = options_.wait.has_value() && !dependency;
    const std::optional<milliseconds> wait_limit =
        options_.wait ? options_.wait->timeout : std::optional<milliseconds>();
    // A going module is gone once its exit returns; without --wait, only a short while is given.
    const std::optional<milliseconds> unloading_limit =
        options_.wait ? wait_limit : std::optional<milliseconds>(options_.unloading_limit);
    Wait wait{clock_.now(), options_.wait.value_or(WaitPolicy{}).first_delay};
    std::optional<LoadedModule> seen;
    // A dependency's wait for references that go a moment after its holders, once begun.
    std::optional<ReleaseWait> release;
    Wait release_wait{};
    const auto release_ends = [&](bool released) {
        if (release) {
            release->waited =
                std::chrono::duration_cast<milliseconds>(clock_.now() - release_wait.start);
            release->released = released;
            outcome_.release_waits.push_back(std::move(*release));
            release.reset();
        }
    };

    for (;;) {
        if (!observer_.keep_going()) {
            return fail(RemovalFailureKind::interrupted, name, std::nullopt,
                        make_error(ECANCELED, "interrupted"), seen);
        }
        auto snapshot = Snapshot::read(system_);
        if (!snapshot) {
            // The list could not be read: not the kernel refusing the removal.
            outcome_.failures.push_back(RemovalFailure{RemovalFailureKind::list_unreadable,
                                                       RemovalStage::listing, name, std::nullopt,
                                                       snapshot.error(), seen});
            return StepEnd::failed;
        }
        const LoadedModule* module = snapshot->find(name);
        if (module == nullptr) {
            release_ends(true);
            outcome_.gone.push_back(name);
            return StepEnd::gone;
        }
        seen = *module;
        const Obstacle obstacle = obstacle_of(*module);
        if (obstacle == Obstacle::unloading) {
            if (!pause(wait, *module, obstacle, unloading_limit)) {
                return StepEnd::failed;
            }
            continue;
        }
        if (dependency && obstacle == Obstacle::in_use) {
            if (!release) {
                release = late_release(step, *module);
                release_wait = Wait{clock_.now(), WaitPolicy{}.first_delay};
            } else if (!late_release(step, *module)) {
                release_ends(false);  // a new reference: in use after all
                return keep(*module);
            }
            const auto waited =
                std::chrono::duration_cast<milliseconds>(clock_.now() - release_wait.start);
            if (release && waited < kReleaseWait) {
                clock_.sleep_for(std::min(release_wait.delay, kReleaseWait - waited));
                release_wait.delay = std::min(release_wait.delay * 2, milliseconds{250});
                continue;
            }
            release_ends(false);
            return keep(*module);
        }
        if (dependency && obstacle != Obstacle::none) {
            release_ends(false);
            return keep(*module);
        }
        release_ends(true);
        const bool waitable = obstacle == Obstacle::has_holders || obstacle == Obstacle::in_use ||
                              obstacle == Obstacle::loading;
        if (waitable && !options_.force) {
            if (!waits) {
                return fail(RemovalFailureKind::refused_by_check, name, obstacle,
                            make_error(errno_of(obstacle)), seen);
            }
            if (!pause(wait, *module, obstacle, wait_limit)) {
                return StepEnd::failed;
            }
            continue;
        }

        if (!observer_.keep_going()) {
            return fail(RemovalFailureKind::interrupted, name, std::nullopt,
                        make_error(ECANCELED, "interrupted"), seen);
        }
        // -f is for what the user named and their holders: a dependency that gained a user
        // between the read and this call must be refused by the kernel, not forced out.
        auto removed = remove_module(kernel_, name, options_.force && !dependency);
        if (removed) {
            outcome_.removed.push_back(name);
            return StepEnd::removed;
        }
        const Error& error = removed.error();
        if (error.code == ENOENT) {  // removed by someone else since the read
            outcome_.gone.push_back(name);
            return StepEnd::gone;
        }
        if (kernel_says_in_use(error)) {  // it gained a holder or a reference since the read
            if (dependency) {
                return keep(*module);
            }
            if (!waits) {
                // The kernel's word, not the read's: with -f, holders still refuse (kmod says
                // "Resource temporarily unavailable" there too).
                return fail(RemovalFailureKind::refused_by_kernel, name, obstacle, error, seen);
            }
            if (!pause(wait, *module, Obstacle::in_use, wait_limit)) {
                return StepEnd::failed;
            }
            continue;
        }
        if (error.code == EBUSY) {
            // EBUSY means not Live (it began loading or unloading since the read) or permanent.
            // Look again: the loop judges a module that changed state; a Live one stays refused.
            auto again = Snapshot::read(system_);
            const LoadedModule* now = again ? again->find(name) : nullptr;
            if (again && (now == nullptr || now->state == ModuleState::unloading)) {
                continue;
            }
            if (now != nullptr && now->state == ModuleState::loading) {
                if (dependency) {
                    return keep(*now);
                }
                if (!waits) {
                    return fail(RemovalFailureKind::refused_by_kernel, name, Obstacle::loading,
                                error, *now);
                }
                if (!pause(wait, *now, Obstacle::loading, wait_limit)) {
                    return StepEnd::failed;
                }
                continue;
            }
        }
        return fail(RemovalFailureKind::refused_by_kernel, name, obstacle, error, seen);
    }
}

// kmod's rmmod -f asks the kernel without looking first: a target that is not listed is still
// one delete_module, and the kernel's answer stands.
bool force_unlisted(Kernel& kernel, const Snapshot& snapshot, const std::string& name,
                    RemovalObserver& observer, RemovalOutcome& outcome) {
    if (snapshot.find(name) != nullptr) {
        return false;
    }
    outcome.plan.steps.push_back(PlanStep{name, PlanReason::target, {}});
    if (!observer.keep_going()) {
        outcome.failures.push_back(
            RemovalFailure{RemovalFailureKind::interrupted, RemovalStage::checking, name,
                           std::nullopt, make_error(ECANCELED, "interrupted"), std::nullopt});
        outcome.left.push_back(name);
        return true;
    }
    auto removed = remove_module(kernel, name, true);
    if (removed) {
        outcome.removed.push_back(name);
    } else {
        outcome.failures.push_back(RemovalFailure{RemovalFailureKind::refused_by_kernel,
                                                  RemovalStage::checking, name, std::nullopt,
                                                  removed.error(), std::nullopt});
    }
    return true;
}

// Whether the first check lets a target through: what the options will wait for or clear.
bool allowed(Obstacle obstacle, const RemovalOptions& options) {
    switch (obstacle) {
        case Obstacle::none:
        case Obstacle::unloading:  // it will be gone: the step waits for that
            return true;
        case Obstacle::has_holders:
            return options.wait.has_value() || options.plan.remove_holders;
        case Obstacle::in_use:
        case Obstacle::loading:
            return options.wait.has_value();
        case Obstacle::builtin:
        case Obstacle::not_loaded:
        case Obstacle::unload_unsupported:
            break;
    }
    return false;
}

// The first checks' failures in the order the targets were given.
void in_argument_order(std::vector<RemovalFailure>& failures,
                       std::span<const std::string> targets) {
    std::map<std::string_view, std::size_t> position;
    for (std::size_t i = 0; i < targets.size(); ++i) {
        position.emplace(targets[i], i);
    }
    std::stable_sort(failures.begin(), failures.end(),
                     [&](const RemovalFailure& a, const RemovalFailure& b) {
                         return position[a.name] < position[b.name];
                     });
}

template <class T>
void append(std::vector<T>& to, const std::vector<T>& from) {
    to.insert(to.end(), from.begin(), from.end());
}

// kmod's rmmod: each target alone, judged after the ones before it are gone (so `rmmod a b`
// removes b when only a held it); one that fails does not stop the others, but a stop from the
// observer does.
RemovalOutcome remove_each(System& system, const BuiltinModules& builtin,
                           std::span<const std::string> targets, const RemovalOptions& options,
                           RemovalObserver& observer) {
    RemovalOutcome all;
    for (std::size_t i = 0; i < targets.size(); ++i) {
        const RemovalOutcome one =
            remove_modules(system, builtin, targets.subspan(i, 1), options, observer);
        append(all.plan.steps, one.plan.steps);
        append(all.removed, one.removed);
        append(all.gone, one.gone);
        append(all.kept, one.kept);
        append(all.failures, one.failures);
        append(all.release_waits, one.release_waits);
        if (i == 0) {
            append(all.skipped, one.skipped);  // every target's read says the same
        }
        if (!observer.keep_going()) {
            append(all.left, one.left);
            all.left.insert(all.left.end(), targets.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                            targets.end());
            break;
        }
    }
    return all;
}

}  // namespace

RemovalOutcome remove_modules(System& system, const BuiltinModules& builtin,
                              std::span<const std::string> targets, const RemovalOptions& options,
                              RemovalObserver& observer) {
    Kernel& kernel = system.kernel();
    Clock& clock = system.clock();
    const bool planned = options.plan.remove_holders || options.plan.remove_dependencies;
    if (!planned && targets.size() > 1) {
        // Holders first: a target that only other targets hold can go once they are gone (and
        // waiting for a target that a later one holds would never end). Targets that do not hold
        // each other keep the given order.
        auto snapshot = Snapshot::read(system);
        const std::vector<std::string> ordered =
            snapshot ? order_by_holders(*snapshot, targets)
                     : std::vector<std::string>(targets.begin(), targets.end());
        return remove_each(system, builtin, ordered, options, observer);
    }

    RemovalOutcome outcome;
    for (const std::string& name : targets) {
        if (!is_valid_module_name(name)) {
            outcome.failures.push_back(RemovalFailure{
                RemovalFailureKind::refused_by_check, RemovalStage::checking, name, std::nullopt,
                make_error(EINVAL, "not a module name"), std::nullopt});
        }
    }
    if (!outcome.ok()) {
        return outcome;
    }
    // kmod's modprobe -r removes soft dependencies as a load brought them in: from the
    // configuration a load reads. One that cannot be read leaves unknown what the plan would
    // remove, so nothing is.
    std::optional<ModprobeConfig> config;
    std::unique_ptr<SoftdepLookup> configured;
    const NoSoftdeps none;
    const SoftdepLookup* softdeps = options.softdeps != nullptr ? options.softdeps : &none;
    if (options.plan.remove_dependencies && options.softdeps == nullptr) {
        auto read = read_modprobe_config(system, options.kernel_release);
        if (!read) {
            outcome.failures.push_back(RemovalFailure{RemovalFailureKind::configuration_unreadable,
                                                      RemovalStage::configuration,
                                                      {},
                                                      std::nullopt,
                                                      read.error(),
                                                      std::nullopt});
            return outcome;
        }
        config = std::move(*read);
        outcome.refused_configuration = config->refused;
        configured = configured_softdeps(*config, system, options.kernel_release, builtin);
        softdeps = configured.get();
    }
    auto snapshot = Snapshot::read(system);
    if (!snapshot) {
        outcome.failures.push_back(RemovalFailure{RemovalFailureKind::list_unreadable,
                                                  RemovalStage::listing,
                                                  {},
                                                  std::nullopt,
                                                  snapshot.error(),
                                                  std::nullopt});
        return outcome;
    }

    outcome.skipped.assign(snapshot->skipped().begin(), snapshot->skipped().end());
    std::vector<std::string> accepted;
    std::vector<std::string> held;
    std::vector<std::string> in_use;
    for (const std::string& name : targets) {
        if (options.force) {
            if (options.dry_run || !force_unlisted(kernel, *snapshot, name, observer, outcome)) {
                accepted.push_back(name);
            }
            continue;
        }
        const Obstacle obstacle = check_removal(*snapshot, builtin, system, name);
        if (obstacle == Obstacle::has_holders && !allowed(obstacle, options)) {
            held.push_back(name);  // allowed once the plan shows it removes all its holders first
        } else if (obstacle == Obstacle::in_use && !allowed(obstacle, options) &&
                   options.plan.remove_dependencies) {
            in_use.push_back(name);  // allowed when a module the plan removes names it as softdep
        } else if (!allowed(obstacle, options)) {
            const LoadedModule* module = snapshot->find(name);
            outcome.failures.push_back(RemovalFailure{
                RemovalFailureKind::refused_by_check, RemovalStage::checking, name, obstacle,
                make_error(errno_of(obstacle)),
                module != nullptr ? std::optional<LoadedModule>(*module) : std::nullopt});
            continue;
        }
        accepted.push_back(name);
    }
    auto plan = plan_removal(*snapshot, accepted, options.plan, *softdeps);
    // A target with holders goes as part of a set: when the plan removes every one of them first
    // (other targets, holders it removes anyway, unused dependencies between them). One held from
    // outside fails here in kmod's words.
    // So does a target in use, but for one that is a soft dependency of a module the plan removes
    // (libcrc32c's crc32c transform holds a reference on crc32c_intel, both named): its step,
    // after that module's, judges it.
    if (plan && (!held.empty() || !in_use.empty())) {
        std::set<std::string_view> in_plan;
        std::set<std::string_view> softdeps_in_plan;
        for (const PlanStep& step : plan->steps) {
            in_plan.insert(step.name);
            if (!step.of.empty()) {
                softdeps_in_plan.insert(step.name);
            }
        }
        for (const std::string& name : in_use) {
            if (softdeps_in_plan.count(name) == 0) {
                outcome.failures.push_back(RemovalFailure{
                    RemovalFailureKind::refused_by_check, RemovalStage::checking, name,
                    Obstacle::in_use, make_error(EWOULDBLOCK), *snapshot->find(name)});
            }
        }
        for (const std::string& name : held) {
            const LoadedModule* module = snapshot->find(name);
            const bool cleared =
                std::all_of(module->holders.begin(), module->holders.end(),
                            [&](const std::string& h) { return in_plan.count(h) != 0; });
            if (!cleared) {
                outcome.failures.push_back(
                    RemovalFailure{RemovalFailureKind::refused_by_check, RemovalStage::checking,
                                   name, Obstacle::has_holders, make_error(EWOULDBLOCK), *module});
            }
        }
        in_argument_order(outcome.failures, targets);
    }
    // A plan is all or nothing: a target that cannot go stops it before it starts.
    if (!outcome.ok()) {
        return outcome;
    }
    if (!plan) {
        outcome.failures.push_back(RemovalFailure{RemovalFailureKind::no_plan,
                                                  RemovalStage::planning,
                                                  {},
                                                  std::nullopt,
                                                  plan.error(),
                                                  std::nullopt});
        return outcome;
    }
    // The forced unlisted targets were asked for already: only the plan's own steps are run (run
    // again, one that loaded since would be reported as gone, though this call removed it).
    const std::size_t forced = outcome.plan.steps.size();
    append(outcome.plan.steps, plan->steps);  // after any forced unlisted targets
    if (options.dry_run) {
        return outcome;
    }

    Remover remover(kernel, system, *snapshot, options, clock, observer, outcome);
    const std::vector<PlanStep>& steps = outcome.plan.steps;
    for (std::size_t i = forced; i < steps.size(); ++i) {
        if (remover.run(steps[i]) == StepEnd::failed) {
            for (std::size_t j = i; j < steps.size(); ++j) {
                outcome.left.push_back(steps[j].name);
            }
            break;
        }
    }
    return outcome;
}

}  // namespace modload
