// rmmod: remove loaded modules, with kmod's checks in kmod's order and words.
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <modload/names.hpp>
#include <modload/removal.hpp>
#include <modload/snapshot.hpp>

#include "tool.hpp"

namespace modload::tools {

namespace {

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

}  // namespace

int run_rmmod(ToolContext& ctx, int argc, char** argv) {
    Reporter report("rmmod", ctx.err);
    CLI::App app("Remove modules from the Linux kernel.", "rmmod");
    bool force = false;
    bool use_syslog = false;
    bool version = false;
    int verbose = 0;
    std::vector<std::string> arguments;
    app.add_flag("-f,--force", force,
                 "remove even a module in use; needs CONFIG_MODULE_FORCE_UNLOAD. DANGEROUS");
    app.add_flag("-s,--syslog", use_syslog, "report errors to syslog, not stderr");
    app.add_flag("-v,--verbose", verbose, "say what is done");
    app.add_flag("-V,--version", version, "show the version");
    app.add_option("MODULE", arguments, "module names or module files");

    if (const int status = parse_command_line(app, argc, argv, ctx, report); status >= 0) {
        return status;
    }
    if (version) {
        print_version(ctx);
        return 0;
    }
    if (use_syslog) {
        report.use_syslog();
    }
    report.set_verbosity(verbose);
    if (arguments.empty()) {
        report.error("missing module name.");
        return 1;
    }

    auto snapshot = Snapshot::read(ctx.root);
    if (!snapshot) {
        std::string text = "could not get list of modules: " + snapshot.error().message();
        if (snapshot.error().code == ENOENT) {
            text += ": this kernel has no loadable module support";
        }
        report.error(text);
        return 1;
    }
    const BuiltinModules builtin =
        BuiltinModules::read(ctx.root, ctx.kernel_release).value_or(BuiltinModules());

    int failures = 0;
    for (const std::string& argument : arguments) {
        const std::string name = module_name_from_argument(argument);
        if (!is_valid_module_name(name)) {
            report.error("could not use module " + argument + ": " + std::strerror(EINVAL) +
                         " (not a module name)");
            ++failures;
            continue;
        }
        if (!force && explain_block(report, name, check_removal(*snapshot, builtin, ctx.root, name))) {
            ++failures;
            continue;
        }
        if (auto removed = remove_module(ctx.kernel, name, force); !removed) {
            report.error("could not remove module " + argument + ": " + removed.error().message());
            ++failures;
            continue;
        }
        report.info("removed " + name);
        // The next argument may have been held by this one: judge it on a fresh snapshot.
        if (&argument != &arguments.back()) {
            if (auto fresh = Snapshot::read(ctx.root)) {
                snapshot = std::move(fresh);
            }
        }
    }
    return failures == 0 ? 0 : 1;
}

}  // namespace modload::tools
