// rmmod's words for a failed removal: kmod's line where kmod has one, then who or what is in the
// way. Chosen from the failure's kind and obstacle, never from text.
#include <modload/policy.hpp>

#include "words.hpp"

namespace modload::tools {

void say_holders(Reporter& report, const std::string& name, const ModuleReferences& refs) {
    for (const Reference& ref : refs.references) {
        if (ref.kind != ReferenceKind::module) {  // kmod's line names the holder modules
            report.note(name + " is held by " + reference_text(ref));
        }
    }
    if (refs.unattributed > 0) {
        report.note(name + ": " + unattributed_text(refs));
    }
    if (refs.changed_while_read) {
        report.note(name + ": " + kChangedWhileRead);
    }
}

std::string holders_summary(const ModuleReferences& refs) {
    std::string text = joined(reference_lines(refs), "; ");
    if (text.empty()) {
        return "nothing that can be named";
    }
    return refs.references.empty() ? text : "held by " + text;
}

namespace {

// A check on /proc/modules refused it: kmod's words for what is in the way.
void say_refused_by_check(Reporter& report, HolderNamer& namer, const RemovalFailure& failure) {
    const std::string& name = failure.name;
    switch (failure.obstacle.value_or(Obstacle::none)) {
        case Obstacle::builtin:
            return report.error("Module " + name + " is builtin.");
        case Obstacle::not_loaded:
            return report.error("Module " + name + " is not currently loaded");
        case Obstacle::has_holders:
            report.error("Module " + name +
                         " is in use by:" + names_after_spaces(failure.module->holders));
            return say_holders(report, name, namer.holders(*failure.module, false));
        case Obstacle::in_use:
            report.error("Module " + name + " is in use");
            if (failure.module) {
                say_holders(report, name, namer.holders(*failure.module, false));
            }
            return;
        case Obstacle::loading:
            report.error("Module " + name + " is in use");
            return report.note(name +
                               " is still initializing: its init function has not "
                               "returned (--wait waits for it)");
        case Obstacle::unloading:
            report.error("Module " + name + " is being removed");
            return report.note("another process is removing " + name);
        case Obstacle::unload_unsupported:
            return report.error("Module unloading is not supported");
        case Obstacle::none:
            break;
    }
    report.error("could not remove module " + name + ": " + failure.error.message());
}

// The kernel refused: its errno in words, and for EPERM the policy behind it.
void say_refused_by_kernel(Reporter& report, System& system, const RemovalFailure& failure) {
    const std::string& name = failure.name;
    if (failure.obstacle == Obstacle::loading) {  // EBUSY: it began loading since the read
        report.error("Module " + name + " is in use");
        return report.note(name +
                           " is still initializing: its init function has not returned "
                           "(--wait waits for it)");
    }
    report.error("could not remove module " + name + ": " + failure.error.message());
    const RefusedCall call{
        .operation = ModuleOperation::remove, .error = failure.error.code, .name = name};
    for (const std::string& line :
         refusal_cause_texts(diagnose_refusal(system, call), call, name)) {
        report.note(line);
    }
}

void say_timed_out(Reporter& report, HolderNamer& namer, const RemovalFailure& failure,
                   bool waited) {
    const std::string& name = failure.name;
    switch (failure.obstacle.value_or(Obstacle::in_use)) {
        case Obstacle::loading:
            return report.error("could not remove module " + name + ": still initializing " +
                                failure.error.detail);
        case Obstacle::unloading:
            report.error("Module " + name + " is being removed");
            return report.note("another process is removing " + name + " (" + failure.error.detail +
                               ")");
        default:
            break;
    }
    const std::string users = failure.module ? describe_users(*failure.module) : "not listed";
    report.error("could not remove module " + name + ": still in use " + failure.error.detail +
                 ": " + users);
    if (failure.module) {
        say_holders(report, name, namer.holders(*failure.module, waited));
    }
}

// " (a soft dependency of libcrc32c)" for a step that is one; empty for any other.
std::string softdep_words(const RemovalPlan& plan, const std::string& name) {
    for (const PlanStep& step : plan.steps) {
        if (step.name == name && step.reason == PlanReason::softdep) {
            return " (a soft dependency of " + step.of + ")";
        }
    }
    return "";
}

std::string release_wait_text(const ReleaseWait& wait) {
    std::string after;
    for (const std::string& name : wait.after) {
        after += (after.empty() ? "" : ", ") + name;
    }
    return "waited " + std::to_string(wait.waited.count()) + " ms for the references " + after +
           " left on " + wait.name + " to go" + (wait.released ? "" : ": some stayed");
}

}  // namespace

void say_removal_failure(Reporter& report, HolderNamer& namer, System& system,
                         const RemovalFailure& failure, bool waited) {
    const std::string& name = failure.name;
    switch (failure.kind) {
        case RemovalFailureKind::refused_by_check:
            return say_refused_by_check(report, namer, failure);
        case RemovalFailureKind::refused_by_kernel:
            return say_refused_by_kernel(report, system, failure);
        case RemovalFailureKind::timed_out:
            return say_timed_out(report, namer, failure, waited);
        case RemovalFailureKind::interrupted: {
            const std::string users =
                failure.module ? describe_users(*failure.module) : "not listed";
            return report.error(waited ? "interrupted while waiting for " + name + ": " + users
                                       : "interrupted before removing " + name);
        }
        case RemovalFailureKind::list_unreadable:
            return report.error(snapshot_error_text(failure.error));
        case RemovalFailureKind::configuration_unreadable:
            return report.error("could not read the module configuration: " +
                                failure.error.message());
        case RemovalFailureKind::no_plan:
            break;
    }
    report.error("cannot plan the removal: " + failure.error.message());
}

void say_removal_progress(Reporter& report, std::ostream& plan_out, const RemovalOutcome& outcome,
                          bool dry_run, bool quiet_plan) {
    if (dry_run && !quiet_plan) {
        for (const PlanStep& step : outcome.plan.steps) {
            plan_out << step.name << '\n';
            if (step.reason == PlanReason::softdep) {  // stdout stays one name a line
                report.info(step.name + " is a soft dependency of " + step.of +
                            ": removed if nothing uses it then");
            }
        }
    }
    for (const ReleaseWait& wait : outcome.release_waits) {
        report.info(release_wait_text(wait));
    }
    for (const std::string& name : outcome.removed) {
        report.info("removed " + name + softdep_words(outcome.plan, name));
    }
    for (const std::string& name : outcome.gone) {
        report.info(name + " was already gone: removed by another process");
    }
    for (const LoadedModule& module : outcome.kept) {
        report.info("kept " + module.name + softdep_words(outcome.plan, module.name) +
                    ": it is in use (" + describe_users(module) + ")");
    }
}

}  // namespace modload::tools
