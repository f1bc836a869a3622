// rmmod: remove loaded modules, with kmod's checks in kmod's order and words; and what kmod cannot
// do: wait for a module in use (--wait), remove its holders first (--remove-holders) and the
// dependencies it leaves unused (--remove-deps).
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <modload/names.hpp>
#include <modload/removal.hpp>
#include <modload/removal_plan.hpp>
#include <modload/snapshot.hpp>
#include <modload/unload.hpp>

#include "tool.hpp"

namespace modload::tools {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int signal) { g_stop_signal = signal; }

// SIGINT and SIGTERM end a wait cleanly: the handler only notes the signal, and without
// SA_RESTART the backoff sleep returns at once so the wait loop sees it.
class StopSignals {
public:
    StopSignals() {
        g_stop_signal = 0;
        struct sigaction action {};
        action.sa_handler = on_stop_signal;
        sigemptyset(&action.sa_mask);
        (void)sigaction(SIGINT, &action, &old_int_);
        (void)sigaction(SIGTERM, &action, &old_term_);
    }
    ~StopSignals() {
        (void)sigaction(SIGINT, &old_int_, nullptr);
        (void)sigaction(SIGTERM, &old_term_, nullptr);
    }
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

private:
    struct sigaction old_int_ {};
    struct sigaction old_term_ {};
};

// Prints why `check` forbids removal; false when nothing does.
bool explain_block(Reporter& report, const std::string& name, const RemovalCheck& check) {
    switch (check.block) {
        case RemovalBlock::none:
            return false;
        case RemovalBlock::builtin:
            report.error("Module " + name + " is builtin.");
            break;
        case RemovalBlock::not_loaded:
            report.error("Module " + name + " is not currently loaded");
            break;
        case RemovalBlock::has_holders: {
            std::string text = "Module " + name + " is in use by:";
            for (const std::string& holder : check.module->holders) {
                text += " " + holder;
            }
            report.error(text);
            break;
        }
        case RemovalBlock::in_use:
            report.error("Module " + name + " is in use");
            break;
        case RemovalBlock::unload_unsupported:
            report.error("Module unloading is not supported");
            break;
    }
    return true;
}

struct Options {
    bool force = false;
    std::optional<WaitPolicy> wait;
    PlanOptions plan;
    bool dry_run = false;
    std::vector<std::string> arguments;
};

// -w and --wait wait without limit; --wait=MSEC for at most MSEC milliseconds.
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

class Remover {
public:
    Remover(ToolContext& ctx, Reporter& report, const Options& options, Snapshot snapshot)
        : ctx_(ctx),
          report_(report),
          options_(options),
          snapshot_(std::move(snapshot)),
          builtin_(BuiltinModules::read(ctx.root, ctx.kernel_release).value_or(BuiltinModules())) {}

    int run();

private:
    // The kernel's name for `argument` when kmod's checks let it go; reports and counts failures.
    std::optional<std::string> check(const std::string& argument);
    int run_each();
    int run_planned();
    WaitObserver observer();
    std::string users_now(std::string_view name);
    void report_removal_error(const std::string& argument, const std::string& name,
                              const Error& error);

    ToolContext& ctx_;
    Reporter& report_;
    const Options& options_;
    Snapshot snapshot_;
    BuiltinModules builtin_;
    int failures_ = 0;
    std::string waiting_for_;
    std::string last_said_;
};

std::optional<std::string> Remover::check(const std::string& argument) {
    std::string name = module_name_from_argument(argument);
    if (!is_valid_module_name(name)) {
        report_.error("could not use module " + argument + ": " + std::strerror(EINVAL) +
                      " (not a module name)");
        ++failures_;
        return std::nullopt;
    }
    if (options_.force) {
        return name;
    }
    RemovalCheck check = check_removal(snapshot_, builtin_, ctx_.root, name);
    // What a wait waits for, and what removing the holders first clears, is no reason to refuse.
    const bool waitable =
        check.block == RemovalBlock::has_holders || check.block == RemovalBlock::in_use;
    if ((options_.wait && waitable) ||
        (options_.plan.remove_holders && check.block == RemovalBlock::has_holders)) {
        check.block = RemovalBlock::none;
    }
    if (explain_block(report_, name, check)) {
        ++failures_;
        return std::nullopt;
    }
    return name;
}

std::string Remover::users_now(std::string_view name) {
    auto now = Snapshot::read(ctx_.root);
    const LoadedModule* m = now ? now->find(name) : nullptr;
    return m != nullptr ? describe_users(*m) : "no longer listed";
}

WaitObserver Remover::observer() {
    return [this](std::string_view name, std::chrono::milliseconds waited) {
        if (g_stop_signal != 0) {
            return false;
        }
        if (name != waiting_for_) {
            waiting_for_ = name;
            last_said_.clear();
        }
        // Quiet for the first second: most waits end sooner. Then say once what holds the
        // module, and with -v again whenever that changes.
        if (waited < std::chrono::seconds(1)) {
            return true;
        }
        const std::string said = "waiting for " + std::string(name) + ": " + users_now(name);
        if (last_said_.empty() || (report_.verbosity() > 0 && said != last_said_)) {
            report_.note(said);
        }
        last_said_ = said;
        return true;
    };
}

