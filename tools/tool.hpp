// What the tools share: the world they run in, and the words they use.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <modload/kernel.hpp>
#include <modload/policy.hpp>
#include <modload/references.hpp>
#include <modload/result.hpp>
#include <modload/snapshot.hpp>
#include <modload/system.hpp>

namespace CLI {
class App;
}

namespace modload::tools {

/// Everything a tool touches, so that tests can run it in-process against a fake kernel and a
/// fixture root.
struct ToolContext {
    /// The files, kernel, clock and processes the tool works on.
    System& system;
    std::string kernel_release;  ///< uname -r
    std::ostream& out;
    std::ostream& err;
    int stdin_fd = 0;
    /// Whether `out` is a terminal: lsmod --tree draws boxes only there.
    bool out_is_terminal = false;
};

/// The running system (live_system(): the one place the tools make it), uname's release,
/// std::cout and std::cerr.
ToolContext system_context();

/// Says things the way kmod's tools do: "PROGRAM: ERROR: text" on stderr or to syslog.
class Reporter {
public:
    Reporter(std::string program, std::ostream& err) : program_(std::move(program)), err_(err) {}
    ~Reporter();
    Reporter(const Reporter&) = delete;
    Reporter& operator=(const Reporter&) = delete;

    void use_syslog();
    void set_verbosity(int verbosity) { verbosity_ = verbosity; }
    int verbosity() const { return verbosity_; }

    void error(const std::string& text);
    /// "PROGRAM: text": explanations that follow an error, and progress (waiting for X).
    void note(const std::string& text);
    /// Printed only with -v.
    void info(const std::string& text);
    /// note(), unless this text was said before in this run.
    void note_once(const std::string& text);

private:
    void emit(int priority, const char* label, const std::string& text);

    std::string program_;
    std::ostream& err_;
    bool syslog_ = false;
    int verbosity_ = 0;
    std::vector<std::string> said_once_;
};

/// insmod's words for the kernel's load errors (kmod's mod_strerror): ENOEXEC is "Invalid module
/// format", ENOENT "Unknown symbol in module", ESRCH "Module has wrong symbol version", EINVAL
/// "Invalid parameters"; anything else strerror.
std::string load_error_text(int code);

/// `text`, then " (detail)" when the error has one.
std::string with_detail(const std::string& text, const Error& error);

/// One line per policy cause of a refused load or removal (EPERM, EKEYREJECTED), in words a
/// person can act on, to follow kmod's line; `file` names the module file of a load.
std::vector<std::string> refusal_cause_texts(const RefusalDiagnosis& diagnosis,
                                             const RefusedCall& call, const std::string& file);

/// The options every tool has: -s, -v and -V.
struct CommonFlags {
    bool syslog = false;
    int verbose = 0;
    bool version = false;
};

/// Adds -s/--syslog (unless `with_syslog` is false), -v/--verbose and -V/--version.
void add_common_flags(CLI::App& app, CommonFlags& flags, bool with_syslog = true);

/// Parses the command line and acts on the common flags. Returns -1 to go on, or the exit
/// status: 0 after --help or --version, 1 after a usage error (as kmod: never CLI11's own codes).
int parse_command_line(CLI::App& app, int argc, char** argv, ToolContext& ctx, Reporter& report,
                       const CommonFlags& flags);

/// Why the loaded-module list could not be read, for "could not get list of modules: ...".
std::string snapshot_error_text(const Error& error);

/// Says, one line each, which /proc/modules lines were left out as not understood.
void report_skipped_lines(Reporter& report, std::span<const SkippedLine> lines);

/// "refcount 2, held by: a b" or "refcount 2, from outside modules": what keeps a module loaded.
std::string describe_users(const LoadedModule& module);

/// One reference in words: "pid 4242 (sleep) fd 0 /dev/lab_dev", "module nf_nat",
/// "mount /mnt/usb (vfat on /dev/sdb1)", each ending in " (approximate)" when it is.
std::string reference_text(const Reference& ref);

/// The references' lines, then "N references not attributed" when some are.
std::vector<std::string> reference_lines(const ModuleReferences& refs);

/// Who holds each module in `names`, on the running system or the context's root: BPF only on
/// the live system. A note says when open files were found the approximate way, unless `quiet`,
/// and, always, each source that could not be read (also given in `unread` when asked).
ReferenceReport find_references(ToolContext& ctx, Reporter& report, const Snapshot& snapshot,
                                const std::vector<std::string>& names, bool quiet = false,
                                std::vector<Error>* unread = nullptr);

/// Who holds one module, as the snapshot `module` comes from shows it: "held by pid 4242 (sleep)
/// fd 0 /dev/lab_dev; module lab_user; 1 reference not attributed", each reference once.
std::vector<std::string> holder_lines(ToolContext& ctx, Reporter& report,
                                      const LoadedModule& module, bool quiet = false);

/// SIGINT and SIGTERM while a tool works: its handler only notes the signal (no SA_RESTART, so a
/// sleep or a blocking system call returns early), and the tool stops before its next system
/// call. The tool's main() then restores the default action and raises the signal again, so the
/// calling shell stops as it does for any interrupted command.
class StopSignals {
public:
    StopSignals();  ///< installs the handlers and clears any earlier note
    ~StopSignals();  ///< restores the previous handlers; the note stays for main()
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

private:
    struct Saved;
    Saved* saved_;
};

/// The stop signal noted since the last StopSignals was installed, or 0.
int stop_signal();
/// What the handler does; tests call it to deliver a signal at a chosen point.
void note_stop_signal(int signal);
/// Forgets a noted signal (run_tool does, before each in-process run).
void clear_stop_signal();
/// For main(): when a stop signal was noted, restores its default action and raises it, so the
/// process dies of it; otherwise returns `status`.
int exit_status_or_reraise(int status);

/// "modload version X" and the compressions this build reads.
void print_version(ToolContext& ctx);

int run_insmod(ToolContext& ctx, int argc, char** argv);
int run_rmmod(ToolContext& ctx, int argc, char** argv);
int run_lsmod(ToolContext& ctx, int argc, char** argv);

}  // namespace modload::tools
