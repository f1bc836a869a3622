#include <modload/loading.hpp>

#include <array>
#include <cerrno>

#include <fcntl.h>

#include <modload/compression.hpp>
#include <modload/names.hpp>
#include <modload/unique_fd.hpp>

#include "load_plan_detail.hpp"
#include "loader_detail.hpp"

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
    // With dependencies: whether modules.dep lists the file, in a folder no other user could
    // have written. It is then planned from there, unopened, as kmod's modprobe plans, and
    // opened at its turn to load.
    enum class Listed { yes, no, failed };
    Listed find_listed_target();
    // Reads what loading needs to know of the system; false when --deps cannot do without it.
    bool read_system();
    bool plan();
    // Loads one step; false when the run stops there.
    bool load(ModuleFile& file, LoadedStep& step, const LoadOptions& options, bool listed);
    void remove_again();
    // Opens a module modules.dep lists, at its turn, as open_trusted() does. One that is not
    // compressed, without forcing, goes to finit_module through that descriptor unread here, as
    // kmod's modprobe loads it (the kernel reads and checks it; depmod has read it): then
    // nullptr, and `step` (and the failure, when the kernel refused it) say how it went.
    // Otherwise the file, read, for load(). Errors: those of opening it or of trusting it.
    Result<std::shared_ptr<ModuleFile>> open_listed(const std::string& path, LoadedStep& step,
                                                    const LoadOptions& options);
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
    std::optional<ModuleLocator> locator_;
    std::optional<Error> locator_error_;          // making it failed: said at planning
    std::optional<ModuleLocator::Found> listed_;  // the target, when modules.dep lists it
};

Loader::Listed Loader::find_listed_target() {
    if (!request_.dependencies || request_.opened) {
        return Listed::no;
    }
    auto locator = ModuleLocator::make(system_, request_.kernel_release, request_.beside);
    if (!locator) {
        // Said where planning needs it, after the file itself was opened and inspected.
        locator_error_ = locator.error();
        return Listed::no;
    }
    locator_ = std::move(*locator);
    auto listed = locator_->find_listed(request_.file);
    target_step_.path = request_.file;
    target_step_.role = LoadRole::target;
    if (!listed) {
        fail(LoadStage::planning, target_step_, listed.error());
        return Listed::failed;
    }
    if (!*listed) {
        return Listed::no;
    }
    // In a folder another user could write, it is opened and read as any file given.
    auto why = detail::distrust(system_, (**listed).path, nullptr);
    if (!why) {
        fail(LoadStage::planning, target_step_, why.error());
        return Listed::failed;
    }
    if (*why) {
        return Listed::no;
    }
    listed_ = std::move(**listed);
    target_step_.name = module_name_from_argument(request_.file);
    return Listed::yes;
}

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
    if (listed_) {
        for (const std::string& name : *listed_->recorded_dependencies) {
            if (!detail::available(name, loaded_, builtin_)) {
                outcome_.missing.push_back(name);
            }
        }
        return true;
    }
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
        if (locator_error_) {
            fail(LoadStage::planning, target_step_, *locator_error_);
            return false;
        }
        if (!locator_) {
            auto locator = ModuleLocator::make(system_, request_.kernel_release, request_.beside);
            if (!locator) {
                fail(LoadStage::planning, target_step_, locator.error());
                return false;
            }
            locator_ = std::move(*locator);
        }
        auto planned = listed_
                           ? plan_listed_load(target_step_.name, *listed_, loaded_, builtin_,
                                              *locator_, *config, system_, request_.kernel_release)
                           : plan_load(**target_->info(), request_.file, loaded_, builtin_,
                                       *locator_, *config, system_, request_.kernel_release);
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

