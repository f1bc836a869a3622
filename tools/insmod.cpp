// insmod: load one module file, as kmod's insmod does, with parameters the kernel sees whole; and
// what kmod cannot do: say why the kernel refused (its own log), name missing dependencies, and
// load them first (--deps). The library decides (load_modules); this file parses options, calls
// it, and chooses words (load_words.cpp) or, with --json, data.
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

Result<std::shared_ptr<ModuleFile>> open_standard_input(ToolContext& ctx, const std::string& name) {
    // A pipe cannot go to finit_module, so it is read and sent by init_module.
    UniqueFd in(::fcntl(ctx.stdin_fd, F_DUPFD_CLOEXEC, 0));
    if (!in.valid()) {
        return make_error(errno, "standard input");
    }
    auto file = ModuleFile::adopt(std::move(in), name);
    if (!file) {
        return file.error();
    }
    return std::make_shared<ModuleFile>(std::move(*file));
}

class StopObserver : public LoadObserver {
  public:
    bool keep_going() override { return stop_signal() == 0; }
};

struct Options {
    LoadRequest request;
    std::string file;
    bool json = false;
};

class Inserter {
  public:
    Inserter(ToolContext& ctx, Reporter& report, const Options& options)
        : ctx_(ctx), report_(report), options_(options) {}

    int run();

  private:
    int says(const LoadOutcome& outcome);
    void say_disabled(const LoadOutcome& outcome);
    // Configuration files not read because another user could have written them: always said.
    void say_refused_configuration(const LoadOutcome& outcome);
    // A refused load: kmod's line, the policy behind it, what the kernel logged, what was left.
    void say_refused(const LoadOutcome& outcome, const LoadFailure& failure);
    void say_progress(const LoadOutcome& outcome);

    ToolContext& ctx_;
    Reporter& report_;
    const Options& options_;
    std::optional<KernelLog> log_;
};

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
             refusal_cause_texts(diagnose_refusal(ctx_.root, call), call, failure.path)) {
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
    const std::string after = aftermath_text(outcome);
    const bool interrupted = failure.stage == LoadStage::interrupted;
    if (failure.dependency || (interrupted && outcome.steps.size() > 1)) {
        std::string text = "stopped before loading " + options_.file + "; ";
        if (interrupted) {
            std::vector<std::string> inserted;
            for (const LoadedStep& step : outcome.steps) {
                if (step.result == LoadResult::inserted) {
                    inserted.push_back(step.name);
                }
            }
            text += inserted.empty() ? "no dependency was loaded"
                                     : "loaded before the failure, and still loaded:" +
                                           names_after_spaces(inserted);
        } else {
            text += after.empty() ? "no dependency was loaded" : after;
        }
        report_.note(text);
    } else if (!after.empty()) {
        report_.note("its dependencies " + after);
    }
    if (code == ENOENT && !outcome.missing.empty() && !options_.request.dependencies) {
        report_.note("missing dependencies:" + names_after_spaces(outcome.missing) +
                     " (load them first, or use insmod --deps)");
    }
}

void Inserter::say_refused_configuration(const LoadOutcome& outcome) {
    for (const ConfigRefusal& refused : outcome.refused_configuration) {
        report_.note("ignored " + refused.path.string() + ": " + refused.reason + "; not trusted");
    }
}

void Inserter::say_disabled(const LoadOutcome& outcome) {
    const DisabledModule& disabled = *outcome.disabled;
    report_.error("could not insert module " + options_.file + ": " + disabled.name +
                  " is disabled by " + disabled.install.origin.where() + ": " +
                  disabled.install.origin.text);
    report_.note(
        "nothing was loaded; insmod --deps never runs install commands (plain insmod "
        "loads FILE alone)");
}

void Inserter::say_progress(const LoadOutcome& outcome) {
    say_refused_configuration(outcome);
    // What the configuration decided: with -v, and always in a dry run, which shows the plan.
    for (const std::string& line : plan_note_lines(outcome.notes)) {
        if (options_.request.dry_run) {
            report_.note(line);
        } else {
            report_.info(line);
        }
    }
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

// Says the outcome; returns the exit status.
int Inserter::says(const LoadOutcome& outcome) {
    report_skipped_lines(report_, outcome.skipped);
    if (outcome.disabled) {
        say_refused_configuration(outcome);
        report_.keep_said();
        say_disabled(outcome);
        return 1;
    }
    if (outcome.failure && outcome.steps.empty()) {
        report_.keep_said();
        say_unloadable(report_, *outcome.failure, options_.file);
        return 1;
    }
    say_progress(outcome);
    if (options_.request.dry_run && !options_.json) {
        for (const LoadedStep& step : outcome.steps) {
            ctx_.out << step.path << '\n';
        }
    }
    if (outcome.failure) {
        report_.keep_said();
        say_refused(outcome, *outcome.failure);
        return 1;
    }
    return 0;
}

int Inserter::run() {
    LoadRequest request = options_.request;
    if (options_.file == "-") {
        auto opened = open_standard_input(ctx_, options_.file);
        if (!opened) {
            report_.keep_said();
            report_.error("could not load module " + options_.file + ": " +
                          opened.error().message());
            if (options_.json) {
                ctx_.out << load_json_before(options_.file, opened.error(), report_.take_said(), 1);
            }
            return 1;
        }
        request.opened = std::move(*opened);
    }
    if (auto log = KernelLog::open_at_end(ctx_.root); log && !request.dry_run) {
        log_.emplace(std::move(*log));
    }
    StopObserver observer;
    const LoadOutcome outcome = load_modules(ctx_.kernel, ctx_.root, request, observer);
    const int status = says(outcome);
    if (options_.json) {
        ctx_.out << load_json(outcome, options_.file, request.dry_run, report_.take_said(), status);
        ctx_.out.flush();
    }
    return status;
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
    app.add_flag("--json", options.json, "print what happened as one JSON object");
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
