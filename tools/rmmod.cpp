// rmmod: remove loaded modules. The library decides (remove_modules); this file parses options
// and chooses words: kmod's where kmod has them, with the reason after.
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <modload/names.hpp>
#include <modload/removal.hpp>

#include "tool.hpp"

namespace modload::tools {

namespace {

std::string joined(const std::vector<std::string>& names) {
    std::string text;
    for (const std::string& name : names) {
        text += " " + name;
    }
    return text;
}

// Says what a wait is about: quiet for the first second (most waits end sooner), then once who
// holds the module, and with -v again whenever that changes. Stops at SIGINT or SIGTERM.
class Progress final : public RemovalObserver {
  public:
    Progress(ToolContext& ctx, Reporter& report) : ctx_(ctx), report_(report) {}

    bool keep_going() override { return stop_signal() == 0; }

    void waiting(const LoadedModule& module, Obstacle obstacle,
                 std::chrono::milliseconds waited) override {
        if (module.name != waited_for_) {  // each module's wait is said on its own
            waited_for_ = module.name;
            last_said_.clear();
            last_seen_.reset();
        }
        if (waited < std::chrono::seconds(1)) {
            return;
        }
        // Naming the holders scans every open file: only when it may be said.
        const bool changed = !last_seen_ || last_seen_->refcount != module.refcount ||
                             last_seen_->holders != module.holders;
        if (!last_said_.empty() && (report_.verbosity() == 0 || !changed)) {
            return;
        }
        last_seen_ = module;
        std::string said = "waiting for " + module.name + ": ";
        if (obstacle == Obstacle::loading) {
            said += "still initializing";
        } else if (obstacle == Obstacle::unloading) {
            said += "another process is removing it";
        } else {
            const std::vector<std::string> lines =
                holder_lines(ctx_, report_, module, !last_said_.empty());
            const bool named =
                !lines.empty() && lines.front().find(" not attributed") == std::string::npos;
            said += (named ? "held by " : "") + joined_lines(lines);
        }
        if (said != last_said_) {
            report_.note(said);
        }
        last_said_ = said;
    }

    bool waited_for(const std::string& name) const { return waited_for_ == name; }

  private:
    static std::string joined_lines(const std::vector<std::string>& lines) {
        std::string text;
        for (const std::string& line : lines) {
            text += (text.empty() ? "" : "; ") + line;
        }
        return text.empty() ? "nothing that can be named" : text;
    }