bool Loader::load(ModuleFile& file, LoadedStep& step, const LoadOptions& options, bool listed) {
    if (!observer_.keep_going()) {
        fail(LoadStage::interrupted, step, make_error(ECANCELED));
        return false;
    }
    step.compression = file.compression();
    // A file modules.dep lists is not inspected here when the kernel takes it whole: depmod
    // has read it, and the kernel checks what it reads (loader_detail.hpp).
    auto method =
        detail::load_module_checked(kernel_, file, options, kernel_decompresses_, !listed);
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

Result<std::shared_ptr<ModuleFile>> Loader::open_listed(const std::string& path, LoadedStep& step,
                                                        const LoadOptions& options) {
    auto opened = system_.open_given(path, O_RDONLY);
    if (!opened) {
        return make_error(opened.error().code, path);
    }
    UniqueFd fd = std::move(*opened);
    auto st = system_.fstat(fd.get());
    if (!st) {
        return make_error(st.error().code, path);
    }
    if (auto trusted = detail::check_trusted(system_, path, &*st); !trusted) {
        return trusted.error();
    }
    std::array<char, 8> magic{};
    const bool forcing = options.ignore_modversions || options.ignore_vermagic;
    // Read where it stands, not through the descriptor's position: ModuleFile::adopt() reads
    // the file from there if it is loaded through init_module after all.
    auto head = st->type == FileType::regular && !forcing
                    ? system_.read_at(fd.get(), std::span<char>(magic), 0)
                    : Result<std::size_t>(std::size_t{0});
    if (head && *head == magic.size() &&
        detect_compression(std::as_bytes(std::span<const char>(magic))) == Compression::none &&
        unsupported_compression(std::as_bytes(std::span<const char>(magic))).empty()) {
        if (!observer_.keep_going()) {
            fail(LoadStage::interrupted, step, make_error(ECANCELED));
            return std::shared_ptr<ModuleFile>();
        }
        step.compression = Compression::none;
        auto r = kernel_.finit_module(fd.get(), options.parameters, 0);
        if (r) {
            step.result = LoadResult::inserted;
            step.choice = LoadChoice{};
            return std::shared_ptr<ModuleFile>();
        }
        if (step.dependency() && r.error().code == EEXIST) {
            step.result = LoadResult::loaded_by_others;
            return std::shared_ptr<ModuleFile>();
        }
        // Without finit_module the bytes go through init_module: read, and loaded as any file.
        if (r.error().code != ENOSYS) {
            step.result = LoadResult::failed;
            fail(LoadStage::loading, step, r.error());
            // What a policy refusal may turn on; read only now that it failed.
            if (auto file = ModuleFile::adopt(system_, std::move(fd), path)) {
                if (auto info = file->info()) {
                    outcome_.failure->signature_appended = (*info)->signature_appended;
                }
            }
            return std::shared_ptr<ModuleFile>();
        }
    }
    auto file = ModuleFile::adopt(system_, std::move(fd), path);
    if (!file) {
        return make_error(file.error().code, path);
    }
    return std::make_shared<ModuleFile>(std::move(*file));
}

// What this call inserted, newest first, each judged on a fresh read of /proc/modules: another
// process may have started to use it, or removed it, since.
void Loader::remove_again() {
    for (auto step = outcome_.steps.rbegin(); step != outcome_.steps.rend(); ++step) {
        if (step->result != LoadResult::inserted) {
            continue;
        }
        if (request_.keep_on_failure) {
            outcome_.kept.push_back(KeptModule{step->name, std::nullopt, Error{}, std::nullopt});
            continue;
        }
        if (!observer_.keep_going()) {
            outcome_.kept.push_back(KeptModule{step->name, std::nullopt, make_error(ECANCELED),
                                               RemovalFailureKind::interrupted});
            continue;
        }
        auto snapshot = Snapshot::read(system_);
        if (!snapshot) {
            outcome_.kept.push_back(KeptModule{step->name, std::nullopt, snapshot.error(),
                                               RemovalFailureKind::list_unreadable});
            continue;
        }
        const LoadedModule* module = snapshot->find(step->name);
        if (module == nullptr) {
            step->result = LoadResult::gone;  // someone else removed it: as wanted
            continue;
        }
        if (const Obstacle obstacle = obstacle_of(*module); obstacle != Obstacle::none) {
            outcome_.kept.push_back(KeptModule{step->name, obstacle, make_error(EBUSY),
                                               RemovalFailureKind::refused_by_check});
            continue;
        }
        if (auto removed = remove_module(kernel_, step->name, false); !removed) {
            outcome_.kept.push_back(KeptModule{step->name, Obstacle::none, removed.error(),
                                               RemovalFailureKind::refused_by_kernel});
            continue;
        }
        step->result = LoadResult::removed_again;
    }
}

LoadOutcome Loader::run() {
    const Listed listed = find_listed_target();
    if (listed == Listed::failed || (listed == Listed::no && !open_target()) || !read_system() ||
        !plan() || request_.dry_run) {
        return std::move(outcome_);
    }
    kernel_decompresses_ = kernel_decompression(system_);
    bool ok = true;
    for (std::size_t i = 0; ok && i < plan_.size(); ++i) {
        LoadStep& planned = plan_[i];
        LoadedStep& step = outcome_.steps[i];
        const bool soft =
            planned.role == LoadRole::pre_softdep || planned.role == LoadRole::post_softdep;
        // Forcing applies to every module; parameters are each one's own.
        const LoadOptions options{step.parameters, request_.options.ignore_modversions,
                                  request_.options.ignore_vermagic};
        const bool from_modules_dep = planned.role == LoadRole::target
                                          ? listed_.has_value()
                                          : planned.source == ModuleSource::modules_dep;
        if (planned.role == LoadRole::target && target_) {
            planned.file = target_;
        } else if (!planned.file) {
            // From modules.dep, planned unopened: opened now, and that descriptor loaded (the
            // target as insmod opens a file, a dependency as a dependency).
            const bool target = planned.role == LoadRole::target;
            const std::string path = target ? request_.file : planned.path.string();
            auto opened = open_listed(path, step, options);
            if (!opened) {
                step.result = LoadResult::failed;
                if (soft) {
                    step.error = opened.error();
                    continue;
                }
                fail(target ? LoadStage::opening : LoadStage::loading, step, opened.error());
                ok = false;
                break;
            }
            if (!*opened) {  // handed to the kernel unread: `step` says how that went
                ok = !outcome_.failure.has_value();
            } else {
                planned.file = std::move(*opened);
            }
        }
        if (planned.file) {
            ok = load(*planned.file, step, options, from_modules_dep);
        }
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
