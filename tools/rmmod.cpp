// rmmod: remove loaded modules. The library decides (remove_modules); this file parses options,
// calls it, and chooses words (removal_words.cpp) or, with --json, data.
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <modload/names.hpp>
#include <modload/removal.hpp>

#include "tool.hpp"

namespace modload::tools {

namespace {

// Names holders through find_references(), which says unread sources on the way.
class Namer final : public HolderNamer {
  public:
    Namer(ToolContext& ctx, Reporter& report) : ctx_(ctx), report_(report) {}
    ModuleReferences holders(const LoadedModule& module, bool quiet) override {
        return holders_of(ctx_, report_, module, quiet);
    }

  private:
    ToolContext& ctx_;
    Reporter& report_;
};

// Says what a wait is about: quiet for the first second (most waits end sooner), then once who
// holds the module, and with -v again whenever that changes. Stops at SIGINT or SIGTERM.
class Progress final : public RemovalObserver {
  public:
    Progress(Reporter& report, HolderNamer& namer) : report_(report), namer_(namer) {}

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
            said += holders_summary(namer_.holders(module, !last_said_.empty()));
        }
        if (said != last_said_) {
            report_.note(said);
        }
        last_said_ = said;
    }

    bool waited_for(const std::string& name) const { return waited_for_ == name; }

  private:
    Reporter& report_;
    HolderNamer& namer_;
    std::string waited_for_;
    std::string last_said_;
    std::optional<LoadedModule> last_seen_;
};

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
    bool as_json = false;
    CommonFlags common;
    app.add_flag("-f,--force", options.force,
                 "remove even a module in use; needs CONFIG_MODULE_FORCE_UNLOAD. DANGEROUS");
    CLI::Option* wait = app.add_flag("-w,--wait{-1}", wait_value,
                                     "wait until the module can be removed; -w MSEC or "
                                     "--wait=MSEC for at most MSEC milliseconds each");
    app.add_flag("--remove-holders", options.plan.remove_holders,
                 "first remove the modules that use MODULE");
    app.add_flag(
        "-r,--remove-deps", options.plan.remove_dependencies,
        "then remove the modules MODULE used, and its soft dependencies, that are left unused");
    app.add_flag("-n,--dry-run", options.dry_run, "print what would be removed, in order");
    app.add_flag("--json", as_json, "print what happened as one JSON object");
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
    RemovalJson said(as_json);
    std::vector<std::string> names;
    for (const std::string& argument : arguments) {
        std::string name = module_name_from_argument(argument);
        if (is_valid_module_name(name)) {
            names.push_back(std::move(name));
            continue;
        }
        said.begin(report);
        report.error("could not use module " + argument + ": " + std::strerror(EINVAL) +
                     " (not a module name)");
        said.not_a_name(report, argument);
    }
    const bool planned = options.plan.remove_holders || options.plan.remove_dependencies;
    if (planned && said.failures() > 0) {
        return said.finish(ctx, 1);  // a plan is all or nothing
    }
    const BuiltinModules builtin =
        BuiltinModules::read(ctx.system, ctx.kernel_release).value_or(BuiltinModules());
    options.kernel_release = ctx.kernel_release;
    const StopSignals signals;
    Namer namer(ctx, report);
    Progress progress(report, namer);

    const RemovalOutcome outcome = remove_modules(ctx.system, builtin, names, options, progress);
    say_refused_configuration(report, outcome.refused_configuration);
    report_skipped_lines(report, outcome.skipped);
    say_removal_progress(report, ctx.out, outcome, options.dry_run, as_json);
    for (const RemovalFailure& failure : outcome.failures) {
        said.begin(report);
        say_removal_failure(report, namer, ctx.system, failure, progress.waited_for(failure.name));
        said.failure(report, failure);
    }
    if (!outcome.left.empty() && (planned || names.size() > 1)) {
        report.error("stopped: removed" +
                     (outcome.removed.empty() ? " nothing" : names_after_spaces(outcome.removed)) +
                     "; left" + names_after_spaces(outcome.left));
    }
    return said.finish(ctx, said.failures() == 0 && outcome.left.empty() ? 0 : 1, &outcome,
                       options.dry_run);
}

}  // namespace modload::tools
