// insmod: load one module file, as kmod's insmod does, with parameters the kernel sees whole; and
// what kmod cannot do: say why the kernel refused (its own log), name missing dependencies, and
// load them first (--deps).
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <modload/kernel_log.hpp>
#include <modload/loading.hpp>
#include <modload/policy.hpp>

#include "tool.hpp"

namespace modload::tools {

namespace {

std::string_view unit_name(Compression compression) {
    switch (compression) {
        case Compression::gzip:
            return "members";
        case Compression::zstd:
            return "frames";
        default:
            return "streams";
    }
}

// "finit_module", or "init_module, decompressed here: its xz check is CRC64, which ...".
std::string load_choice_text(const LoadChoice& choice, Compression compression) {
    const std::string format(compression_name(compression));
    std::string why;
    switch (choice.reason) {
        case LoadReason::none:
            break;
        case LoadReason::not_a_file:
            why = "finit_module reads only a regular file";
            break;
        case LoadReason::kernel_lacks_compression:
            why = "the kernel decompresses no module itself";
            break;
        case LoadReason::kernel_other_compression:
            why = "the kernel decompresses only " + choice.detail + " itself";
            break;
        case LoadReason::several_units:
            why = "it holds " + std::to_string(choice.count) + " " + format + " " +
                  std::string(unit_name(compression)) + " and the kernel reads only the first";
            break;
        case LoadReason::xz_check:
            why = "its xz check is " + choice.detail + ", which the kernel's decoder does not take";
            break;
        case LoadReason::xz_filter:
            why = "its xz filter " + choice.detail + " is one the kernel's decoder does not take";
            break;
        case LoadReason::gzip_header:
            why = "its gzip header has " + choice.detail +
                  ", which the kernel's reader does not skip";
            break;
        case LoadReason::zstd_window:
            why = "its zstd window is " + std::to_string(choice.count >> 20) +
                  " MiB, more than the kernel's decoder takes";
            break;
        case LoadReason::kernel_refused:
            why = "the kernel could not decompress it (finit_module answered EINVAL)";
            break;
    }
    std::string how;
    switch (choice.method) {
        case LoadMethod::finit:
            how = "finit_module";
            break;
        case LoadMethod::finit_compressed:
            how = "finit_module, decompressed by the kernel";
            break;
        case LoadMethod::init:
            how =
                compression == Compression::none ? "init_module" : "init_module, decompressed here";
            break;
        case LoadMethod::init_without_finit:
            how = "init_module, as finit_module is not available (ENOSYS)";
            break;
    }
    return why.empty() ? how : how + ": " + why;
}

Result<std::shared_ptr<ModuleFile>> open_standard_input(ToolContext& ctx, const std::string& name) {
    // A pipe cannot go to finit_module, so it is read and sent by init_module.
    UniqueFd in(::fcntl(ctx.stdin_fd, F_DUPFD_CLOEXEC, 0));
    if (!in.valid()) {
        return make_error(errno, "standard input");
    }
    auto file = ModuleFile::adopt(ctx.system, std::move(in), name);
    if (!file) {
        return file.error();
    }
    return std::make_shared<ModuleFile>(std::move(*file));
}

class StopObserver : public LoadObserver {
  public:
    bool keep_going() override { return stop_signal() == 0; }
};

std::string names_of(const std::vector<std::string>& names) {
    std::string text;
    for (const std::string& name : names) {
        text += " " + name;
    }
    return text;
}

// What a failed call left: what it loaded and removed again, and what it kept and why.
class Aftermath {
  public:
    explicit Aftermath(const LoadOutcome& outcome) {
        for (auto step = outcome.steps.rbegin(); step != outcome.steps.rend(); ++step) {
            if (step->result == LoadResult::removed_again) {
                removed_.push_back(step->name);
            } else if (step->result == LoadResult::gone) {
                gone_.push_back(step->name);
            }
        }
        for (const KeptModule& kept : outcome.kept) {
            std::string text = kept.name;
            if (kept.obstacle == Obstacle::has_holders || kept.obstacle == Obstacle::in_use) {
                text += " (now in use)";
            } else if (kept.error.code != 0 && kept.error.code != ECANCELED) {
                text += " (" + kept.error.message() + ")";
            }
            kept_.push_back(text);
        }
    }