    ToolContext& ctx_;
    Reporter& report_;
    std::string waited_for_;
    std::string last_said_;
    std::optional<LoadedModule> last_seen_;
};

// kmod's line says a module is in use; these say by whom (the holder modules kmod names are not
// repeated).
void report_holders(ToolContext& ctx, Reporter& report, const LoadedModule& module,
                    bool quiet = false) {
    for (const std::string& line : holder_lines(ctx, report, module, quiet)) {
        if (!line.starts_with("module ")) {
            report.note(module.name + (line.find(" not attributed") != std::string::npos
                                           ? ": " + line
                                           : " is held by " + line));
        }
    }
}

void report_failure(ToolContext& ctx, Reporter& report, const Progress& progress,
                    const RemovalFailure& failure) {
    System& system = ctx.system;
    const std::string& name = failure.name;
    const std::string users = failure.module ? describe_users(*failure.module) : "not listed";
    switch (failure.obstacle) {
        case Obstacle::builtin:
            return report.error("Module " + name + " is builtin.");
        case Obstacle::not_loaded:
            return report.error("Module " + name + " is not currently loaded");
        case Obstacle::has_holders:
            if (failure.error.code != ETIMEDOUT) {
                report.error("Module " + name + " is in use by:" + joined(failure.module->holders));
                return report_holders(ctx, report, *failure.module);
            }
            break;
        case Obstacle::in_use:
            if (failure.error.code != ETIMEDOUT) {
                report.error("Module " + name + " is in use");
                if (failure.module) {
                    report_holders(ctx, report, *failure.module);
                }
                return;
            }
            break;
        case Obstacle::loading:
            if (failure.error.code != ETIMEDOUT) {
                report.error("Module " + name + " is in use");
                return report.note(name +
                                   " is still initializing: its init function has not "
                                   "returned (--wait waits for it)");
            }
            return report.error("could not remove module " + name + ": still initializing " +
                                failure.error.detail);
        case Obstacle::unloading:
            report.error("Module " + name + " is being removed");
            return report.note("another process is removing " + name + " (" + failure.error.detail +
                               ")");
        case Obstacle::unload_unsupported:
            return report.error("Module unloading is not supported");
        case Obstacle::none:
            break;
    }
    if (failure.error.code == ETIMEDOUT) {
        report.error("could not remove module " + name + ": still in use " + failure.error.detail +
                     ": " + users);
        if (failure.module) {
            report_holders(ctx, report, *failure.module, progress.waited_for(name));
        }
    } else if (failure.error.code == ECANCELED) {
        report.error(progress.waited_for(name)
                         ? "interrupted while waiting for " + name + ": " + users
                         : "interrupted before removing " + name);
    } else if (failure.stage == RemovalStage::listing) {
        report.error(snapshot_error_text(failure.error));
    } else if (failure.stage == RemovalStage::planning) {
        report.error("cannot plan the removal: " + failure.error.message());
    } else {
        report.error("could not remove module " + name + ": " + failure.error.message());
        // EPERM is policy: say which one, as far as user space can see it.
        const RefusedCall call{
            .operation = ModuleOperation::remove, .error = failure.error.code, .name = name};
        for (const std::string& line :
             refusal_cause_texts(diagnose_refusal(system, call), call, name)) {
            report.note(line);
        }
    }
}

// kmod's modprobe takes `-w MSEC` as two words; so do we: a word of digits right after -w is
// its value. -w alone and --wait wait without limit.
std::vector<std::string> joined_wait_values(int argc, char** argv) {
    std::vector<std::string> words(argv, argv + argc);
    for (std::size_t i = 1; i + 1 < words.size(); ++i) {
        const std::string& next = words[i + 1];
        if (words[i] == "--") {
            break;
        }
        if (words[i] == "-w" && !next.empty() &&
            next.find_first_not_of("0123456789") == std::string::npos) {
            words[i] = "--wait=" + next;
            words.erase(words.begin() + static_cast<std::ptrdiff_t>(i) + 1);
        }
    }
    return words;
}

bool parse_wait(const std::string& value, std::optional<WaitPolicy>& wait) {
    wait = WaitPolicy{};
    if (value.empty() || value == "true" || value == "-1") {
        return true;
    }
    long long ms = -1;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
    if (ec != std::errc() || end != value.data() + value.size() || ms < 0) {
        return false;
    }
    wait->timeout = std::chrono::milliseconds(ms);
    return true;
}

}  // namespace

int run_rmmod(ToolContext& ctx, int argc, char** argv) {
    Reporter report("rmmod", ctx.err);
    CLI::App app("Remove modules from the Linux kernel.", "rmmod");
    RemovalOptions options;
    std::vector<std::string> arguments;
    std::string wait_value;
    CommonFlags common;
    app.add_flag("-f,--force", options.force,
                 "remove even a module in use; needs CONFIG_MODULE_FORCE_UNLOAD. DANGEROUS");
    CLI::Option* wait = app.add_flag("-w,--wait{-1}", wait_value,
                                     "wait until the module can be removed; -w MSEC or "
                                     "--wait=MSEC for at most MSEC milliseconds each");
    app.add_flag("--remove-holders", options.plan.remove_holders,
                 "first remove the modules that use MODULE");
    app.add_flag("-r,--remove-deps", options.plan.remove_dependencies,
                 "then remove the modules MODULE used that are left unused");
    app.add_flag("-n,--dry-run", options.dry_run, "print what would be removed, in order");
    add_common_flags(app, common);
    app.add_option("MODULE", arguments, "module names or module files");

    std::vector<std::string> words = joined_wait_values(argc, argv);
    std::vector<char*> word_pointers;
    for (std::string& word : words) {
        word_pointers.push_back(word.data());
    }
    const int status = parse_command_line(app, static_cast<int>(word_pointers.size()),
                                          word_pointers.data(), ctx, report, common);
    if (status >= 0) {
        return status;
    }
    if (wait->count() > 0 && !parse_wait(wait_value, options.wait)) {
        report.error("--wait takes a number of milliseconds, not '" + wait_value + "'");
        return 1;
    }
    if (arguments.empty()) {
        report.error("missing module name.");
        return 1;
    }
    int failures = 0;
    std::vector<std::string> names;
    for (const std::string& argument : arguments) {
        std::string name = module_name_from_argument(argument);
        if (is_valid_module_name(name)) {
            names.push_back(std::move(name));
            continue;
        }
        report.error("could not use module " + argument + ": " + std::strerror(EINVAL) +
                     " (not a module name)");
        ++failures;
    }
    const bool planned = options.plan.remove_holders || options.plan.remove_dependencies;
    if (planned && failures > 0) {
        return 1;  // a plan is all or nothing
    }
    const BuiltinModules builtin =
        BuiltinModules::read(ctx.system, ctx.kernel_release).value_or(BuiltinModules());
    const StopSignals signals;
    Progress progress(ctx, report);

    const RemovalOutcome outcome = remove_modules(ctx.system, builtin, names, options, progress);
    report_skipped_lines(report, outcome.skipped);
    if (options.dry_run) {
        for (const PlanStep& step : outcome.plan.steps) {
            ctx.out << step.name << '\n';
        }
    }
    for (const std::string& name : outcome.removed) {
        report.info("removed " + name);
    }
    for (const std::string& name : outcome.gone) {
        report.info(name + " was already gone: removed by another process");
    }
    for (const LoadedModule& module : outcome.kept) {
        report.info("kept " + module.name + ": it is in use (" + describe_users(module) + ")");
    }
    for (const RemovalFailure& failure : outcome.failures) {
        report_failure(ctx, report, progress, failure);
        ++failures;
    }
    if (!outcome.left.empty() && (planned || names.size() > 1)) {
        report.error("stopped: removed" +
                     (outcome.removed.empty() ? " nothing" : joined(outcome.removed)) + "; left" +
                     joined(outcome.left));
    }
    return failures == 0 && outcome.left.empty() ? 0 : 1;
}

}  // namespace modload::tools
