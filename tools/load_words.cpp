// insmod's words: how a module went to the kernel, what the configuration decided, a failure
// in kmod's words and the reasons after, and what a failed call left.
#include <cerrno>

#include <modload/policy.hpp>

#include "words.hpp"

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

}  // namespace

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

std::vector<std::string> plan_note_lines(const std::vector<PlanNote>& notes) {
    std::vector<std::string> lines;
    for (const PlanNote& note : notes) {
        const std::string where = note.origin.where();
        switch (note.kind) {
            case PlanNote::Kind::softdep_not_found:
                lines.push_back("soft dependency " + note.name + " of " + note.of +
                                " not found; left out (" + where + ")");
                break;
            case PlanNote::Kind::softdep_disabled:
                lines.push_back("soft dependency " + note.name + " of " + note.of +
                                " is disabled by " + where + ": " + note.origin.text +
                                "; left out");
                break;
            case PlanNote::Kind::blacklisted:
                lines.push_back((note.of.empty() ? "dependency " : "soft dependency ") + note.name +
                                (note.of.empty() ? "" : " of " + note.of) + " is blacklisted by " +
                                where + "; loaded all the same, as modprobe does");
                break;
            case PlanNote::Kind::options:
                lines.push_back("options for " + note.name + " from " + where + ": " +
                                note.origin.text);
                break;
        }
    }
    return lines;
}

std::string aftermath_text(const LoadOutcome& outcome) {
    std::vector<std::string> removed;
    std::vector<std::string> gone;
    for (auto step = outcome.steps.rbegin(); step != outcome.steps.rend(); ++step) {
        if (step->result == LoadResult::removed_again) {
            removed.push_back(step->name);
        } else if (step->result == LoadResult::gone) {
            gone.push_back(step->name);
        }
    }
    std::vector<std::string> kept;
    for (const KeptModule& k : outcome.kept) {
        std::string text = k.name;
        if (k.obstacle == Obstacle::has_holders || k.obstacle == Obstacle::in_use) {
            text += " (now in use)";
        } else if (k.failure && k.failure != RemovalFailureKind::interrupted) {
            text += " (" + k.error.message() + ")";
        }
        kept.push_back(text);
    }
    std::string text;
    if (!removed.empty()) {
        text += "loaded for it and removed again:" + names_after_spaces(removed);
    }
    if (!gone.empty()) {
        text +=
            std::string(text.empty() ? "" : "; ") +
            "loaded for it and removed meanwhile by another process:" + names_after_spaces(gone);
    }
    if (!kept.empty()) {
        text += std::string(text.empty() ? "" : "; ") +
                "loaded for it and still loaded:" + names_after_spaces(kept);
    }
    return text;
}

void say_unloadable(Reporter& report, const LoadFailure& failure, const std::string& file) {
    switch (failure.stage) {
        case LoadStage::opening:
            return report.error("could not load module " + file + ": " + failure.error.message());
        case LoadStage::inspecting:
            return report.error(with_detail(
                "could not insert module " + file + ": " + load_error_text(failure.error.code),
                failure.error));
        case LoadStage::listing:
            return report.error(snapshot_error_text(failure.error));
        case LoadStage::builtin:
            return report.error("could not read modules.builtin: " + failure.error.message());
        case LoadStage::planning:
            return report.error("could not resolve the dependencies of " + file + ": " +
                                failure.error.message());
        case LoadStage::configuration:
            report.error("could not read the module configuration: " + failure.error.message());
            return report.note("nothing was loaded: an unread file could disable a module");
        case LoadStage::disabled:
        case LoadStage::loading:
        case LoadStage::interrupted:
            break;
    }
}

