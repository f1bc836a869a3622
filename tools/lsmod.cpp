// lsmod: the loaded modules, from one read of /proc/modules.
//
// kmod's lsmod reads /sys/module/NAME/{refcnt,holders,...} for every module; a module that goes
// away between those reads shows up with nonsense (negative) numbers. One read of /proc/modules is
// a consistent picture and much cheaper. The default output is kmod's, byte for byte; --json,
// --tree, --sort and module names are for scripts and people.
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <modload/names.hpp>
#include <modload/references.hpp>
#include <modload/snapshot.hpp>

#include "lsmod_output.hpp"
#include "lsmod_trace.hpp"
#include "tool.hpp"

namespace modload::tools {

int run_lsmod(ToolContext& ctx, int argc, char** argv) {
    Reporter report("lsmod", ctx.err);
    CLI::App app("Show the modules loaded in the Linux kernel.", "lsmod");
    bool as_json = false;
    bool as_tree = false;
    bool refs = false;
    bool trace = false;
    std::string sort_key;
    std::vector<std::string> wanted;
    app.add_flag("-j,--json", as_json, "print a JSON array, one object per module");
    app.add_flag("-t,--tree", as_tree, "show which module uses which, as a tree");
    app.add_option("-s,--sort", sort_key, "sort by name, size or refcount")
        ->check(CLI::IsMember({"name", "size", "refcount"}));
    app.add_flag("-r,--refs", refs, "name who holds each MODULE's references");
    app.add_flag("--trace", trace,
                 "follow each MODULE's reference gets and puts live, until Ctrl-C");
    app.add_option("MODULE", wanted, "show only these modules; exit 1 if one is not loaded");
    CommonFlags common;
    add_common_flags(app, common, false);
    if (const int status = parse_command_line(app, argc, argv, ctx, report, common); status >= 0) {
        return status;
    }
    if (as_json && as_tree) {
        report.error("--json and --tree do not go together");
        return 1;
    }
    if ((refs || trace) && (as_tree || !sort_key.empty() || (refs && trace))) {
        report.error("--refs and --trace go with module names only (and --refs with --json)");
        return 1;
    }
    if ((refs || trace) && wanted.empty()) {
        report.error(std::string(refs ? "--refs" : "--trace") + " needs the names of modules");
        return 1;
    }
    if (trace) {
        return run_lsmod_trace(ctx, report, wanted);
    }

    auto snapshot = Snapshot::read(ctx.system);
    if (!snapshot) {
        report.error(snapshot_error_text(snapshot.error()));
        return 1;
    }
    report_skipped_lines(report, snapshot->skipped());
    Modules modules;
    int status = 0;
    if (wanted.empty()) {
        modules.reserve(snapshot->modules().size());
        for (const LoadedModule& m : snapshot->modules()) {
            // --tree starts from the modules nothing else holds; the rest hang below them.
            if (!as_tree || m.holders.empty()) {
                modules.push_back(&m);
            }
        }
    } else {
        std::set<std::string> seen;
        for (const std::string& argument : wanted) {
            const std::string name = module_name_from_argument(argument);
            const LoadedModule* m = snapshot->find(name);
            if (m == nullptr) {
                report.error("Module " + name + " is not currently loaded");
                status = 1;
            } else if (seen.insert(name).second) {
                modules.push_back(m);
            }
        }
    }
    if (!sort_key.empty()) {
        (void)sort_modules(modules, sort_key);  // CLI11 checked the key
    }

    std::string out;
    if (refs && modules.empty()) {
        // every module named is missing, and said so
    } else if (refs) {
        std::vector<std::string> names;
        for (const LoadedModule* m : modules) {
            names.push_back(m->name);
        }
        std::vector<UnreadSource> unread;
        const ReferenceReport found =
            find_references(ctx, report, *snapshot, names, false, &unread);
        out = as_json ? refs_json(found, unread) : refs_text(found);
    } else if (as_json) {
        out = json(modules);
    } else if (as_tree) {
        out = tree(*snapshot, modules, ctx.out_is_terminal);
    } else {
        out = table(modules);
    }
    ctx.out.write(out.data(), static_cast<std::streamsize>(out.size()));
    ctx.out.flush();
    return ctx.out ? status : 1;
}

}  // namespace modload::tools
