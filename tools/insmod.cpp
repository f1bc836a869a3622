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
    ToolContext& ctx_;
    Reporter& report_;
    const Options& options_;
};

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
    std::optional<KernelLog> log;
    if (auto opened = KernelLog::open_at_end(ctx_.system); opened && !request.dry_run) {
        log.emplace(std::move(*opened));
    }
    StopObserver observer;
    const LoadOutcome outcome = load_modules(ctx_.system, request, observer);
    const LoadRequest& asked = options_.request;
    const Saying saying{.report = report_,
                        .system = ctx_.system,
                        .file = options_.file,
                        .forced = asked.options.ignore_modversions || asked.options.ignore_vermagic,
                        .dependencies = asked.dependencies,
                        .dry_run = asked.dry_run,
                        .log = log ? &*log : nullptr,
                        .plan_out = ctx_.out,
                        .quiet_plan = options_.json};
    const int status = say_load_outcome(saying, outcome);
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