namespace {

void say_refused(const Saying& s, const LoadOutcome& outcome, const LoadFailure& failure) {
    const int code = failure.error.code;
    if (failure.stage == LoadStage::interrupted) {
        s.report.error("interrupted before loading " + failure.path);
    } else {
        s.report.error(
            with_detail("could not insert module " + failure.path + ": " + load_error_text(code),
                        failure.error));
        // EPERM and EKEYREJECTED are policy: say which one, as far as user space can see it.
        const RefusedCall call{
            .operation = ModuleOperation::load,
            .error = code,
            .name = failure.name,
            .signature_appended = failure.signature_appended,
            .forced = s.forced,
        };
        for (const std::string& line :
             refusal_cause_texts(diagnose_refusal(s.system, call), call, failure.path)) {
            s.report.note(line);
        }
        if (s.log != nullptr) {
            if (auto messages = s.log->read_new()) {
                for (const std::string& m : messages_about(*messages, failure.name)) {
                    s.report.note("kernel: " + m);
                }
            }
        }
    }
    const std::string after = aftermath_text(outcome);
    const bool interrupted = failure.stage == LoadStage::interrupted;
    if (failure.dependency || (interrupted && outcome.steps.size() > 1)) {
        std::string text = "stopped before loading " + s.file + "; ";
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
        s.report.note(text);
    } else if (!after.empty()) {
        s.report.note("its dependencies " + after);
    }
    if (code == ENOENT && !outcome.missing.empty() && !s.dependencies) {
        s.report.note("missing dependencies:" + names_after_spaces(outcome.missing) +
                      " (load them first, or use insmod --deps)");
    }
}

void say_disabled(const Saying& s, const LoadOutcome& outcome) {
    const DisabledModule& disabled = *outcome.disabled;
    s.report.error("could not insert module " + s.file + ": " + disabled.name + " is disabled by " +
                   disabled.install.origin.where() + ": " + disabled.install.origin.text);
    s.report.note(
        "nothing was loaded; insmod --deps never runs install commands (plain insmod "
        "loads FILE alone)");
}

void say_progress(const Saying& s, const LoadOutcome& outcome) {
    say_refused_configuration(s.report, outcome.refused_configuration);
    // What the configuration decided: with -v, and always in a dry run, which shows the plan.
    for (const std::string& line : plan_note_lines(outcome.notes)) {
        if (s.dry_run) {
            s.report.note(line);
        } else {
            s.report.info(line);
        }
    }
    for (const LoadedStep& step : outcome.steps) {
        const std::string where =
            step.path + " (" + std::string(module_source_name(step.source)) + ")";
        if (step.role == LoadRole::dependency) {
            s.report.info("dependency " + step.name + ": " + where);
        } else if (step.role == LoadRole::pre_softdep || step.role == LoadRole::post_softdep) {
            s.report.info(std::string("soft dependency (") +
                          (step.role == LoadRole::pre_softdep ? "pre" : "post") + ") " + step.name +
                          ": " + where);
        }
    }
    for (const LoadedStep& step : outcome.steps) {
        if (step.result == LoadResult::loaded_by_others) {
            s.report.info(step.name + " was loaded meanwhile by another process");
        } else if (step.result == LoadResult::failed && step.error.code != 0) {
            s.report.note(with_detail("soft dependency " + step.name + " could not be loaded: " +
                                          load_error_text(step.error.code),
                                      step.error) +
                          "; left out");
        } else if (step.choice) {
            s.report.info("inserted " + step.name + " via " +
                          load_choice_text(*step.choice, step.compression));
        }
    }
    if (!s.dependencies) {
        for (const std::string& name : outcome.missing) {
            s.report.info(outcome.steps.front().name + " depends on " + name +
                          ", which is not loaded");
        }
    }
}

}  // namespace

int say_load_outcome(const Saying& s, const LoadOutcome& outcome) {
    report_skipped_lines(s.report, outcome.skipped);
    if (outcome.disabled) {
        say_refused_configuration(s.report, outcome.refused_configuration);
        s.report.keep_said();
        say_disabled(s, outcome);
        return 1;
    }
    if (outcome.failure && outcome.steps.empty()) {
        s.report.keep_said();
        say_unloadable(s.report, *outcome.failure, s.file);
        return 1;
    }
    say_progress(s, outcome);
    if (s.dry_run && !s.quiet_plan) {
        for (const LoadedStep& step : outcome.steps) {
            s.plan_out << step.path << '\n';
        }
    }
    if (outcome.failure) {
        s.report.keep_said();
        say_refused(s, outcome, *outcome.failure);
        return 1;
    }
    return 0;
}

}  // namespace modload::tools
