#include <modload/loading.hpp>

#include <cerrno>

namespace modload {

namespace {

class Loader {
  public:
    Loader(System& system, const LoadRequest& request, LoadObserver& observer)
        : kernel_(system.kernel()), system_(system), request_(request), observer_(observer) {}

    LoadOutcome run();

  private:
    // Opens and inspects the file itself; false (with the failure set) when it is no module.
    bool open_target();
    // Reads what loading needs to know of the system; false when --deps cannot do without it.
    bool read_system();
    bool plan();
    // Loads one step; false when the run stops there.
    bool load(ModuleFile& file, LoadedStep& step, const LoadOptions& options);
    void remove_again();
    void fail(LoadStage stage, const LoadedStep& step, Error error) {
        outcome_.failure = LoadFailure{.stage = stage,
                                       .name = step.name,
                                       .path = step.path,
                                       .dependency = step.dependency(),
                                       .error = std::move(error)};
    }

    Kernel& kernel_;
    System& system_;
    const LoadRequest& request_;
    LoadObserver& observer_;
    LoadOutcome outcome_;
    std::shared_ptr<ModuleFile> target_;
    LoadedStep target_step_;
    std::vector<LoadStep> plan_;  // every step, the target's with an empty file
    Snapshot loaded_;
    BuiltinModules builtin_;
    std::optional<Compression> kernel_decompresses_;
};

bool Loader::open_target() {
    target_step_.path = request_.file;
    target_step_.role = LoadRole::target;
    target_ = request_.opened;
    if (!target_) {
        auto file = ModuleFile::open(system_, request_.file);
        if (!file) {
            fail(LoadStage::opening, target_step_, file.error());
            return false;
        }
        target_ = std::make_shared<ModuleFile>(std::move(*file));
    }
    // A file that is not a module never reaches the kernel.
    auto info = target_->info();
    if (!info) {
        fail(LoadStage::inspecting, target_step_, info.error());
        return false;
    }
    target_step_.name = (*info)->name;
    return true;
}

bool Loader::read_system() {
    auto loaded = Snapshot::read(system_);
    auto builtin = BuiltinModules::read(system_, request_.kernel_release);
    if (request_.dependencies && !loaded) {
        fail(LoadStage::listing, target_step_, loaded.error());
        return false;
    }
    if (request_.dependencies && !builtin) {
        fail(LoadStage::builtin, target_step_, builtin.error());
        return false;
    }
    loaded_ = loaded.value_or(Snapshot());
    outcome_.skipped.assign(loaded_.skipped().begin(), loaded_.skipped().end());
    builtin_ = builtin.value_or(BuiltinModules());
    outcome_.missing = missing_dependencies(**target_->info(), loaded_, builtin_);
    return true;
}

bool Loader::plan() {
    if (!request_.dependencies) {
        plan_.push_back(LoadStep{target_step_.name, request_.file, ModuleSource::beside_module,
                                 nullptr, LoadRole::target, std::string(), std::string()});
    } else {
        auto config = read_modprobe_config(system_, request_.kernel_release);
        if (!config) {
            fail(LoadStage::configuration, target_step_, config.error());
            return false;
        }
        outcome_.refused_configuration = config->refused;
        auto locator = ModuleLocator::make(system_, request_.kernel_release, request_.beside);
        if (!locator) {
            fail(LoadStage::planning, target_step_, locator.error());
            return false;
        }
        auto planned = plan_load(**target_->info(), request_.file, loaded_, builtin_, *locator,
                                 *config, system_, request_.kernel_release);
        if (!planned) {
            fail(LoadStage::planning, target_step_, planned.error());
            return false;
        }
        if (planned->disabled) {
            outcome_.disabled = planned->disabled;
            fail(LoadStage::disabled, target_step_, make_error(EPERM, planned->disabled->name));
            return false;
        }
        outcome_.notes = std::move(planned->notes);
        plan_ = std::move(planned->steps);
    }
    for (const LoadStep& step : plan_) {
        LoadedStep planned;
        planned.name = step.name;
        planned.path = step.role == LoadRole::target ? request_.file : step.path.string();
        planned.role = step.role;
        planned.source = step.source;
        planned.parameters = step.parameters;
        if (step.role == LoadRole::target) {
            // The configuration's parameters first, the command line's after: the kernel takes
            // the last of a repeated one, as with modprobe.
            const std::string& own = request_.options.parameters;
            planned.parameters += planned.parameters.empty() || own.empty() ? own : " " + own;
        }
        outcome_.steps.push_back(std::move(planned));
    }
    return true;
}

bool Loader::load(ModuleFile& file, LoadedStep& step, const LoadOptions& options) {
    if (!observer_.keep_going()) {
        fail(LoadStage::interrupted, step, make_error(ECANCELED));
        return false;
    }
    step.compression = file.compression();
    auto method = load_module_explained(kernel_, file, options, kernel_decompresses_);
    if (method) {
        step.result = LoadResult::inserted;
        step.choice = std::move(*method);
        return true;
    }
    if (step.dependency() && method.error().code == EEXIST) {
        step.result = LoadResult::loaded_by_others;
        return true;
    }
    step.result = LoadResult::failed;
    fail(LoadStage::loading, step, method.error());
    if (auto info = file.info()) {
        outcome_.failure->signature_appended = (*info)->signature_appended;
    }
    return false;
}

// What this call inserted, newest first, each judged on a fresh read of /proc/modules: another
// process may have started to use it, or removed it, since.
void Loader::remove_again() {
    for (auto step = outcome_.steps.rbegin(); step != outcome_.steps.rend(); ++step) {
        if (step->result != LoadResult::inserted) {
            continue;
        }
        if (request_.keep_on_failure) {
            outcome_.kept.push_back(KeptModule{step->name, Obstacle::none, Error{}});
            continue;
        }
        if (!observer_.keep_going()) {
            outcome_.kept.push_back(KeptModule{step->name, Obstacle::none, make_error(ECANCELED)});
            continue;
        }
        auto snapshot = Snapshot::read(system_);
        if (!snapshot) {
            outcome_.kept.push_back(KeptModule{step->name, Obstacle::none, snapshot.error()});
            continue;
        }
        const LoadedModule* module = snapshot->find(step->name);
        if (module == nullptr) {
            step->result = LoadResult::gone;  // someone else removed it: as wanted
            continue;
        }
        if (const Obstacle obstacle = obstacle_of(*module); obstacle != Obstacle::none) {
            outcome_.kept.push_back(KeptModule{step->name, obstacle, make_error(EBUSY)});
            continue;
        }
        if (auto removed = remove_module(kernel_, step->name, false); !removed) {
            outcome_.kept.push_back(KeptModule{step->name, Obstacle::none, removed.error()});
            continue;
        }
        step->result = LoadResult::removed_again;
    }
}

LoadOutcome Loader::run() {
    if (!open_target() || !read_system() || !plan() || request_.dry_run) {
        return std::move(outcome_);
    }
    kernel_decompresses_ = kernel_decompression(system_);
    bool ok = true;
    for (std::size_t i = 0; ok && i < plan_.size(); ++i) {
        LoadStep& planned = plan_[i];
        LoadedStep& step = outcome_.steps[i];
        const bool soft =
            planned.role == LoadRole::pre_softdep || planned.role == LoadRole::post_softdep;
        if (planned.role == LoadRole::target) {
            planned.file = target_;
        } else if (!planned.file) {  // from modules.dep: opened now, and that descriptor loaded
            auto opened = open_trusted(system_, planned.path);
            if (!opened) {
                step.result = LoadResult::failed;
                if (soft) {
                    step.error = opened.error();
                    continue;
                }
                fail(LoadStage::loading, step, opened.error());
                ok = false;
                break;
            }
            planned.file = std::move(*opened);
        }
        // Forcing applies to every module; parameters are each one's own.
        const LoadOptions options{step.parameters, request_.options.ignore_modversions,
                                  request_.options.ignore_vermagic};
        ok = load(*planned.file, step, options);
        if (!ok && soft && outcome_.failure->stage == LoadStage::loading) {
            step.error = outcome_.failure->error;  // optional: said, and the run goes on
            outcome_.failure.reset();
            ok = true;
        }
    }
    if (!ok && outcome_.failure->stage != LoadStage::interrupted) {
        remove_again();
    }
    return std::move(outcome_);
}

}  // namespace

LoadOutcome load_modules(System& system, const LoadRequest& request, LoadObserver& observer) {
    return Loader(system, request, observer).run();
}

}  // namespace modload