void Remover::report_removal_error(const std::string& argument, const std::string& name,
                                   const Error& error) {
    if (error.code == ETIMEDOUT) {
        report_.error("could not remove module " + argument + ": still in use " + error.detail +
                      ": " + users_now(name));
    } else if (error.code == EWOULDBLOCK || error.code == EAGAIN) {
        report_.error("could not remove module " + argument + ": " + error.message() +
                      " (still in use: " + users_now(name) + ")");
    } else if (error.code == ECANCELED) {
        report_.error("interrupted while waiting for " + name + ": " + users_now(name));
    } else {
        report_.error("could not remove module " + argument + ": " + error.message());
    }
}

int Remover::run_each() {
    for (const std::string& argument : options_.arguments) {
        const std::optional<std::string> name = check(argument);
        if (!name) {
            continue;
        }
        if (options_.dry_run) {
            ctx_.out << *name << '\n';
            continue;
        }
        auto removed = options_.wait ? remove_module_waiting(ctx_.kernel, *name, options_.force,
                                                             *options_.wait, ctx_.clock, observer())
                                     : remove_module(ctx_.kernel, *name, options_.force);
        if (!removed) {
            report_removal_error(argument, *name, removed.error());
            ++failures_;
            if (removed.error().code == ECANCELED) {
                break;
            }
            continue;
        }
        report_.info("removed " + *name);
        // The next argument may have been held by this one: judge it on a fresh snapshot, as
        // kmod does by reading sysfs for each module.
        if (auto fresh = Snapshot::read(ctx_.root)) {
            snapshot_ = std::move(*fresh);
        }
    }
    return failures_ == 0 ? 0 : 1;
}

int Remover::run_planned() {
    std::vector<std::string> targets;
    for (const std::string& argument : options_.arguments) {
        if (auto name = check(argument)) {
            targets.push_back(std::move(*name));
        }
    }
    if (failures_ > 0) {
        return 1;  // a plan is all or nothing: a target that cannot go stops it before it starts
    }
    auto plan = plan_removal(snapshot_, targets, options_.plan);
    if (!plan) {
        report_.error("cannot plan the removal: " + plan.error().message());
        return 1;
    }
    if (options_.dry_run) {
        for (const PlanStep& step : plan->steps) {
            ctx_.out << step.name << '\n';
        }
        return 0;
    }
    const PlanOutcome outcome =
        run_plan(ctx_.kernel, *plan, options_.force, options_.wait, ctx_.clock, observer());
    for (const std::string& name : outcome.removed) {
        report_.info("removed " + name);
    }
    for (const std::string& name : outcome.already_gone) {
        report_.info(name + " was already gone");
    }
    if (outcome.ok()) {
        return 0;
    }
    report_removal_error(outcome.left.front(), outcome.left.front(), *outcome.error);
    std::string summary = "stopped: removed";
    for (const std::string& m : outcome.removed) {
        summary += " " + m;
    }
    summary += outcome.removed.empty() ? " nothing" : "";
    summary += "; left";
    for (const std::string& m : outcome.left) {
        summary += " " + m;
    }
    report_.error(summary);
    return 1;
}

int Remover::run() {
    if (options_.plan.remove_holders || options_.plan.remove_dependencies) {
        return run_planned();
    }
    return run_each();
}

}  // namespace

int run_rmmod(ToolContext& ctx, int argc, char** argv) {
    Reporter report("rmmod", ctx.err);
    CLI::App app("Remove modules from the Linux kernel.", "rmmod");
    Options options;
    std::string wait_value;
    CommonFlags common;
    app.add_flag("-f,--force", options.force,
                 "remove even a module in use; needs CONFIG_MODULE_FORCE_UNLOAD. DANGEROUS");
    CLI::Option* wait = app.add_flag("-w,--wait{-1}", wait_value,
                                     "wait until the module can be removed; --wait=MSEC for at "
                                     "most MSEC milliseconds");
    app.add_flag("--remove-holders", options.plan.remove_holders,
                 "first remove the modules that use MODULE");
    app.add_flag("-r,--remove-deps", options.plan.remove_dependencies,
                 "then remove the modules MODULE used that are left unused");
    app.add_flag("-n,--dry-run", options.dry_run, "print what would be removed, in order");
    add_common_flags(app, common);
    app.add_option("MODULE", options.arguments, "module names or module files");

    if (const int status = parse_command_line(app, argc, argv, ctx, report, common); status >= 0) {
        return status;
    }
    if (wait->count() > 0 && !parse_wait(wait_value, options.wait)) {
        report.error("--wait takes a number of milliseconds, not '" + wait_value + "'");
        return 1;
    }
    if (options.arguments.empty()) {
        report.error("missing module name.");
        return 1;
    }

    auto snapshot = Snapshot::read(ctx.root);
    if (!snapshot) {
        report.error(snapshot_error_text(snapshot.error()));
        return 1;
    }
    std::optional<StopSignals> signals;
    if (options.wait) {
        signals.emplace();
    }
    return Remover(ctx, report, options, std::move(*snapshot)).run();
}

}  // namespace modload::tools