    bool empty() const { return removed_.empty() && gone_.empty() && kept_.empty(); }

    // "loaded for it and removed again: a b; loaded for it and still loaded: c (now in use)"
    std::string text() const {
        std::string text;
        if (!removed_.empty()) {
            text += "loaded for it and removed again:" + names_of(removed_);
        }
        if (!gone_.empty()) {
            text += std::string(text.empty() ? "" : "; ") +
                    "loaded for it and removed meanwhile by another process:" + names_of(gone_);
        }
        if (!kept_.empty()) {
            text += std::string(text.empty() ? "" : "; ") +
                    "loaded for it and still loaded:" + names_of(kept_);
        }
        return text;
    }

  private:
    std::vector<std::string> removed_;
    std::vector<std::string> gone_;
    std::vector<std::string> kept_;
};

struct Options {
    LoadRequest request;
    std::string file;
};

class Inserter {
  public:
    Inserter(ToolContext& ctx, Reporter& report, const Options& options)
        : ctx_(ctx), report_(report), options_(options) {}

    int run();

  private:
    // The first failure before any load, in kmod's words where kmod has them.
    void say_unloadable(const LoadFailure& failure);
    void say_disabled(const DisabledModule& disabled);
    // Configuration files not read because another user could have written them: always said.
    void say_refused_configuration(const LoadOutcome& outcome);
    // What the configuration decided: with -v, and always in a dry run, which shows the plan.
    void say_decisions(const LoadOutcome& outcome);
    // A refused load: kmod's line, the policy behind it, what the kernel logged.
    void say_refused(const LoadOutcome& outcome, const LoadFailure& failure);
    void say_progress(const LoadOutcome& outcome);

