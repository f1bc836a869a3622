// Loading a module with what it needs: the library's verb beside remove_modules().
//
// One call, load_modules(), does what insmod does, and with `dependencies` what kmod's modprobe
// does for a module file: it plans the dependencies that are neither loaded nor built in (from
// modules.dep, then the file's own folder), loads them in order, then the file. Every file is
// opened once, and that descriptor is the one loaded; it is inspected first, but for a module
// modules.dep lists that the kernel takes whole (depmod has read it, the kernel checks it). A
// file modules.dep lists is planned from its line there, and opened only at its turn. When a load
// fails, the modules this call loaded for it and that nothing has started to use meanwhile are
// removed again, newest first, so that a failed call leaves the table as it found it.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <modload/export.hpp>
#include <modload/kernel.hpp>
#include <modload/load_plan.hpp>
#include <modload/loader.hpp>
#include <modload/module_file.hpp>
#include <modload/removal.hpp>
#include <modload/result.hpp>
#include <modload/snapshot.hpp>
#include <modload/system.hpp>

namespace modload {

struct MODLOAD_API LoadRequest {
    /// The module file. `opened`, when set, is used instead of opening `file` (standard input),
    /// and `file` is only its name in the outcome.
    std::string file;
    std::shared_ptr<ModuleFile> opened;
    /// The file's parameters and forcing; forcing applies to its dependencies too.
    LoadOptions options;
    /// Plan and load the file's missing dependencies first, with the configuration.
    bool dependencies = false;
    /// The kernel release whose modules.dep and modules.builtin are read (uname -r).
    std::string kernel_release;
    /// The folder searched for dependencies modules.dep does not know (the file's own; empty:
    /// none). Never the folders below it.
    std::filesystem::path beside;
    /// Plan, and load nothing.
    bool dry_run = false;
    /// On a failure, leave loaded what this call loaded (to debug it), instead of removing it.
    bool keep_on_failure = false;
};

/// Told what happens as it happens; the library itself never prints.
class MODLOAD_API LoadObserver {
  public:
    virtual ~LoadObserver() = default;
    /// Asked before every system call: false stops the load before its next one (a signal
    /// arrived). What was loaded stays loaded: nothing more is done after a stop.
    virtual bool keep_going() { return true; }
};

/// What became of one module of the plan.
enum class LoadResult {
    planned,           ///< not attempted: a dry run, or the run stopped before it
    inserted,          ///< loaded by this call
    loaded_by_others,  ///< a dependency another process loaded meanwhile (EEXIST)
    failed,            ///< the load failed: the outcome's failure says why
    removed_again,     ///< loaded by this call, then removed again after a later failure
    gone,              ///< loaded by this call, and removed by another process before its turn
};

/// "planned", "inserted", "loaded by others", "failed", "removed again", "gone".
MODLOAD_API std::string_view load_result_name(LoadResult result);

/// One module of the plan and what became of it.
struct MODLOAD_API LoadedStep {
    std::string name;
    std::string path;
    LoadRole role = LoadRole::dependency;
    ModuleSource source = ModuleSource::modules_dep;  ///< dependencies only
    /// The parameters it was given: the configuration's, and for the target the request's
    /// after them.
    std::string parameters;
    LoadResult result = LoadResult::planned;
    Compression compression = Compression::none;  ///< the file's, as read
    /// When inserted: the system call and why (a compressed file decompressed here, and why).
    std::optional<LoadChoice> choice;
    /// Why a soft dependency was not loaded (its result is then failed; the run went on).
    Error error;

