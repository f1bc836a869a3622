// Where a removal finds the soft dependencies of the modules it removes: kmod's modprobe -r
// removes a module's softdeps with it (its post ones before it, its pre ones after it), as a load
// brought them in around it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <modload/export.hpp>
#include <modload/modprobe_config.hpp>
#include <modload/snapshot.hpp>
#include <modload/system.hpp>

namespace modload {

class BuiltinModules;

/// Looks up a module's soft dependencies for a removal plan (plan_removal(), remove_modules()).
class MODLOAD_API SoftdepLookup {
  public:
    virtual ~SoftdepLookup() = default;
    /// The soft dependencies of `module` (a normalized name), each name in them resolved to the
    /// modules it stands for (an alias gives several); nullopt when nothing names any. `loaded`
    /// is the table the plan is made from.
    virtual std::optional<Softdeps> softdeps_of(const std::string& module,
                                                const Snapshot& loaded) const = 0;
};

/// A lookup that finds none: a removal without soft dependencies.
class MODLOAD_API NoSoftdeps final : public SoftdepLookup {
  public:
    std::optional<Softdeps> softdeps_of(const std::string& module,
                                        const Snapshot& loaded) const override;
};

/// The soft dependencies a load brings in (plan_load()): the first `softdep` line of `config`
/// whose pattern matches the module (modprobe.d, then modules.softdep, which depmod writes from
/// each module's softdep= modinfo), each name looked up as a load looks it up: the
/// configuration's aliases, a module of that name, modules.alias of `kernel_release`, built in.
/// modules.dep and modules.alias are read on the first softdep that needs them; one that cannot
/// be read resolves names to themselves only. `config`, `system` and `builtin` must outlive the
/// lookup.
MODLOAD_API std::unique_ptr<SoftdepLookup> configured_softdeps(const ModprobeConfig& config,
                                                               System& system,
                                                               const std::string& kernel_release,
                                                               const BuiltinModules& builtin);

}  // namespace modload
