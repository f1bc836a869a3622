// What a soft dependency's name stands for, as kmod looks it up (kmod_module_new_from_lookup):
// shared by the load planner, which loads what it finds, and the removal's lookup, which removes
// it again.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <modload/load_plan.hpp>
#include <modload/modprobe_config.hpp>
#include <modload/removal.hpp>
#include <modload/snapshot.hpp>
#include <modload/system.hpp>

namespace modload::detail {

class SoftdepNames {
  public:
    /// `config` may be null (no configuration: no aliases of its own). `alias_file` is
    /// modules.alias (a path `system` resolved), read on the first name that needs it.
    SoftdepNames(const ModprobeConfig* config, const ModuleLocator& locator,
                 const BuiltinModules& builtin, System& system, std::filesystem::path alias_file)
        : config_(config),
          locator_(locator),
          builtin_(builtin),
          system_(system),
          alias_file_(std::move(alias_file)) {}

    /// The modules `wanted` (normalized) stands for: the configuration's aliases, else a module
    /// of that name (in modules.dep or loaded), else modules.alias, else a module built in. Empty
    /// when it is found nowhere.
    std::vector<std::string> resolve(const std::string& wanted, const Snapshot& loaded);

  private:
    const ModprobeConfig* config_;
    const ModuleLocator& locator_;
    const BuiltinModules& builtin_;
    System& system_;
    std::filesystem::path alias_file_;
    std::optional<std::string> alias_text_;  // modules.alias, read on demand
};

}  // namespace modload::detail
