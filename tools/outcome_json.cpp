#include "outcome_json.hpp"

#include <cstring>

#include "json.hpp"

namespace modload::tools {

namespace {

std::string module_json(const LoadedModule& module) {
    return JsonObject()
        .string("name", module.name)
        .raw("refcount", module.refcount ? std::to_string(*module.refcount) : "null")
        .raw("holders", json_strings(module.holders))
        .text();
}

// The errno as a number and in words; null and "" when there is none.
void add_error(JsonObject& object, const Error& error) {
    if (error.code == 0) {
        object.null("errno").string("error", "");
        return;
    }
    object.number("errno", error.code).string("error", error.message());
}

std::string obstacle_json(const std::optional<Obstacle>& obstacle) {
    std::string text;
    if (!obstacle) {
        return "null";
    }
    append_json_string(text, obstacle_name(*obstacle));
    return text;
}

}  // namespace

void RemovalJson::begin(Reporter& report) {
    if (wanted_) {
        (void)report.take_said();
        report.keep_said();
    }
}

void RemovalJson::not_a_name(Reporter& report, const std::string& argument) {
    JsonObject object;
    object.string("name", argument)
        .string("stage", removal_stage_name(RemovalStage::checking))
        .string("kind", removal_failure_kind_name(RemovalFailureKind::refused_by_check))
        .null("obstacle");
    add_error(object, make_error(EINVAL, "not a module name"));
    failures_.push_back(object.raw("words", json_strings(report.take_said())).text());
}

void RemovalJson::failure(Reporter& report, const RemovalFailure& failure) {
    JsonObject object;
    object.string("name", failure.name)
        .string("stage", removal_stage_name(failure.stage))
        .string("kind", removal_failure_kind_name(failure.kind))
        .raw("obstacle", obstacle_json(failure.obstacle));
    add_error(object, failure.error);
    object.raw("module", failure.module ? module_json(*failure.module) : "null");
    failures_.push_back(object.raw("words", json_strings(report.take_said())).text());
}

int RemovalJson::finish(ToolContext& ctx, int status, const RemovalOutcome* outcome,
                        bool dry_run) const {
    if (!wanted_) {
        return status;
    }
    std::vector<std::string> plan;
    std::vector<std::string> kept;
    std::vector<std::string> skipped;
    std::vector<std::string> release_waits;
    if (outcome != nullptr) {
        for (const PlanStep& step : outcome->plan.steps) {
            JsonObject object;
            object.string("name", step.name).string("reason", plan_reason_name(step.reason));
            if (step.reason == PlanReason::softdep) {
                object.string("of", step.of);
            }
            plan.push_back(object.text());
        }
        for (const ReleaseWait& wait : outcome->release_waits) {
            release_waits.push_back(JsonObject()
                                        .string("name", wait.name)
                                        .raw("after", json_strings(wait.after))
                                        .number("waited_ms", wait.waited.count())
                                        .boolean("released", wait.released)
                                        .text());
        }
        for (const LoadedModule& module : outcome->kept) {
            kept.push_back(module_json(module));
        }
        for (const SkippedLine& line : outcome->skipped) {
            skipped.push_back(
                JsonObject().number("line", line.number).string("text", line.text).text());
        }
    }
    const std::vector<std::string> none;
    const std::string text =
        JsonObject()
            .number("status", status)
            .boolean("dry_run", dry_run)
            .raw("plan", json_array(plan))
            .raw("removed", json_strings(outcome != nullptr ? outcome->removed : none))
            .raw("gone", json_strings(outcome != nullptr ? outcome->gone : none))
            .raw("kept", json_array(kept))
            .raw("left", json_strings(outcome != nullptr ? outcome->left : none))
            .raw("release_waits", json_array(release_waits))
            .raw("failures", json_array(failures_))
            .raw("skipped_lines", json_array(skipped))
            .text();
    ctx.out << text << '\n';
    ctx.out.flush();
    return ctx.out ? status : 1;
}

std::string load_json(const LoadOutcome& outcome, const std::string& file, bool dry_run,
                      const std::vector<std::string>& failure_words, int status) {
    std::vector<std::string> plan;
    std::vector<std::string> loaded;
    std::vector<std::string> by_others;
    std::vector<std::string> removed;
    std::vector<std::string> gone;
    std::vector<std::string> skipped;
    for (const LoadedStep& step : outcome.steps) {
        JsonObject object;
        object.string("name", step.name)
            .string("path", step.path)
            .string("role", load_role_name(step.role))
            .string("result", load_result_name(step.result))
            .string("parameters", step.parameters);
        if (step.choice) {
            object.string("method", load_method_name(step.choice->method))
                .string("reason", load_reason_name(step.choice->reason));
        }
        plan.push_back(object.text());
        switch (step.result) {
            case LoadResult::inserted:
                loaded.push_back(step.name);
                break;
            case LoadResult::loaded_by_others:
                by_others.push_back(step.name);
                break;
            case LoadResult::removed_again:
                removed.push_back(step.name);
                break;
            case LoadResult::gone:
                gone.push_back(step.name);
                break;
            case LoadResult::failed:
                if (step.error.code != 0) {  // a soft dependency: optional, left out
                    JsonObject why;
                    why.string("name", step.name).string("why", "could not be loaded");
                    add_error(why, step.error);
                    skipped.push_back(why.text());
                }
                break;
            case LoadResult::planned:
                break;
        }
    }
    for (const PlanNote& note : outcome.notes) {
        if (note.kind == PlanNote::Kind::softdep_not_found ||
            note.kind == PlanNote::Kind::softdep_disabled) {
            skipped.push_back(JsonObject()
                                  .string("name", note.name)
                                  .string("why", note.kind == PlanNote::Kind::softdep_not_found
                                                     ? "not found"
                                                     : "disabled")
                                  .string("of", note.of)
                                  .string("where", note.origin.where())
                                  .text());
        }
    }
    std::vector<std::string> kept;
    for (const KeptModule& module : outcome.kept) {
        JsonObject object;
        object.string("name", module.name)
            .string("kind", module.failure ? removal_failure_kind_name(*module.failure) : "asked")
            .raw("obstacle", obstacle_json(module.obstacle));
        add_error(object, module.error);
        kept.push_back(object.text());
    }
    std::vector<std::string> failures;
    if (outcome.failure) {
        const LoadFailure& failure = *outcome.failure;
        JsonObject object;
        object.string("name", failure.name)
            .string("path", failure.path)
            .string("kind", load_stage_name(failure.stage))
            .null("obstacle")
            .boolean("dependency", failure.dependency);
        add_error(object, failure.error);
        failures.push_back(object.raw("words", json_strings(failure_words)).text());
    }
    std::vector<std::string> skipped_lines;
    for (const SkippedLine& line : outcome.skipped) {
        skipped_lines.push_back(
            JsonObject().number("line", line.number).string("text", line.text).text());
    }
    return JsonObject()
               .number("status", status)
               .string("file", file)
               .boolean("dry_run", dry_run)
               .raw("plan", json_array(plan))
               .raw("loaded", json_strings(loaded))
               .raw("loaded_by_others", json_strings(by_others))
               .raw("removed", json_strings(removed))
               .raw("gone", json_strings(gone))
               .raw("kept", json_array(kept))
               .raw("skipped", json_array(skipped))
               .raw("missing", json_strings(outcome.missing))
               .raw("failures", json_array(failures))
               .raw("skipped_lines", json_array(skipped_lines))
               .text() +
           "\n";
}

std::string load_json_before(const std::string& file, const Error& error,
                             const std::vector<std::string>& words, int status) {
    LoadFailure failure;
    failure.stage = LoadStage::opening;
    failure.path = file;
    failure.error = error;
    LoadOutcome outcome;
    outcome.failure = std::move(failure);
    return load_json(outcome, file, false, words, status);
}

}  // namespace modload::tools
