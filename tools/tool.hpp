// What the tools share: the world they run in, and the words they use.
#pragma once

#include <ostream>
#include <string>

#include <modload/kernel.hpp>
#include <modload/result.hpp>
#include <modload/snapshot.hpp>
#include <modload/system_root.hpp>
#include <modload/unload.hpp>

namespace CLI {
class App;
}

namespace modload::tools {

/// Everything a tool touches, so that tests can run it in-process against a fake kernel and a
/// fixture root.
struct ToolContext {
    Kernel& kernel;
    SystemRoot root;
    std::string kernel_release;  ///< uname -r
    std::ostream& out;
    std::ostream& err;
    int stdin_fd = 0;
    Clock& clock = system_clock();
    /// Whether `out` is a terminal: lsmod --tree draws boxes only there.
    bool out_is_terminal = false;
};

/// The running system: "/", uname's release, std::cout and std::cerr.
ToolContext system_context(Kernel& kernel);

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

private:
    void emit(int priority, const char* label, const std::string& text);

    std::string program_;
    std::ostream& err_;
    bool syslog_ = false;
    int verbosity_ = 0;
};

/// insmod's words for the kernel's load errors (kmod's mod_strerror): ENOEXEC is "Invalid module
/// format", ENOENT "Unknown symbol in module", ESRCH "Module has wrong symbol version", EINVAL
/// "Invalid parameters"; anything else strerror.
std::string load_error_text(int code);

/// `text`, then " (detail)" when the error has one.
std::string with_detail(const std::string& text, const Error& error);

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

/// "refcount 2, held by: a b" or "refcount 2, from outside modules": what keeps a module loaded.
std::string describe_users(const LoadedModule& module);

/// "modload version X" and the compressions this build reads.
void print_version(ToolContext& ctx);

int run_insmod(ToolContext& ctx, int argc, char** argv);
int run_rmmod(ToolContext& ctx, int argc, char** argv);
int run_lsmod(ToolContext& ctx, int argc, char** argv);

}  // namespace modload::tools
