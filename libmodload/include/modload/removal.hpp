// Removing loaded modules: what stands in the way, the plan, and carrying it out while the kernel
// changes underneath (lifecycle.hpp gives the kernel's rules this relies on).
//
// One call, remove_modules(), does what rmmod does: it judges each target on a first read of
// /proc/modules as kmod's rmmod does, removing the targets as a set (a target held only by other
// targets goes after them), plans the order (holders first, unused dependencies last), and then
// judges every step again on a fresh read just before its delete_module, because other processes
// load, remove and use modules meanwhile.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <modload/builtin_modules.hpp>
#include <modload/clock.hpp>
#include <modload/export.hpp>
#include <modload/kernel.hpp>
#include <modload/result.hpp>
#include <modload/snapshot.hpp>
#include <modload/softdeps.hpp>
#include <modload/system.hpp>

namespace modload {

/// What stands in the way of removing a module, as /proc/modules shows it: the one vocabulary of
/// checks, plans and waits.
enum class Obstacle {
    none,                ///< nothing: delete_module should succeed
    builtin,             ///< part of the kernel image
    not_loaded,          ///< not in /proc/modules
    has_holders,         ///< other modules use it; waiting or removing the holders clears it
    in_use,              ///< references from outside modules (open files, users); waiting clears it
    loading,             ///< its init is still running; waiting clears it
    unloading,           ///< another process is removing it; it will be gone when its exit returns
    unload_unsupported,  ///< the kernel was built without CONFIG_MODULE_UNLOAD
};

/// "none", "builtin", "not loaded", "has holders", "in use", "loading", "unloading", "unload
/// unsupported": words for people and the JSON "obstacle".
MODLOAD_API std::string_view obstacle_name(Obstacle obstacle);

/// What stands in the way of removing `module`, judged from its /proc/modules entry alone.
/// Permanent modules are left to the kernel, which answers EBUSY, as kmod's rmmod does.
MODLOAD_API Obstacle obstacle_of(const LoadedModule& module);

/// What stands in the way of removing `name` (normalized), in kmod's order: builtin (when
/// modules.builtin lists it, or <root>/sys/module/NAME exists while /proc/modules does not list
/// it), not loaded, then obstacle_of().
MODLOAD_API Obstacle check_removal(const Snapshot& snapshot, const BuiltinModules& builtin,
                                   System& system, std::string_view name);

/// Asks the kernel to remove `name` once, without blocking (O_NONBLOCK); `force` adds O_TRUNC,
/// which needs CONFIG_MODULE_FORCE_UNLOAD. The kernel's errno on refusal.
MODLOAD_API Result<void> remove_module(Kernel& kernel, std::string_view name, bool force);

// ---- plans -------------------------------------------------------------------------------------

struct MODLOAD_API PlanOptions {
    /// First remove, recursively, the modules that hold each target, each after its own holders.
    bool remove_holders = false;
    /// After the targets, remove every module they depended on that is then unused (no holders
    /// left, no references from outside modules, not permanent), transitively. The plan names
    /// each dependency whose holders it all removes, whatever its references on this read (some
    /// go only with their holder: configfs's pinned mount for netconsole); its step judges them.
    /// With a SoftdepLookup, the soft dependencies of every module it removes too, as kmod's
    /// modprobe -r does: a module's post ones before it, its pre ones after it (and after its
    /// dependencies), each when loaded and not held by a module the plan keeps.
    bool remove_dependencies = false;
};

/// Why a module is in a plan.
enum class PlanReason {
    target,
    holder,
    unused_dependency,
    softdep,  ///< a soft dependency of a module the plan removes; judged as unused dependencies
};

/// "target", "holder", "unused dependency".
MODLOAD_API std::string_view plan_reason_name(PlanReason reason);

struct MODLOAD_API PlanStep {
    std::string name;
    PlanReason reason = PlanReason::target;
    /// For a soft dependency, and for any module of the plan that is also one (a target, say):
    /// the module whose softdep names it.
    std::string of;
};

/// Modules in removal order: every module comes after all the modules that hold it.
struct MODLOAD_API RemovalPlan {
    std::vector<PlanStep> steps;
};

/// `names` in an order that puts each after every one of them holding it, directly or through
/// other modules (waiting for a module that a later one holds would never end); otherwise as
/// given, each once. Linear in the names and the holder graph above them.
MODLOAD_API std::vector<std::string> order_by_holders(const Snapshot& snapshot,
                                                      std::span<const std::string> names);

/// Plans the removal of `targets` (normalized names, all loaded) from `snapshot`: a pure function.
/// Fails with ENOENT for a target that is not loaded, EBUSY when a holder that must go is
/// permanent, and ELOOP when the holder lists form a cycle (a corrupt or forged snapshot).
/// With `options.remove_dependencies`, the soft dependencies `softdeps` gives go too.
MODLOAD_API Result<RemovalPlan> plan_removal(const Snapshot& snapshot,
                                             std::span<const std::string> targets,
                                             const PlanOptions& options,
                                             const SoftdepLookup& softdeps = NoSoftdeps());

// ---- carrying it out ---------------------------------------------------------------------------

/// How long to wait for a target or holder that is in use, held, or still loading.
struct MODLOAD_API WaitPolicy {
    /// How long to wait for each module; nullopt waits without limit.
    std::optional<std::chrono::milliseconds> timeout;
    std::chrono::milliseconds first_delay{4};
    std::chrono::milliseconds max_delay{1000};
};

struct MODLOAD_API RemovalOptions {
    PlanOptions plan;
    /// Wait for targets and holders that are in use or loading; nullopt: one judgement each.
    /// Unused dependencies are never waited on: one that gained a user is kept.
    std::optional<WaitPolicy> wait;
    /// Skip the checks and add O_TRUNC (kmod's rmmod -f).
    bool force = false;
    /// Plan and judge the targets, but remove nothing.
    bool dry_run = false;
    /// Without `wait`: how long to wait for a module another process is removing (Unloading)
    /// before saying it is still being removed. With `wait`, its timeout applies.
    std::chrono::milliseconds unloading_limit{5000};
    /// The kernel release whose configuration gives the soft dependencies to remove with
    /// `plan.remove_dependencies` (uname -r).
    std::string kernel_release;
    /// The soft dependencies to remove with `plan.remove_dependencies`; nullptr: those the
    /// administrator's configuration for `kernel_release` gives (read_modprobe_config(),
    /// configured_softdeps()), read with its trust rules. Must outlive the call.
    const SoftdepLookup* softdeps = nullptr;
};

/// Told what happens as it happens; the library itself never prints.
class MODLOAD_API RemovalObserver {
  public:
    virtual ~RemovalObserver() = default;
    /// Asked before every system call and after every sleep: false stops the removal before its
    /// next system call (a signal arrived).
    virtual bool keep_going() { return true; }
    /// Before each sleep while waiting for `module` (its entry as just read), `waited` so far.
    virtual void waiting(const LoadedModule& module, Obstacle obstacle,
                         std::chrono::milliseconds waited) {
        (void)module, (void)obstacle, (void)waited;
    }
};

/// Where a removal failed.
enum class RemovalStage {
    listing,        ///< a read of /proc/modules (the first, or one before a step)
    configuration,  ///< the configuration giving soft dependencies (with remove_dependencies)
    checking,       ///< a target's first check: nothing was done
    planning,       ///< plan_removal() refused (a permanent holder, a cycle)
    removing,       ///< a step of the plan
};

/// "listing", "configuration", "checking", "planning", "removing".
MODLOAD_API std::string_view removal_stage_name(RemovalStage stage);

/// What kind of failure a removal met: what a tool words, and a script tells apart.
enum class RemovalFailureKind {
    refused_by_check,   ///< a check on /proc/modules (or the name) refused it: no call was made
    refused_by_kernel,  ///< delete_module answered an error
    timed_out,          ///< a wait's limit passed with the obstacle still there
    interrupted,        ///< the observer stopped it (a signal) before its next system call
    list_unreadable,    ///< /proc/modules could not be read
    no_plan,            ///< plan_removal() refused: a permanent holder, a cycle
    configuration_unreadable,  ///< modprobe.d or modules.softdep could not be read: what the
                               ///< plan would remove is not known, so nothing is
};

/// "refused by a check", "refused by the kernel", "timed out", "interrupted", "module list
/// unreadable", "no plan possible", "configuration unreadable".
MODLOAD_API std::string_view removal_failure_kind_name(RemovalFailureKind kind);

/// Why a module could not be removed. `kind` comes first and has no default: every failure says
/// which it is.
struct MODLOAD_API RemovalFailure {
    RemovalFailureKind kind;
    RemovalStage stage;
    std::string name;  ///< empty when no one module failed (listing, planning)
    /// What /proc/modules showed in the way when it was last judged: Obstacle::none when nothing
    /// was (the kernel refused all the same); nullopt when it was not judged (a bad name, an
    /// unreadable list, a plan refused, a stop, a forced call without a read): unknown.
    std::optional<Obstacle> obstacle;
    /// The errno: the kernel's answer, EINVAL for a bad name, ETIMEDOUT when a wait's limit
    /// passed, ECANCELED when the observer stopped it, or the error of reading /proc/modules.
    /// `kind` says which of these it is; the code is for the words.
    Error error;
    /// The module's entry as last read, when it was listed.
    std::optional<LoadedModule> module;
};

/// A dependency (or soft dependency) found still referenced at its turn, right after this call
/// removed the modules that held it: the kernel drops some references a moment after the holder's
/// delete_module returns (configfs's pinned internal mount is released by delayed_mntput_work,
/// one jiffy later), so its step waited a little for them.
struct MODLOAD_API ReleaseWait {
    std::string name;
    /// The modules this call removed whose references were waited for.
    std::vector<std::string> after;
    std::chrono::milliseconds waited{0};
    /// Whether the references went (then it was judged as unused); otherwise it was kept.
    bool released = false;
};

/// What remove_modules() did.
struct MODLOAD_API RemovalOutcome {
    /// The plan made from the first read (in a dry run, what would be removed).
    RemovalPlan plan;
    /// Removed by this call, in order.
    std::vector<std::string> removed;
    /// Gone before or during their turn without this call removing them: another process removed
    /// them, or their init failed.
    std::vector<std::string> gone;
    /// Unused dependencies that gained a holder or a reference before their turn: left loaded.
    std::vector<LoadedModule> kept;
    /// Targets that failed the first checks (nothing was done then), or the one step that failed.
    std::vector<RemovalFailure> failures;
    /// /proc/modules lines the first read could not understand and left out.
    std::vector<SkippedLine> skipped;
    /// What was not done: in a plan, the failed step and every step after it; without one, the
    /// targets that the observer's stop left untouched.
    std::vector<std::string> left;
    /// The waits for references that go a moment after their holder, in order.
    std::vector<ReleaseWait> release_waits;
    /// Configuration files not read for soft dependencies because another user could have
    /// written them.
    std::vector<ConfigRefusal> refused_configuration;

