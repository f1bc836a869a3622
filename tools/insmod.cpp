// insmod: load one module file, as kmod's insmod does, with parameters the kernel sees whole.
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <modload/loader.hpp>
#include <modload/module_file.hpp>

#include "tool.hpp"

namespace modload::tools {

namespace {

std::string_view method_name(LoadMethod method) {
    switch (method) {
        case LoadMethod::finit_compressed:
            return "finit_module, decompressed by the kernel";
        case LoadMethod::init:
            return "init_module, decompressed here";
        case LoadMethod::finit:
            break;
    }
    return "finit_module";
}

Result<ModuleFile> open_module(ToolContext& ctx, const std::string& path) {
    if (path != "-") {
        return ModuleFile::open(path);
    }
    // Standard input: a pipe cannot go to finit_module, so it is read and sent by init_module.
    UniqueFd in(::fcntl(ctx.stdin_fd, F_DUPFD_CLOEXEC, 0));
    if (!in.valid()) {
        return make_error(errno, "standard input");
    }
    return ModuleFile::adopt(std::move(in), path);
}

}  // namespace

int run_insmod(ToolContext& ctx, int argc, char** argv) {
    Reporter report("insmod", ctx.err);
    CLI::App app("Insert a module into the Linux kernel.", "insmod");
    bool force = false;
    bool force_modversion = false;
    bool force_vermagic = false;
    bool use_syslog = false;
    bool version = false;
    bool ignored = false;
    int verbose = 0;
    std::string file;
    std::vector<std::string> parameters;
    app.add_flag("-f,--force", force, "ignore symbol versions and the version magic (taints)");
    app.add_flag("--force-modversion", force_modversion, "ignore symbol versions");
    app.add_flag("--force-vermagic", force_vermagic, "ignore the version magic");
    app.add_flag("-s,--syslog", use_syslog, "report errors to syslog, not stderr");
    app.add_flag("-v,--verbose", verbose, "say what is done");
    app.add_flag("-V,--version", version, "show the version");
    app.add_flag("-p", ignored, "ignored, for compatibility")->group("");
    app.add_option("FILE", file, "the module file, or - for standard input");
    app.add_option("PARAM", parameters, "module parameters, NAME=VALUE");

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
    if (file.empty()) {
        report.error("missing filename.");
        return 1;
    }

    auto module = open_module(ctx, file);
    if (!module) {
        report.error("could not load module " + file + ": " + module.error().message());
        return 1;
    }
    const LoadOptions options{join_parameters(parameters), force || force_modversion,
                              force || force_vermagic};
    auto loaded = load_module(ctx.kernel, *module, options, kernel_decompression(ctx.root));
    if (!loaded) {
        report.error(with_detail(
            "could not insert module " + file + ": " + load_error_text(loaded.error().code),
            loaded.error()));
        return 1;
    }
    report.info("inserted " + (*module->info())->name + " via " + std::string(method_name(*loaded)));
    return 0;
}

}  // namespace modload::tools
