// Planning a load with dependencies: which module files to load first, in which order.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include <modload/export.hpp>
#include <modload/module_file.hpp>
#include <modload/removal.hpp>
#include <modload/result.hpp>
#include <modload/snapshot.hpp>
#include <modload/system_root.hpp>

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
class MODLOAD_API ModuleLocator {
public:
    /// From <root>/lib/modules/<release>/modules.dep (a missing one knows no names) and the
    /// folder `beside` (empty: none).
    static Result<ModuleLocator> make(const SystemRoot& root, const std::string& kernel_release,
                                      const std::filesystem::path& beside);

    struct Found {
        std::filesystem::path path;
        ModuleSource source = ModuleSource::modules_dep;
    };
    /// The file for `name` (normalized), nullopt when there is none, or the error of looking
    /// (a candidate that could not be looked at is not taken for absent).
    Result<std::optional<Found>> find(const std::string& name) const;
    /// "modules.dep and FOLDER", for messages.
    const std::string& searched() const { return searched_; }

private:
    std::map<std::string, std::filesystem::path> modules_dep_;
    std::filesystem::path beside_;
    std::string searched_;
};

/// Why a file or folder with `mode` and `owner` may not be trusted by a process whose effective
/// uid is `caller`, or nullopt when it may: "writable by others (mode 0777)", "owned by uid 1000".
MODLOAD_API std::optional<std::string> untrusted_because(mode_t mode, uid_t owner, uid_t caller);

/// One dependency to load: opened and inspected once, and that descriptor is the one loaded.
struct MODLOAD_API LoadStep {
    std::string name;
    std::filesystem::path path;
    ModuleSource source = ModuleSource::modules_dep;
    std::shared_ptr<ModuleFile> file;
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

/// The names in depends= that are neither loaded nor built in: what a failed load may lack.
MODLOAD_API std::vector<std::string> missing_dependencies(const ModuleInfo& module,
                                                          const Snapshot& loaded,
                                                          const BuiltinModules& builtin);

}  // namespace modload