    bool ok() const { return failures.empty() && left.empty(); }
};

/// Removes `targets` (normalized names) as rmmod does, as a set: a target held only by other
/// targets (or by modules the plan removes anyway) goes after them, whatever the order given.
/// - Without holders or dependencies to remove, the targets go in order_by_holders() order (on a
///   first read), each alone, as in kmod's rmmod: judged on its own read after the ones before it
///   are gone; one that fails (held by a module that is not a target, or by a target that failed)
///   does not stop the others, but the observer's stop does (`left` then names the targets not
///   done). Targets that do not hold one another keep the given order.
/// - With them, it is one plan: each target is judged on one read of /proc/modules first; a
///   target that is not loaded, is built in, or (without `wait`) is in use or loading fails here
///   (but one in use that, with `remove_dependencies`, is a soft dependency of a module the plan
///   removes first is judged at its turn: that module may hold the reference, as libcrc32c's
///   crc32c transform holds crc32c_intel); so does (without `wait` or `remove_holders`) one with
///   a holder the plan does not remove first: another target, a holder of one, or a dependency it
///   leaves unused. Then nothing is removed at all; the failures come in the order of `targets`.
///   `force` skips these checks.
/// - The plan is made from that read; each step is then judged again on a fresh read just before
///   its delete_module:
///   - a module that is no longer listed is `gone`;
///   - an Unloading module is waited for until it is gone (success: someone else removed it);
///   - an unused dependency with a holder or reference then is `kept`, never waited on (one with
///     references on the first read is judged here: they may have been its holders');
///   - a target or holder that is held, in use or loading is waited for with `wait`, and fails
///     without it.
/// - The first failing step stops the plan; `left` names what was not attempted.
/// - An unused dependency or soft dependency that is still referenced at its turn, with no
///   holders and no more references than its first read showed besides the holders this call
///   removed, is given a short while (kReleaseWait, on the system's clock) for the kernel to drop
///   them (`release_waits`): some go only a moment after their holder's delete_module returned.
/// - With `plan.remove_dependencies`, the soft dependencies come from `options.softdeps` or else
///   the configuration, read first: an unreadable one fails the call (kind
///   configuration_unreadable) before anything is read or removed.
MODLOAD_API RemovalOutcome remove_modules(System& system, const BuiltinModules& builtin,
                                          std::span<const std::string> targets,
                                          const RemovalOptions& options, RemovalObserver& observer);

/// The longest wait for references that go a moment after their holder (ReleaseWait).
inline constexpr std::chrono::milliseconds kReleaseWait{1000};

}  // namespace modload
