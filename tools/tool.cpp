#include "tool.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <map>
#include <string_view>
#include <utility>

#include <sys/utsname.h>
#include <unistd.h>
#include <syslog.h>

#include <CLI/CLI.hpp>

namespace modload::tools {

ToolContext system_context() {
    struct utsname u {};
    std::string release = ::uname(&u) == 0 ? u.release : "";
    return ToolContext{live_system(),   std::move(release), std::cout, std::cerr, 0,
                       ::isatty(1) == 1};
}

Reporter::~Reporter() {
    if (syslog_) {
        closelog();
    }
}

void Reporter::use_syslog() {
    if (!syslog_) {
        openlog(program_.c_str(), LOG_CONS, LOG_DAEMON);
        syslog_ = true;
    }
}

void Reporter::emit(int priority, const char* label, const std::string& text) {
    const std::string line = label[0] != '\0' ? std::string(label) + ": " + text : text;
    if (syslog_) {
        ::syslog(priority, "%s", line.c_str());
        return;
    }
    err_ << program_ << ": " << line << '\n';
    err_.flush();
}

void Reporter::note(const std::string& text) { emit(LOG_NOTICE, "", text); }

void Reporter::note_once(const std::string& text) {
    if (std::find(said_once_.begin(), said_once_.end(), text) == said_once_.end()) {
        said_once_.push_back(text);
        note(text);
    }
}

void Reporter::error(const std::string& text) { emit(LOG_ERR, "ERROR", text); }

void Reporter::info(const std::string& text) {
    if (verbosity_ > 0) {
        emit(LOG_INFO, "INFO", text);
    }
}

std::string load_error_text(int code) {
    switch (code) {
        case ENOEXEC:
            return "Invalid module format";
        case ENOENT:
            return "Unknown symbol in module";
        case ESRCH:
            return "Module has wrong symbol version";
        case EINVAL:
            return "Invalid parameters";
        default:
            return std::strerror(code);
    }
}

std::string with_detail(const std::string& text, const Error& error) {
    return error.detail.empty() ? text : text + " (" + error.detail + ")";
}

namespace {

std::string joined_with_commas(const std::vector<std::string>& names) {
    std::string text;
    for (const std::string& name : names) {
        text += (text.empty() ? "" : ",") + name;
    }
    return text;
}

}  // namespace

std::vector<std::string> refusal_cause_texts(const RefusalDiagnosis& diagnosis,
                                             const RefusedCall& call,
                                             const std::string& file_argument) {
    const PolicyFacts& facts = diagnosis.facts;
    const std::string file =
        file_argument == "-" ? "the module read from standard input" : file_argument;
    const std::string doing =
        call.operation == ModuleOperation::load ? "loading modules" : "removing modules";
    const std::string signature =
        !call.signature_appended ? file + " is not signed"
        : call.forced ? "forcing (-f, --force-modversion, --force-vermagic) makes it ignore " +
                            file + "'s signature"
                      : file + " is signed with a key it may not trust";
    std::vector<std::string> lines;
    for (const PolicyCause cause : diagnosis.causes) {
        switch (cause) {
            case PolicyCause::no_capability:
                if (facts.effective_uid == 0UL) {
                    lines.push_back(
                        "this process runs as root but without CAP_SYS_MODULE, "
                        "which " +
                        doing + " needs");
                } else {
                    lines.push_back("this process" +
                                    (facts.effective_uid
                                         ? " (uid " + std::to_string(*facts.effective_uid) + ")"
                                         : std::string()) +
                                    " lacks CAP_SYS_MODULE: " + doing + " needs root");
                }
                break;
            case PolicyCause::user_namespace:
                lines.push_back(
                    "this process has CAP_SYS_MODULE only inside a user namespace "
                    "(a container): " +
                    doing + " needs it on the host");
                break;
            case PolicyCause::modules_disabled:
                lines.push_back(
                    "/proc/sys/kernel/modules_disabled is 1: module loading and "
                    "removal are disabled until reboot");
                break;
            case PolicyCause::locked_down:
                lines.push_back("the kernel is locked down (" + facts.lockdown.value_or("") +
                                "): it loads only modules signed with a key it trusts, and " +
                                signature);
                break;
            case PolicyCause::blacklisted:
                lines.push_back(call.name +
                                " is blacklisted on the kernel command line "
                                "(module_blacklist=" +
                                joined_with_commas(
                                    facts.module_blacklist.value_or(std::vector<std::string>{})) +
                                ")");
                break;
            case PolicyCause::unsigned_module:
            case PolicyCause::signature_ignored:
                lines.push_back("this kernel requires signed modules (sig_enforce) and " +
                                signature);
                break;
            case PolicyCause::signature_rejected:
                lines.push_back(facts.sig_enforce == true
                                    ? "this kernel requires signed modules (sig_enforce) and " +
                                          file +
                                          " is signed, but with a key the kernel does not "
                                          "trust, or its signature does not match"
                                    : file +
                                          " is signed, but its signature does not verify "
                                          "(the kernel refuses a bad signature even when it "
                                          "does not require one)");
                break;
        }
    }
    return lines;
}

void add_common_flags(CLI::App& app, CommonFlags& flags, bool with_syslog) {
    if (with_syslog) {
        app.add_flag("-s,--syslog", flags.syslog, "report errors to syslog, not stderr");
        app.add_flag("-v,--verbose", flags.verbose, "say what is done");
    }
    app.add_flag("-V,--version", flags.version, "show the version");
}

namespace {

// -h or --help as a word of its own, before any "--".
bool asks_for_help(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--") {
            return false;
        }
        if (arg == "-h" || arg == "--help") {
            return true;
        }
    }
    return false;
}

}  // namespace

