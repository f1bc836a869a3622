// insmod: load one module file, as kmod's insmod does, with parameters the kernel sees whole; and
// what kmod cannot do: say why the kernel refused (its own log), name missing dependencies, and
// load them first (--deps).
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <modload/kernel_log.hpp>
#include <modload/load_plan.hpp>
#include <modload/loader.hpp>
#include <modload/module_file.hpp>
#include <modload/removal.hpp>
#include <modload/snapshot.hpp>

#include "tool.hpp"

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

// "finit_module", or "init_module, decompressed here: its xz check is CRC64, which ...".
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

struct Options {
    LoadOptions load;
    bool deps = false;
    bool dry_run = false;
    std::string file;
};

class Inserter {
  public:
    Inserter(ToolContext& ctx, Reporter& report, const Options& options)
        : ctx_(ctx), report_(report), options_(options) {}

    int run();

  private:
    Result<std::vector<LoadStep>> plan_dependencies_of(const ModuleInfo& info);
    enum class Loaded { inserted, by_someone_else, failed };
    // Loads one file; on failure says so in kmod's words, then what the kernel logged about it.
    // A dependency that someone else loaded meanwhile (udev does at boot) answers EEXIST: that
    // is what was wanted, not a failure.
    Loaded load(ModuleFile& file, const std::string& shown_as, const LoadOptions& options,
                bool dependency);
    // What was loaded before a failure or a signal stopped the run.
    void say_stopped(const std::vector<std::string>& inserted);

    ToolContext& ctx_;
    Reporter& report_;
    const Options& options_;
    Snapshot loaded_;
    BuiltinModules builtin_;
    std::optional<KernelLog> log_;
    // What the kernel decompresses itself: read once, for every load of the run.
    std::optional<Compression> kernel_decompresses_;
    int last_error_ = 0;
};

// Dependencies come from modules.dep, and for names it does not know from FILE's own folder
// (out-of-tree modules built together), never from a place another user could write.
Result<std::vector<LoadStep>> Inserter::plan_dependencies_of(const ModuleInfo& info) {
    const std::filesystem::path file(options_.file);
    const std::filesystem::path folder = file.parent_path().empty() ? "." : file.parent_path();
    auto locator = ModuleLocator::make(ctx_.root, ctx_.kernel_release, folder);
    if (!locator) {
        return locator.error();
    }
    return plan_dependencies(info, loaded_, builtin_, *locator);
}

Inserter::Loaded Inserter::load(ModuleFile& file, const std::string& shown_as,
                                const LoadOptions& options, bool dependency) {
    if (stop_signal() != 0) {
        report_.error("interrupted before loading " + shown_as);
        return Loaded::failed;
    }
    auto loaded = load_module_explained(ctx_.kernel, file, options, kernel_decompresses_);
    if (loaded) {
        report_.info("inserted " + (*file.info())->name + " via " +
                     load_choice_text(*loaded, file.compression()));
        return Loaded::inserted;
    }
    if (dependency && loaded.error().code == EEXIST) {
        report_.info((*file.info())->name + " was loaded meanwhile by another process");
        return Loaded::by_someone_else;
    }
    last_error_ = loaded.error().code;
    report_.error(with_detail(
        "could not insert module " + shown_as + ": " + load_error_text(loaded.error().code),
        loaded.error()));
    auto info = file.info();
    if (info) {
        // EPERM and EKEYREJECTED are policy: say which one, as far as user space can see it.
        const RefusedCall call{
            .operation = ModuleOperation::load,
            .error = last_error_,
            .name = (*info)->name,
            .signature_appended = (*info)->signature_appended,
            .forced = options.ignore_modversions || options.ignore_vermagic,
        };
        for (const std::string& line :
             refusal_cause_texts(diagnose_refusal(ctx_.root, call), call, shown_as)) {
            report_.note(line);
        }
    }
    if (log_ && info) {
        if (auto messages = log_->read_new()) {
            for (const std::string& m : messages_about(*messages, (*info)->name)) {
                report_.note("kernel: " + m);
            }
        }
    }
    return Loaded::failed;
}

void Inserter::say_stopped(const std::vector<std::string>& inserted) {
    std::string text = "stopped before loading " + options_.file + "; ";
    if (inserted.empty()) {
        text += "no dependency was loaded";
    } else {
        text += "loaded before the failure, and still loaded:";
        for (const std::string& name : inserted) {
            text += " " + name;
        }
    }
    report_.note(text);
}

