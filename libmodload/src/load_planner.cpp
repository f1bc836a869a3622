// Planning a load as modprobe does: hard dependencies, each after its own; soft dependencies
// around the module that names them; the administrator's install commands, blacklist and
// options.
#include <modload/load_plan.hpp>

#include <algorithm>
#include <cerrno>
#include <set>

#include <modload/names.hpp>

#include "load_plan_detail.hpp"
#include "softdep_names.hpp"

namespace modload {

namespace {

using detail::available;

class Planner {
  public:
    Planner(const Snapshot& loaded, const BuiltinModules& builtin, const ModuleLocator& locator,
            const ModprobeConfig* config, System& system, std::filesystem::path alias_file)
        : loaded_(loaded),
          builtin_(builtin),
          locator_(locator),
          config_(config),
          system_(system),
          names_(config, locator, builtin, system, std::move(alias_file)) {}

    // Adds the modules `needs` names, each after its own dependencies. `path` names a cycle.
    Result<void> add_needs(const std::vector<std::string>& needs, std::vector<std::string>& path);
    // Adds the target: its dependencies (`needs`), its pre soft dependencies, itself, its post
    // ones. `own` is its modinfo when the file was read (nullptr: modules.softdep stands for it).
    Result<void> add_target(const std::string& name, const std::vector<std::string>& needs,
                            const ModuleInfo* own, const std::filesystem::path& file);

    LoadPlan take() {
        plan_.steps = std::move(steps_);
        return std::move(plan_);
    }
    std::optional<DisabledModule>& disabled() { return plan_.disabled; }

  private:
    // Adds `name` (a hard dependency or a soft one's module) after what it needs, with its soft
    // dependencies around it.
    Result<void> add_module(const std::string& name, LoadRole role, std::vector<std::string>& path,
                            const std::string& of = {});
    // Adds what a soft dependency names, when it can be found and is allowed; never fails.
    void add_softdep(const std::string& wanted, const std::string& of, LoadRole role,
                     const ConfigOrigin& origin, std::vector<std::string>& path);
    // Puts the step in the plan, with the administrator's parameters and a note for each.
    void push(LoadStep step);
    bool disabled_here(const std::string& name);