int parse_command_line(CLI::App& app, int argc, char** argv, ToolContext& ctx, Reporter& report,
                       const CommonFlags& flags) {
    // CLI11 answers --help by throwing, and the first exception a static build (-Dstatic=true)
    // throws sorts every unwind table entry of the program (crtbeginT.o registers them with
    // libgcc): some 20 million instructions. The plain spellings are answered here, with the
    // same text; usage errors still go through the exception.
    if (asks_for_help(argc, argv)) {
        ctx.out << app.help();
        return 0;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        ctx.out << app.help();
        return 0;
    } catch (const CLI::ParseError& e) {
        report.error(e.what());
        return 1;
    }
    if (flags.version) {
        print_version(ctx);
        return 0;
    }
    if (flags.syslog) {
        report.use_syslog();
    }
    report.set_verbosity(flags.verbose);
    return -1;
}

std::string snapshot_error_text(const Error& error) {
    std::string text = "could not get list of modules: " + error.message();
    if (error.code == ENOENT) {
        text += ": this kernel has no loadable module support";
    }
    return text;
}

void report_skipped_lines(Reporter& report, std::span<const SkippedLine> lines) {
    for (const SkippedLine& line : lines) {
        report.note("/proc/modules line " + std::to_string(line.number) +
                    " not understood, left out: " + line.text);
    }
}

std::string describe_users(const LoadedModule& module) {
    std::string text = "refcount " + (module.refcount ? std::to_string(*module.refcount) : "-");
    if (!module.holders.empty()) {
        text += ", held by:";
        for (const std::string& holder : module.holders) {
            text += " " + holder;
        }
    } else if (module.external_references() > 0) {
        text += ", from outside modules";
    }
    return text;
}

std::string reference_text(const Reference& ref) {
    std::string text;
    switch (ref.kind) {
        case ReferenceKind::module:
            text = "module " + ref.name;
            break;
        case ReferenceKind::open_file: {
            const FileUser& first = ref.users.front();
            text = "pid " + std::to_string(first.pid) + " (" + first.command + ") fd " +
                   std::to_string(first.fd) + " " + ref.name;
            for (std::size_t i = 1; i < ref.users.size(); ++i) {
                const FileUser& u = ref.users[i];
                text += (i == 1 ? " (shared with " : ", ") + std::string("pid ") +
                        std::to_string(u.pid) + " (" + u.command + ") fd " + std::to_string(u.fd);
            }
            text += ref.users.size() > 1 ? ")" : "";
            break;
        }
        case ReferenceKind::mount:
            text = "mount " + ref.name + " (" + ref.fstype + " on " + ref.source;
            if (ref.via != HoldVia::filesystem) {
                text += ", " + std::string(hold_via_name(ref.via));
            }
            text += ")";
            break;
        case ReferenceKind::loop_device:
            text = "loop device " + ref.name + " (backing file " + ref.source + ")";
            break;
        case ReferenceKind::crypto:
            text = "crypto " + ref.name + " (" + ref.source + ")";
            break;
    }
    if (ref.count > 1) {
        text += " (" + std::to_string(ref.count) + " references)";
    }
    if (ref.approximate) {
        text += " (approximate)";
    }
    return text;
}

std::vector<std::string> reference_lines(const ModuleReferences& refs) {
    std::vector<std::string> lines;
    for (const Reference& ref : refs.references) {
        lines.push_back(reference_text(ref));
    }
    if (refs.unattributed > 0) {
        lines.push_back(std::to_string(refs.unattributed) +
                        (refs.unattributed == 1 ? " reference" : " references") +
                        " not attributed");
    }
    if (refs.changed_while_read) {
        lines.push_back("more references found than counted: they changed while being read");
    }
    return lines;
}

