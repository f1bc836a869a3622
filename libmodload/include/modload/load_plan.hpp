// Planning a load with dependencies: which module files to load first, in which order.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <modload/module_file.hpp>
#include <modload/removal.hpp>
#include <modload/result.hpp>
#include <modload/snapshot.hpp>
#include <modload/system_root.hpp>

namespace modload {

/// Finds a module's file by its name.
class ModuleLocator {
public:
    /// From <root>/lib/modules/<release>/modules.dep: its left-hand paths, relative to that folder.
    /// ENOENT when there is no modules.dep.
    static Result<ModuleLocator> from_modules_dep(const SystemRoot& root,
                                                  const std::string& kernel_release);
    /// From the module files (.ko, .ko.zst, .ko.xz, .ko.gz) in `folder` and the folders below it;
    /// the first one found for a name wins, nearest folder first.
    static Result<ModuleLocator> from_folder(const std::filesystem::path& folder);

    /// Adds the files of `other` for names this locator does not know yet: a fallback.
    void add_fallback(const ModuleLocator& other);

    /// The file for `name` (normalized), or nullopt.
    std::optional<std::filesystem::path> find(const std::string& name) const;
    /// "modules.dep" or the folder searched, for messages.
    const std::string& source() const { return source_; }

private:
    std::map<std::string, std::filesystem::path> files_;
    std::string source_;
};

struct LoadStep {
    std::string name;
    std::filesystem::path path;
};

/// The modules `module` depends on (depends=, transitively) that are neither loaded nor built in,
/// in an order that loads each after its own dependencies. The module itself is not included.
/// Errors: ENOENT naming a dependency the locator cannot find, ELOOP for a dependency cycle, and
/// the errors of reading a dependency's file.
Result<std::vector<LoadStep>> plan_dependencies(const ModuleInfo& module, const Snapshot& loaded,
                                                const BuiltinModules& builtin,
                                                const ModuleLocator& locator);

/// The names in depends= that are neither loaded nor built in: what a failed load may lack.
std::vector<std::string> missing_dependencies(const ModuleInfo& module, const Snapshot& loaded,
                                              const BuiltinModules& builtin);

}  // namespace modload