    const Snapshot& loaded_;
    const BuiltinModules& builtin_;
    const ModuleLocator& locator_;
    const ModprobeConfig* config_;
    System& system_;
    // What a soft dependency's name stands for (the configuration's aliases, modules.alias).
    detail::SoftdepNames names_;
    std::set<std::string> planned_;
    std::vector<LoadStep> steps_;
    LoadPlan plan_;
};

Error cycle_error(const std::vector<std::string>& path, const std::string& name) {
    std::string chain;
    for (auto it = std::find(path.begin(), path.end(), name); it != path.end(); ++it) {
        chain += *it + " -> ";
    }
    return make_error(ELOOP, "dependencies form a cycle: " + chain + name);
}

bool Planner::disabled_here(const std::string& name) {
    if (config_ == nullptr) {
        return false;
    }
    if (const ConfigCommand* install = config_->install_command(name)) {
        plan_.disabled = DisabledModule{name, *install};
        return true;
    }
    return false;
}

void Planner::push(LoadStep step) {
    if (config_ != nullptr) {
        // modprobe applies a blacklist to aliases only: a module the plan needs by name, hard or
        // soft, is loaded all the same, and said.
        if (step.role != LoadRole::target) {
            if (const ConfigBlacklist* listed = config_->blacklisted(step.name)) {
                plan_.notes.push_back(
                    {PlanNote::Kind::blacklisted, step.name, step.of, listed->origin});
            }
        }
        for (const ConfigOptions* options : config_->options_for(step.name)) {
            plan_.notes.push_back(
                {PlanNote::Kind::options, step.name, std::string(), options->origin});
        }
        step.parameters = config_->options_text(step.name);
    }
    planned_.insert(step.name);
    steps_.push_back(std::move(step));
}

Result<void> Planner::add_needs(const std::vector<std::string>& needs,
                                std::vector<std::string>& path) {
    for (const std::string& need : needs) {
        if (auto r = add_module(normalize_module_name(need), LoadRole::dependency, path); !r) {
            return r;
        }
    }
    return {};
}

Result<void> Planner::add_module(const std::string& name, LoadRole role,
                                 std::vector<std::string>& path, const std::string& of) {
    if (available(name, loaded_, builtin_) || planned_.count(name) != 0) {
        return {};
    }
    if (std::find(path.begin(), path.end(), name) != path.end()) {
        return cycle_error(path, name);
    }
    if (disabled_here(name)) {
        return make_error(EPERM, name + " is disabled");
    }
    auto looked = locator_.find(name);
    if (!looked) {
        return looked.error();
    }
    std::optional<ModuleLocator::Found>& found = *looked;
    if (!found) {
        return make_error(ENOENT, "dependency " + name + " not found in " + locator_.searched());
    }
    // depmod recorded what a modules.dep module needs: the file is opened at its turn.
    std::shared_ptr<ModuleFile> file;
    std::vector<std::string> needs;
    const ModuleInfo* info = nullptr;
    if (found->recorded_dependencies) {
        if (auto trusted = detail::check_trusted(system_, found->path, nullptr); !trusted) {
            return trusted.error();
        }
        needs = std::move(*found->recorded_dependencies);
    } else {
        auto opened = open_trusted(system_, found->path);
        if (!opened) {
            return opened.error();
        }
        auto read = (*opened)->info();
        if (!read) {
            return make_error(read.error().code, found->path.string() + ": " + read.error().detail);
        }
        info = *read;
        needs = info->depends();
        file = std::move(*opened);
    }
    path.push_back(name);
    if (auto r = add_needs(needs, path); !r) {
        return r;
    }
    std::optional<Softdeps> soft;
    if (config_ != nullptr) {
        soft = config_->softdeps_for(name, info, found->path);
    }
    if (soft) {
        for (const std::string& pre : soft->pre) {
            add_softdep(pre, name, LoadRole::pre_softdep, soft->origin, path);
        }
    }
    path.pop_back();
    push(LoadStep{name, found->path, found->source, std::move(file), role, std::string(), of});
    if (soft) {
        for (const std::string& post : soft->post) {
            add_softdep(post, name, LoadRole::post_softdep, soft->origin, path);
        }
    }
    return {};
}

void Planner::add_softdep(const std::string& wanted, const std::string& of, LoadRole role,
                          const ConfigOrigin& origin, std::vector<std::string>& path) {
    const std::vector<std::string> modules = names_.resolve(wanted, loaded_);
    if (modules.empty()) {
        plan_.notes.push_back({PlanNote::Kind::softdep_not_found, wanted, of, origin});
        return;
    }
    for (const std::string& name : modules) {
        if (available(name, loaded_, builtin_) || planned_.count(name) != 0 ||
            std::find(path.begin(), path.end(), name) != path.end()) {
            continue;
        }
        // A soft dependency is optional: one that cannot be planned (not found, unreadable,
        // disabled, or needing a disabled module) is left out with all it brought in.
        const std::size_t steps = steps_.size();
        const std::size_t notes = plan_.notes.size();
        if (auto r = add_module(name, role, path, of); r) {
            continue;
        }
        for (std::size_t i = steps; i < steps_.size(); ++i) {
            planned_.erase(steps_[i].name);
        }
        steps_.resize(steps);
        plan_.notes.resize(notes);
        if (plan_.disabled) {
            plan_.notes.push_back({PlanNote::Kind::softdep_disabled, plan_.disabled->name, of,
                                   plan_.disabled->install.origin});
            plan_.disabled.reset();
        } else {
            plan_.notes.push_back({PlanNote::Kind::softdep_not_found, name, of, origin});
        }
    }
}

Result<void> Planner::add_target(const std::string& name, const std::vector<std::string>& needs,
                                 const ModuleInfo* own, const std::filesystem::path& file) {
    std::vector<std::string> path{name};
    if (disabled_here(name)) {
        return make_error(EPERM, name + " is disabled");
    }
    if (auto r = add_needs(needs, path); !r) {
        return r;
    }
    std::optional<Softdeps> soft;
    if (config_ != nullptr) {
        soft = config_->softdeps_for(name, own, file);
    }
    if (soft) {
        for (const std::string& pre : soft->pre) {
            add_softdep(pre, name, LoadRole::pre_softdep, soft->origin, path);
        }
    }
    push(LoadStep{name, file, ModuleSource::beside_module, nullptr, LoadRole::target, std::string(),
                  std::string()});
    if (soft) {
        for (const std::string& post : soft->post) {
            add_softdep(post, name, LoadRole::post_softdep, soft->origin, path);
        }
    }
    return {};
}

Result<LoadPlan> plan_target(Planner& planner, const std::string& name,
                             const std::vector<std::string>& needs, const ModuleInfo* own,
                             const std::filesystem::path& file) {
    if (auto r = planner.add_target(name, needs, own, file); !r) {
        if (planner.disabled()) {
            LoadPlan plan;
            plan.disabled = std::move(planner.disabled());
            return plan;
        }
        return r.error();
    }
    return planner.take();
}

}  // namespace

Result<std::vector<LoadStep>> plan_dependencies(const ModuleInfo& module, const Snapshot& loaded,
                                                const BuiltinModules& builtin,
                                                const ModuleLocator& locator) {
    // Without a configuration no soft dependency is looked up: the system is never asked.
    Planner planner(loaded, builtin, locator, nullptr,
                    locator.system() != nullptr ? *locator.system() : live_system(), {});
    std::vector<std::string> path{module.name};
    if (auto r = planner.add_needs(module.depends(), path); !r) {
        return r.error();
    }
    return std::move(planner.take().steps);
}

Result<LoadPlan> plan_load(const ModuleInfo& module, const std::filesystem::path& path,
                           const Snapshot& loaded, const BuiltinModules& builtin,
                           const ModuleLocator& locator, const ModprobeConfig& config,
                           System& system, const std::string& kernel_release) {
    Planner planner(loaded, builtin, locator, &config, system,
                    system.path("/lib/modules/" + kernel_release + "/modules.alias"));
    return plan_target(planner, module.name, module.depends(), &module, path);
}

Result<LoadPlan> plan_listed_load(const std::string& name, const ModuleLocator::Found& listed,
                                  const Snapshot& loaded, const BuiltinModules& builtin,
                                  const ModuleLocator& locator, const ModprobeConfig& config,
                                  System& system, const std::string& kernel_release) {
    Planner planner(loaded, builtin, locator, &config, system,
                    system.path("/lib/modules/" + kernel_release + "/modules.alias"));
    static const std::vector<std::string> none;
    Result<LoadPlan> plan = plan_target(
        planner, name, listed.recorded_dependencies ? *listed.recorded_dependencies : none, nullptr,
        listed.path);
    if (plan) {
        for (LoadStep& step : plan->steps) {
            if (step.role == LoadRole::target) {
                step.source = listed.source;
            }
        }
    }
    return plan;
}

}  // namespace modload