namespace {

// Whether `path` is in a process's folder under `proc` ("<root>/proc/"): "<root>/proc/123/fd".
bool in_process_folder(std::string_view path, std::string_view proc) {
    if (!path.starts_with(proc)) {
        return false;
    }
    path.remove_prefix(proc.size());
    const auto slash = path.find('/');
    const std::string_view pid = path.substr(0, slash);
    return slash != std::string_view::npos && !pid.empty() &&
           std::all_of(pid.begin(), pid.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

ReferenceReport find_references(ToolContext& ctx, Reporter& report, const Snapshot& snapshot,
                                const std::vector<std::string>& names, bool quiet,
                                std::vector<Error>* unread_out) {
    ReferenceOptions options;
    options.use_bpf = ctx.system.live();
    options.kernel_release = ctx.kernel_release;
    std::vector<Error> unread;
    ReferenceReport found = attribute_references(ctx.system, snapshot, names, options, unread);
    // What could not be read is said whenever it happens, quiet or not: the references it would
    // have named are missing from what follows, and the reader should know which and why. Process
    // folders that fail alike are one line: not root, every other user's /proc/PID/fd says EACCES.
    const std::string proc = ctx.system.path("/proc").string() + "/";
    std::map<int, std::vector<std::string>> processes;  // by errno
    for (const Error& e : unread) {
        if (in_process_folder(e.detail, proc)) {
            processes[e.code].push_back(e.detail);
        } else {
            report.note_once("could not read " + e.detail + ": " + std::strerror(e.code) +
                             "; references found through it are not named");
        }
    }
    for (auto& [code, paths] : processes) {
        std::sort(paths.begin(), paths.end());
        std::string which = paths.front();
        const std::size_t others = paths.size() - 1;
        if (others > 0) {
            which += " and the like of " + std::to_string(others) +
                     (others == 1 ? " other process" : " other processes");
        }
        report.note_once("could not read " + which + ": " + std::strerror(code) +
                         "; references found through " + (others == 0 ? "it" : "them") +
                         " are not named");
    }
    if (unread_out != nullptr) {
        *unread_out = std::move(unread);
    }
    // Said only where it matters: beside an approximate line, or beside references left
    // unattributed that BPF might have named.
    bool approximate = false;
    bool unattributed = false;
    for (const ModuleReferences& m : found.modules) {
        unattributed = unattributed || m.unattributed > 0;
        for (const Reference& ref : m.references) {
            approximate = approximate || ref.approximate;
        }
    }
    if (quiet || !(approximate || (unattributed && found.files != FileScan::bpf))) {
        return found;
    }
    const std::string why = found.why_not_bpf.empty() ? "" : " (BPF: " + found.why_not_bpf + ")";
    if (found.files == FileScan::proc && approximate) {
        report.note_once("open files found through /proc, marked approximate" + why);
    } else if (found.files == FileScan::proc) {
        report.note_once("open files looked for through /proc only, which misses some" + why);
    } else if (found.files == FileScan::none) {
        report.note_once("open files could not be read: references they hold are not attributed" +
                         why);
    }
    return found;
}

std::vector<std::string> holder_lines(ToolContext& ctx, Reporter& report,
                                      const LoadedModule& module, bool quiet) {
    const Snapshot alone({module});
    const ReferenceReport found = find_references(ctx, report, alone, {module.name}, quiet);
    return reference_lines(found.modules.front());
}

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int signal) { g_stop_signal = signal; }

}  // namespace

struct StopSignals::Saved {
    struct sigaction interrupt {};
    struct sigaction terminate {};
};

StopSignals::StopSignals() : saved_(new Saved) {
    g_stop_signal = 0;
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    (void)sigaction(SIGINT, nullptr, &saved_->interrupt);
    (void)sigaction(SIGTERM, nullptr, &saved_->terminate);
    // A signal the caller ignores (a background job of a script ignores SIGINT) stays ignored.
    if (saved_->interrupt.sa_handler != SIG_IGN) {
        (void)sigaction(SIGINT, &action, nullptr);
    }
    if (saved_->terminate.sa_handler != SIG_IGN) {
        (void)sigaction(SIGTERM, &action, nullptr);
    }
}

StopSignals::~StopSignals() {
    (void)sigaction(SIGINT, &saved_->interrupt, nullptr);
    (void)sigaction(SIGTERM, &saved_->terminate, nullptr);
    delete saved_;
}

int stop_signal() { return g_stop_signal; }

void note_stop_signal(int signal) { g_stop_signal = signal; }

void clear_stop_signal() { g_stop_signal = 0; }

int exit_status_or_reraise(int status) {
    const int signal = g_stop_signal;
    if (signal == 0) {
        return status;
    }
    // Dying of the signal, not exiting 1, is what tells a calling shell to stop too.
    std::cout.flush();
    (void)std::signal(signal, SIG_DFL);
    (void)std::raise(signal);
    return status;
}

void print_version(ToolContext& ctx) {
    ctx.out << "modload version " << MODLOAD_VERSION << "\n+ZSTD +XZ +ZLIB\n";
}

}  // namespace modload::tools