    ToolContext& ctx_;
    Reporter& report_;
    const Options& options_;
    std::optional<KernelLog> log_;
};

void Inserter::say_unloadable(const LoadFailure& failure) {
    const std::string& file = options_.file;
    switch (failure.stage) {
        case LoadStage::opening:
            report_.error("could not load module " + file + ": " + failure.error.message());
            return;
        case LoadStage::inspecting:
            report_.error(with_detail(
                "could not insert module " + file + ": " + load_error_text(failure.error.code),
                failure.error));
            return;
        case LoadStage::listing:
            report_.error(snapshot_error_text(failure.error));
            return;
        case LoadStage::builtin:
            report_.error("could not read modules.builtin: " + failure.error.message());
            return;
        case LoadStage::planning:
            report_.error("could not resolve the dependencies of " + file + ": " +
                          failure.error.message());
            return;
        case LoadStage::configuration:
            report_.error("could not read the module configuration: " + failure.error.message());
            report_.note("nothing was loaded: an unread file could disable a module");
            return;
        case LoadStage::disabled:
            break;
        case LoadStage::loading:
        case LoadStage::interrupted:
            break;
    }
}

void Inserter::say_refused(const LoadOutcome& outcome, const LoadFailure& failure) {
    const int code = failure.error.code;
    if (failure.stage == LoadStage::interrupted) {
        report_.error("interrupted before loading " + failure.path);
    } else {
        report_.error(
            with_detail("could not insert module " + failure.path + ": " + load_error_text(code),
                        failure.error));
        // EPERM and EKEYREJECTED are policy: say which one, as far as user space can see it.
        const RefusedCall call{
            .operation = ModuleOperation::load,
            .error = code,
            .name = failure.name,
            .signature_appended = failure.signature_appended,
            .forced = options_.request.options.ignore_modversions ||
                      options_.request.options.ignore_vermagic,
        };
        for (const std::string& line :
             refusal_cause_texts(diagnose_refusal(ctx_.system, call), call, failure.path)) {
            report_.note(line);
        }
        if (log_) {
            if (auto messages = log_->read_new()) {
                for (const std::string& m : messages_about(*messages, failure.name)) {
                    report_.note("kernel: " + m);
                }
            }
        }
    }
    const Aftermath after(outcome);
    const bool had_dependencies = outcome.steps.size() > 1;
    if (failure.dependency || (failure.stage == LoadStage::interrupted && had_dependencies)) {
        std::string text = "stopped before loading " + options_.file + "; ";
        if (after.empty() && failure.stage != LoadStage::interrupted) {
            text += "no dependency was loaded";
        } else if (failure.stage == LoadStage::interrupted) {
            std::vector<std::string> inserted;
            for (const LoadedStep& step : outcome.steps) {
                if (step.result == LoadResult::inserted) {
                    inserted.push_back(step.name);
                }
            }
            text += inserted.empty()
                        ? "no dependency was loaded"
                        : "loaded before the failure, and still loaded:" + names_of(inserted);
        } else {
            text += after.text();
        }
        report_.note(text);
    } else if (!after.empty()) {
        report_.note("its dependencies " + after.text());
    }
    if (code == ENOENT && !outcome.missing.empty() && !options_.request.dependencies) {
        report_.note("missing dependencies:" + names_of(outcome.missing) +
                     " (load them first, or use insmod --deps)");
    }
}
void Inserter::say_refused_configuration(const LoadOutcome& outcome) {
    for (const ConfigRefusal& refused : outcome.refused_configuration) {
        report_.note("ignored " + refused.path.string() + ": " + refused.reason + "; not trusted");
    }
}

void Inserter::say_disabled(const DisabledModule& disabled) {
    report_.error("could not insert module " + options_.file + ": " + disabled.name +
                  " is disabled by " + disabled.install.origin.where() + ": " +
                  disabled.install.origin.text);
    report_.note(
        "nothing was loaded; insmod --deps never runs install commands (plain insmod "
        "loads FILE alone)");
}

void Inserter::say_decisions(const LoadOutcome& outcome) {
    auto say = [&](const std::string& text) {
        if (options_.request.dry_run) {
            report_.note(text);
        } else {
            report_.info(text);
        }
    };
    for (const PlanNote& note : outcome.notes) {
        const std::string where = note.origin.where();
        switch (note.kind) {
            case PlanNote::Kind::softdep_not_found:
                say("soft dependency " + note.name + " of " + note.of + " not found; left out (" +
                    where + ")");
                break;
            case PlanNote::Kind::softdep_disabled:
                say("soft dependency " + note.name + " of " + note.of + " is disabled by " + where +
                    ": " + note.origin.text + "; left out");
                break;
            case PlanNote::Kind::blacklisted:
                say((note.of.empty() ? "dependency " : "soft dependency ") + note.name +
                    (note.of.empty() ? "" : " of " + note.of) + " is blacklisted by " + where +
                    "; loaded all the same, as modprobe does");
                break;
            case PlanNote::Kind::options:
                say("options for " + note.name + " from " + where + ": " + note.origin.text);
                break;
        }
    }
}

void Inserter::say_progress(const LoadOutcome& outcome) {
    say_refused_configuration(outcome);
    say_decisions(outcome);
    for (const LoadedStep& step : outcome.steps) {
        const std::string where =
            step.path + " (" + std::string(module_source_name(step.source)) + ")";
        if (step.role == LoadRole::dependency) {
            report_.info("dependency " + step.name + ": " + where);
        } else if (step.role == LoadRole::pre_softdep || step.role == LoadRole::post_softdep) {
            report_.info(std::string("soft dependency (") +
                         (step.role == LoadRole::pre_softdep ? "pre" : "post") + ") " + step.name +
                         ": " + where);
        }
    }
    for (const LoadedStep& step : outcome.steps) {
        if (step.result == LoadResult::loaded_by_others) {
            report_.info(step.name + " was loaded meanwhile by another process");
        } else if (step.result == LoadResult::failed && step.error.code != 0) {
            report_.note(with_detail("soft dependency " + step.name + " could not be loaded: " +
                                         load_error_text(step.error.code),
                                     step.error) +
                         "; left out");
        } else if (step.choice) {
            report_.info("inserted " + step.name + " via " +
                         load_choice_text(*step.choice, step.compression));
        }
    }
    if (!options_.request.dependencies) {
        for (const std::string& name : outcome.missing) {
            report_.info(outcome.steps.front().name + " depends on " + name +
                         ", which is not loaded");
        }
    }
}

int Inserter::run() {
    std::shared_ptr<ModuleFile> input;
    if (options_.file == "-") {
        auto opened = open_standard_input(ctx_, options_.file);
        if (!opened) {
            report_.error("could not load module " + options_.file + ": " +
                          opened.error().message());
            return 1;
        }
        input = std::move(*opened);
    }
    LoadRequest request = options_.request;
    request.opened = input;
    if (auto log = KernelLog::open_at_end(ctx_.system); log && !request.dry_run) {
        log_.emplace(std::move(*log));
    }
    StopObserver observer;
    const LoadOutcome outcome = load_modules(ctx_.system, request, observer);
    report_skipped_lines(report_, outcome.skipped);
    if (outcome.disabled) {
        say_refused_configuration(outcome);
        say_disabled(*outcome.disabled);
        return 1;
    }
    if (outcome.failure && outcome.steps.empty()) {
        say_unloadable(*outcome.failure);
        return 1;
    }
    say_progress(outcome);
    if (request.dry_run) {
        for (const LoadedStep& step : outcome.steps) {
            ctx_.out << step.path << '\n';
        }
        return 0;
    }
    if (outcome.failure) {
        say_refused(outcome, *outcome.failure);
        return 1;
    }
    return 0;
}

}  // namespace

int run_insmod(ToolContext& ctx, int argc, char** argv) {
    Reporter report("insmod", ctx.err);
    CLI::App app("Insert a module into the Linux kernel.", "insmod");
    Options options;
    bool force = false;
    bool force_modversion = false;
    bool force_vermagic = false;
    bool ignored = false;
    std::vector<std::string> parameters;
    CommonFlags common;
    app.add_flag("-f,--force", force, "ignore symbol versions and the version magic (taints)");
    app.add_flag("--force-modversion", force_modversion, "ignore symbol versions");
    app.add_flag("--force-vermagic", force_vermagic, "ignore the version magic");
    LoadRequest& request = options.request;
    app.add_flag("-d,--deps", request.dependencies,
                 "load the missing dependencies first (from modules.dep, or FILE's folder)");
    app.add_flag("-n,--dry-run", request.dry_run, "print the files that would be loaded, in order");
    app.add_flag("--keep-dependencies", request.keep_on_failure,
                 "when the load fails, leave loaded the dependencies it loaded");
    add_common_flags(app, common);
    app.add_flag("-p", ignored, "ignored, for compatibility")->group("");
    app.add_option("FILE", options.file, "the module file, or - for standard input");
    app.add_option("PARAM", parameters, "module parameters, NAME=VALUE");

    if (const int status = parse_command_line(app, argc, argv, ctx, report, common); status >= 0) {
        return status;
    }
    if (options.file.empty()) {
        report.error("missing filename.");
        return 1;
    }
    if (request.dependencies && options.file == "-") {
        report.error("--deps needs a module file, not standard input");
        return 1;
    }
    request.file = options.file;
    request.kernel_release = ctx.kernel_release;
    // Dependencies modules.dep does not know come from FILE's own folder (out-of-tree modules
    // built together), never from below it.
    const std::filesystem::path folder = std::filesystem::path(options.file).parent_path();
    request.beside = folder.empty() ? "." : folder;
    request.options = LoadOptions{join_parameters(parameters), force || force_modversion,
                                  force || force_vermagic};
    const StopSignals signals;
    return Inserter(ctx, report, options).run();
}

}  // namespace modload::tools
