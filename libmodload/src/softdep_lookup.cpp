// The soft dependencies a removal takes with a module: those a load brings in around it, from the
// same configuration and looked up the same way (softdep_names.hpp).
#include <modload/softdeps.hpp>

#include <map>

#include <modload/load_plan.hpp>
#include <modload/removal.hpp>

#include "softdep_names.hpp"

namespace modload {

namespace {

class ConfiguredSoftdeps final : public SoftdepLookup {
  public:
    ConfiguredSoftdeps(const ModprobeConfig& config, System& system, std::string kernel_release,
                       const BuiltinModules& builtin)
        : config_(config),
          system_(system),
          release_(std::move(kernel_release)),
          builtin_(builtin) {}

    std::optional<Softdeps> softdeps_of(const std::string& module,
                                        const Snapshot& loaded) const override {
        std::optional<Softdeps> named = config_.softdeps_for(module);
        if (!named) {
            return std::nullopt;
        }
        Softdeps resolved{{}, {}, named->origin};
        for (const std::string& wanted : named->pre) {
            append(resolved.pre, resolve(wanted, loaded));
        }
        for (const std::string& wanted : named->post) {
            append(resolved.post, resolve(wanted, loaded));
        }
        return resolved;
    }

  private:
    static void append(std::vector<std::string>& to, const std::vector<std::string>& names) {
        to.insert(to.end(), names.begin(), names.end());
    }

    std::vector<std::string> resolve(const std::string& wanted, const Snapshot& loaded) const {
        if (!names_) {
            // modules.dep is read only now, for the first softdep: rmmod -r of a module that has
            // none reads no more than it did. One that cannot be read knows no names.
            auto locator = ModuleLocator::make(system_, release_, {});
            locator_ = locator ? std::move(*locator) : ModuleLocator();
            names_.emplace(&config_, locator_, builtin_, system_,
                           system_.path("/lib/modules/" + release_ + "/modules.alias"));
        }
        return names_->resolve(wanted, loaded);
    }

    const ModprobeConfig& config_;
    System& system_;
    const std::string release_;
    const BuiltinModules& builtin_;
    mutable ModuleLocator locator_;
    mutable std::optional<detail::SoftdepNames> names_;
};

}  // namespace

std::unique_ptr<SoftdepLookup> configured_softdeps(const ModprobeConfig& config, System& system,
                                                   const std::string& kernel_release,
                                                   const BuiltinModules& builtin) {
    return std::make_unique<ConfiguredSoftdeps>(config, system, kernel_release, builtin);
}

}  // namespace modload
