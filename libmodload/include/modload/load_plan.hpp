// Planning a load with dependencies: which module files to load first, in which order.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include <modload/builtin_modules.hpp>
#include <modload/export.hpp>
#include <modload/modprobe_config.hpp>
#include <modload/module_file.hpp>
#include <modload/result.hpp>
#include <modload/snapshot.hpp>
#include <modload/system.hpp>

namespace modload {

/// Where a dependency's file was found.
enum class ModuleSource {
    modules_dep,   ///< depmod's modules.dep of the running kernel
    beside_module  ///< the folder of the module being loaded (not below it)
};

/// "modules.dep" or "beside the module".
MODLOAD_API std::string_view module_source_name(ModuleSource source);

/// Finds the files of the modules a module depends on, as a careful administrator would: depmod's
/// modules.dep first, for every name it knows; then the loaded module's own folder (not the
/// folders below it) for names modules.dep cannot resolve, as out-of-tree modules built together
/// sit side by side. A file, or the folder it is in, that another user could have written is
/// never used: group- or world-writable, sticky, or owned by someone other than root or the
/// caller (the effective user). The tools run as root, and what they read decides what code
/// enters the kernel.
namespace detail {
class ModuleIndex;
}

class MODLOAD_API ModuleLocator {
  public:
    /// From /lib/modules/<release>/modules.dep (a missing one knows no names) and the folder
    /// `beside` (empty: none). Names are looked up in modules.dep.bin, depmod's index of the same
    /// lines, when it is there and not older than modules.dep (as kmod does; a modules.dep edited
    /// since is read as text), else in the text, line by line on demand.
    static Result<ModuleLocator> make(System& system, const std::string& kernel_release,
                                      const std::filesystem::path& beside);

    struct Found {
        std::filesystem::path path;
        ModuleSource source = ModuleSource::modules_dep;
        /// For modules.dep's modules, the dependencies depmod recorded (all of them, the
        /// dependencies' own included), so that a plan need not open the file to learn them.
        std::optional<std::vector<std::string>> recorded_dependencies;
    };
    /// The file for `name` (normalized), nullopt when there is none, or the error of looking
    /// (a candidate that could not be looked at is not taken for absent).
    Result<std::optional<Found>> find(const std::string& name) const;
    /// modules.dep's entry when it lists the very file `file` (under the name its file name
    /// gives, at the same path or the same inode); nullopt when it does not. What the file's
    /// folder and the file itself are (trusted or not) is not looked at here.
    Result<std::optional<Found>> find_listed(const std::filesystem::path& file) const;
    /// "modules.dep and FOLDER", for messages.
    const std::string& searched() const { return searched_; }
    /// The system it looks in (it must outlive the locator).
    System* system() const { return system_; }

  private:
    // modules.dep's line for `name`: "kernel/a/b.ko.xz: kernel/c.ko.xz ...", nullopt if none.
    Result<std::optional<std::string_view>> line_of(std::string_view name) const;
    Found found(std::string_view line) const;

