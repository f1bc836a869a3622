// Planning a load as modprobe does: hard dependencies, each after its own; soft dependencies
// around the module that names them; the administrator's install commands, blacklist and
// options.
#include <modload/load_plan.hpp>

#include <algorithm>
#include <cerrno>
#include <set>

#include <fnmatch.h>

#include <modload/names.hpp>

#include "alias_names.hpp"
#include "load_plan_detail.hpp"
#include "module_aliases.hpp"

namespace modload {

namespace {

using detail::available;

class Planner {
  public:
    Planner(const Snapshot& loaded, const BuiltinModules& builtin, const ModuleLocator& locator,
            const ModprobeConfig* config, std::filesystem::path alias_file)
        : loaded_(loaded),
          builtin_(builtin),
          locator_(locator),
          config_(config),
          alias_file_(std::move(alias_file)),
          system_(locator.system() != nullptr ? *locator.system() : live_system()) {}

    // Adds the modules `needs` names, each after its own dependencies. `path` names a cycle.
    Result<void> add_needs(const std::vector<std::string>& needs, std::vector<std::string>& path);
    // Adds the target: its dependencies, its pre soft dependencies, itself, its post ones.
    Result<void> add_target(const ModuleInfo& module, const std::filesystem::path& file);

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
    // The modules a soft dependency's name stands for: the module of that name, or those an
    // alias (the configuration's, then modules.alias) gives.
    std::vector<std::string> resolve(const std::string& wanted);
    // Puts the step in the plan, with the administrator's parameters and a note for each.
    void push(LoadStep step);
    bool disabled_here(const std::string& name);

    const Snapshot& loaded_;
    const BuiltinModules& builtin_;
    const ModuleLocator& locator_;
    const ModprobeConfig* config_;
    std::filesystem::path alias_file_;
    System& system_;
    std::optional<std::vector<std::pair<std::string, std::string>>> aliases_;  // read on demand
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

std::vector<std::string> Planner::resolve(const std::string& wanted) {
    std::vector<std::string> modules;
    // As kmod looks a name up (kmod_module_new_from_lookup): the configuration's aliases, a
    // module of that name, modules.alias, and only then a module built in ("crc32" is built in
    // and an alias of crc32_pclmul and crc32_generic: kmod loads those).
    if (config_ != nullptr) {
        for (const ConfigAlias& alias : config_->aliases) {
            if (::fnmatch(alias.alias.c_str(), wanted.c_str(), 0) == 0) {
                modules.push_back(normalize_module_name(alias.module));
            }
        }
        if (!modules.empty()) {
            return modules;
        }
    }
    auto found = locator_.find(wanted);
    if ((found && *found) || loaded_.find(wanted) != nullptr) {
        return {wanted};
    }
    if (!aliases_) {
        // Unreadable, it names no module: the soft dependency is then said not to be found.
        auto text = system_.read_text_given(alias_file_.string());
        // modules.alias keeps the module's spelling ("blake2b-256"); kmod compares the pattern
        // with its dashes made underscores, as the wanted name is.
        aliases_.emplace();
        for (auto& [pattern, module] :
             detail::parse_module_aliases(text ? std::string_view(*text) : "")) {
            if (auto normalized = detail::underscores(pattern)) {
                aliases_->emplace_back(std::move(*normalized), std::move(module));
            }
        }
    }
    for (const auto& [pattern, module] : *aliases_) {
        if (::fnmatch(pattern.c_str(), wanted.c_str(), 0) == 0 &&
            std::find(modules.begin(), modules.end(), module) == modules.end()) {
            modules.push_back(module);
        }
    }
    if (modules.empty() && builtin_.contains(wanted)) {
        return {wanted};
    }
    return modules;
}

void Planner::add_softdep(const std::string& wanted, const std::string& of, LoadRole role,
                          const ConfigOrigin& origin, std::vector<std::string>& path) {
    const std::vector<std::string> modules = resolve(wanted);
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

Result<void> Planner::add_target(const ModuleInfo& module, const std::filesystem::path& file) {
    std::vector<std::string> path{module.name};
    if (disabled_here(module.name)) {
        return make_error(EPERM, module.name + " is disabled");
    }
    if (auto r = add_needs(module.depends(), path); !r) {
        return r;
    }
    std::optional<Softdeps> soft;
    if (config_ != nullptr) {
        soft = config_->softdeps_for(module.name, &module, file);
    }
    if (soft) {
        for (const std::string& pre : soft->pre) {
            add_softdep(pre, module.name, LoadRole::pre_softdep, soft->origin, path);
        }
    }
    push(LoadStep{module.name, file, ModuleSource::beside_module, nullptr, LoadRole::target,
                  std::string(), std::string()});
    if (soft) {
        for (const std::string& post : soft->post) {
            add_softdep(post, module.name, LoadRole::post_softdep, soft->origin, path);
        }
    }
    return {};
}

}  // namespace

Result<std::vector<LoadStep>> plan_dependencies(const ModuleInfo& module, const Snapshot& loaded,
                                                const BuiltinModules& builtin,
                                                const ModuleLocator& locator) {
    Planner planner(loaded, builtin, locator, nullptr, {});
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
    Planner planner(loaded, builtin, locator, &config,
                    system.path("/lib/modules/" + kernel_release + "/modules.alias"));
    if (auto r = planner.add_target(module, path); !r) {
        if (planner.disabled()) {
            LoadPlan plan;
            plan.disabled = std::move(planner.disabled());
            return plan;
        }
        return r.error();
    }
    return planner.take();
}

}  // namespace modload