    bool dependency() const { return role != LoadRole::target; }
};

/// Where a load failed.
enum class LoadStage {
    opening,        ///< the file could not be opened or read
    inspecting,     ///< the file is not a valid module (never reaches the kernel)
    listing,        ///< /proc/modules could not be read, and `dependencies` needs it
    builtin,        ///< modules.builtin could not be read, and `dependencies` needs it
    configuration,  ///< the configuration (modprobe.d, modules.softdep, /proc/cmdline) unreadable
    disabled,       ///< the target or a dependency has an install command (`disabled` names it)
    planning,       ///< a dependency could not be found, trusted, read, or they form a cycle
    loading,        ///< the kernel refused a step (or the inspection of one at its turn)
    interrupted,    ///< the observer stopped the run before a load
};

/// "opening", "inspecting", "listing", "builtin", "configuration", "disabled", "planning",
/// "loading", "interrupted".
MODLOAD_API std::string_view load_stage_name(LoadStage stage);

struct MODLOAD_API LoadFailure {
    LoadStage stage = LoadStage::loading;
    std::string name;  ///< the module, when one is known
    std::string path;  ///< the file that failed, or the one the run stopped before
    bool dependency = false;
    /// The failing file carries a module signature (what a policy refusal may turn on).
    bool signature_appended = false;
    Error error;  ///< the kernel's errno for `loading`; ECANCELED for `interrupted`
};

/// A module this call loaded and left loaded after a failure, and why.
struct MODLOAD_API KeptModule {
    std::string name;
    /// What was in the way, from /proc/modules; nullopt when it was not judged (the request kept
    /// it, a stop, an unreadable list), Obstacle::none when nothing was and the kernel refused.
    std::optional<Obstacle> obstacle;
    Error error;  ///< the refusal or read error; code 0 when the request kept it
    /// Why its removal did not happen; nullopt when the request asked to keep it.
    std::optional<RemovalFailureKind> failure;
};

/// What load_modules() did.
struct MODLOAD_API LoadOutcome {
    /// The plan (dependencies, then the file) and what became of each step.
    std::vector<LoadedStep> steps;
    /// Names in the file's depends= that are neither loaded nor built in, as first read (for a
    /// file planned from modules.dep, unopened: the dependencies depmod recorded).
    std::vector<std::string> missing;
    /// /proc/modules lines the first read could not understand and left out.
    std::vector<SkippedLine> skipped;
    /// What the configuration decided (soft dependencies skipped, blacklisted dependencies,
    /// options applied), with `dependencies`.
    std::vector<PlanNote> notes;
    /// Configuration files not read because another user could have written them.
    std::vector<ConfigRefusal> refused_configuration;
    /// With stage disabled: the module and its install command.
    std::optional<DisabledModule> disabled;
    std::optional<LoadFailure> failure;
    /// After a failure: what this call loaded and left loaded (kept, in use, or not removable),
    /// newest first. The modules it removed again are the steps marked removed_again.
    std::vector<KeptModule> kept;

    bool ok() const { return !failure.has_value(); }
};

/// Loads `request.file` as insmod does, and with `dependencies` as modprobe would load it: its
/// missing dependencies first, soft dependencies around the modules that name them, the
/// administrator's configuration applied (read_modprobe_config(); plan_load() says how). A module
/// of the plan with an install command stops the call before anything is loaded (stage
/// disabled), and the command is never run. A soft dependency that fails to load is noted in its
/// step and the run goes on, as it is optional.
/// - Without dependencies, /proc/modules and modules.builtin only name what a failed load lacks
///   (`missing`); an unreadable one costs that. With them, they decide what is loaded, so an
///   unreadable one fails the call (stage listing or builtin) before anything is loaded.
/// - A dependency another process loads meanwhile (EEXIST) is what was wanted, not a failure;
///   the file itself answering EEXIST is a failure ("File exists"), as in kmod.
/// - The first failing step stops the run. The modules this call inserted are then judged on a
///   fresh read of /proc/modules each, newest first: one that nothing holds or uses is removed
///   (delete_module, O_NONBLOCK); one that gained a user, or that the kernel refuses, is kept.
///   `keep_on_failure` keeps them all. A stop by the observer removes nothing.
MODLOAD_API LoadOutcome load_modules(System& system, const LoadRequest& request,
                                     LoadObserver& observer);

}  // namespace modload