int Inserter::run() {
    auto module = open_module(ctx_, options_.file);
    if (!module) {
        report_.error("could not load module " + options_.file + ": " + module.error().message());
        return 1;
    }
    // A file that is not a module never reaches the kernel.
    auto info = module->info();
    if (!info) {
        report_.error(with_detail(
            "could not insert module " + options_.file + ": " + load_error_text(info.error().code),
            info.error()));
        return 1;
    }
    // Without --deps these only name what a refusal lacks: an unreadable one costs a hint. With
    // --deps they decide what is loaded, so they must be read.
    auto loaded = Snapshot::read(ctx_.root);
    auto builtin = BuiltinModules::read(ctx_.root, ctx_.kernel_release);
    if (options_.deps && !loaded) {
        report_.error(snapshot_error_text(loaded.error()));
        return 1;
    }
    if (options_.deps && !builtin) {
        report_.error("could not read modules.builtin: " + builtin.error().message());
        return 1;
    }
    loaded_ = loaded.value_or(Snapshot());
    report_skipped_lines(report_, loaded_.skipped());
    builtin_ = builtin.value_or(BuiltinModules());
    const std::vector<std::string> missing = missing_dependencies(**info, loaded_, builtin_);

    std::vector<LoadStep> steps;
    if (options_.deps) {
        auto planned = plan_dependencies_of(**info);
        if (!planned) {
            report_.error("could not resolve the dependencies of " + options_.file + ": " +
                          planned.error().message());
            return 1;
        }
        steps = std::move(*planned);
        for (const LoadStep& step : steps) {
            report_.info("dependency " + step.name + ": " + step.path.string() + " (" +
                         std::string(module_source_name(step.source)) + ")");
        }
    } else {
        for (const std::string& name : missing) {
            report_.info((*info)->name + " depends on " + name + ", which is not loaded");
        }
    }
    if (options_.dry_run) {
        for (const LoadStep& step : steps) {
            ctx_.out << step.path.string() << '\n';
        }
        ctx_.out << options_.file << '\n';
        return 0;
    }

    kernel_decompresses_ = kernel_decompression(ctx_.root);
    if (auto log = KernelLog::open_at_end(ctx_.root)) {
        log_.emplace(std::move(*log));
    }
    std::vector<std::string> inserted;
    for (const LoadStep& step : steps) {
        // Dependencies take no parameters; forcing applies to them as to the module. The file
        // is the one the plan opened and inspected.
        const LoadOptions dep_options{"", options_.load.ignore_modversions,
                                      options_.load.ignore_vermagic};
        const Loaded loaded = load(*step.file, step.path.string(), dep_options, true);
        if (loaded == Loaded::failed) {
            say_stopped(inserted);
            return 1;
        }
        if (loaded == Loaded::inserted) {
            inserted.push_back(step.name);
        }
    }
    if (load(*module, options_.file, options_.load, false) == Loaded::failed) {
        if (stop_signal() != 0 && !steps.empty()) {
            say_stopped(inserted);
        } else if (!inserted.empty()) {
            std::string text = "its dependencies loaded before, and still loaded:";
            for (const std::string& name : inserted) {
                text += " " + name;
            }
            report_.note(text);
        }
        if (last_error_ == ENOENT && !missing.empty() && !options_.deps) {
            std::string text = "missing dependencies:";
            for (const std::string& name : missing) {
                text += " " + name;
            }
            report_.note(text + " (load them first, or use insmod --deps)");
        }
        return 1;
    }
    return 0;
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
    app.add_flag("-d,--deps", options.deps,
                 "load the missing dependencies first (from modules.dep, or FILE's folder)");
    app.add_flag("-n,--dry-run", options.dry_run, "print the files that would be loaded, in order");
    add_common_flags(app, common);
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
    if (options.deps && options.file == "-") {
        report.error("--deps needs a module file, not standard input");
        return 1;
    }
    options.load = LoadOptions{join_parameters(parameters), force || force_modversion,
                               force || force_vermagic};
    const StopSignals signals;
    return Inserter(ctx, report, options).run();
}

}  // namespace modload::tools