    std::string text_;                                  // modules.dep, when it is read as text
    std::shared_ptr<const detail::ModuleIndex> index_;  // modules.dep.bin, when it is used
    std::filesystem::path folder_;  // the kernel's module folder, for modules.dep's relative paths
    System* system_ = nullptr;
    std::filesystem::path beside_;
    std::string searched_;
};

/// Opens a module file and checks, through the descriptor it will be loaded from, that no other
/// user could have written it or its folder (untrusted_because()); EPERM naming which when not.
MODLOAD_API Result<std::shared_ptr<ModuleFile>> open_trusted(System& system,
                                                             const std::filesystem::path& path);

/// Why a file or folder with `mode` and `owner` may not be trusted by a process whose effective
/// uid is `caller`, or nullopt when it may: "writable by others (mode 0777)", "owned by uid 1000".
MODLOAD_API std::optional<std::string> untrusted_because(mode_t mode, uid_t owner, uid_t caller);

/// Why a module is in a load plan.
enum class LoadRole {
    dependency,    ///< the module (or a module it needs) uses its symbols: depends=, modules.dep
    pre_softdep,   ///< a soft dependency to load before the module that names it
    target,        ///< the module file asked for
    post_softdep,  ///< a soft dependency to load after the module that names it
};

/// "dependency", "pre softdep", "target", "post softdep".
MODLOAD_API std::string_view load_role_name(LoadRole role);

/// One dependency to load. A file found beside the module was opened and inspected to plan; a
/// file from modules.dep is not opened to plan (depmod recorded its dependencies), and `file` is
/// then empty until its turn (open_trusted()). Either way it is opened once, and that descriptor
/// is the one loaded.
struct MODLOAD_API LoadStep {
    std::string name;
    std::filesystem::path path;
    ModuleSource source = ModuleSource::modules_dep;
    std::shared_ptr<ModuleFile> file;
    LoadRole role = LoadRole::dependency;
    /// The administrator's parameters for it (`options` lines, M.param= on the kernel command
    /// line), as modprobe passes them; for the target, the caller adds its own after these.
    std::string parameters;
    /// For a soft dependency: the module whose softdep names it.
    std::string of;
};

/// The modules `module` depends on (depends=, transitively) that are neither loaded nor built in,
/// in an order that loads each after its own dependencies. The module itself is not included.
/// Errors: ENOENT naming a dependency the locator cannot find, EPERM for one in a place another
/// user could have written, ELOOP for a dependency cycle, and the errors of reading a
/// dependency's file.
MODLOAD_API Result<std::vector<LoadStep>> plan_dependencies(const ModuleInfo& module,
                                                            const Snapshot& loaded,
                                                            const BuiltinModules& builtin,
                                                            const ModuleLocator& locator);

/// Something the configuration decided in a plan, for the caller to say.
struct MODLOAD_API PlanNote {
    enum class Kind {
        softdep_not_found,  ///< a soft dependency found nowhere: skipped, as modprobe does
        softdep_disabled,   ///< a soft dependency with an install command: skipped, never run
        /// a blacklisted dependency, hard or soft: loaded all the same, as modprobe does (it
        /// applies a blacklist to aliases only)
        blacklisted,
        options,  ///< parameters from the configuration for a module of the plan
    };
    Kind kind = Kind::options;
    std::string name;  ///< the module (for softdep_not_found, the name the softdep gives)
    std::string of;    ///< for soft dependencies: the module that names it
    ConfigOrigin origin;
};

/// A module of a plan that has an install command: a dependency-aware load never loads it, and
/// never runs the command (the administrator disabled it, or does more than load it).
struct MODLOAD_API DisabledModule {
    std::string name;
    ConfigCommand install;
};

/// A plan for loading a module file with what it needs: dependencies, soft dependencies, the
/// administrator's parameters.
struct MODLOAD_API LoadPlan {
    /// In load order; the target's step is the one with role target (its `file` is empty: the
    /// caller has it open).
    std::vector<LoadStep> steps;
    std::vector<PlanNote> notes;
    /// Set when a dependency or the target has an install command: the plan stops there.
    std::optional<DisabledModule> disabled;
};

/// Plans `module` (the file `path`) as modprobe would, for what is neither loaded nor built in:
/// for each hard dependency, each after its own, its pre soft dependencies (each with what it
/// needs), the module, its post soft dependencies; then the same for the target. Soft
/// dependencies come from `config` (modprobe.d, modules.softdep) and from the target's own
/// softdep= modinfo, and are looked up by module name, then by alias (the configuration's, then
/// modules.alias); one found nowhere, disabled or blacklisted is skipped with a note. Parameters
/// come from the configuration. Errors as plan_dependencies(); a soft dependency that cannot be
/// read is skipped with a note instead.
MODLOAD_API Result<LoadPlan> plan_load(const ModuleInfo& module, const std::filesystem::path& path,
                                       const Snapshot& loaded, const BuiltinModules& builtin,
                                       const ModuleLocator& locator, const ModprobeConfig& config,
                                       System& system, const std::string& kernel_release);

/// Plans the file of module `name` that modules.dep lists (`listed`, from
/// ModuleLocator::find_listed()) as plan_load() does, without opening it, as kmod's modprobe
/// plans: its dependencies are those depmod recorded, its soft dependencies those of the
/// configuration, modules.softdep among them (depmod's copy of the softdep= modinfo). The
/// target's step has an empty `file`, opened at its turn (open_trusted()).
MODLOAD_API Result<LoadPlan> plan_listed_load(const std::string& name,
                                              const ModuleLocator::Found& listed,
                                              const Snapshot& loaded, const BuiltinModules& builtin,
                                              const ModuleLocator& locator,
                                              const ModprobeConfig& config, System& system,
                                              const std::string& kernel_release);

/// The names in depends= that are neither loaded nor built in: what a failed load may lack.
MODLOAD_API std::vector<std::string> missing_dependencies(const ModuleInfo& module,
                                                          const Snapshot& loaded,
                                                          const BuiltinModules& builtin);

}  // namespace modload
