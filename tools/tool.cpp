#include "tool.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>

#include <sys/utsname.h>
#include <unistd.h>
#include <syslog.h>

#include <CLI/CLI.hpp>

namespace modload::tools {

ToolContext system_context(Kernel& kernel) {
    struct utsname u {};
    std::string release = ::uname(&u) == 0 ? u.release : "";
    return ToolContext{kernel, SystemRoot("/"), std::move(release), std::cout,
                       std::cerr, 0,               system_clock(),     ::isatty(1) == 1};
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

void add_common_flags(CLI::App& app, CommonFlags& flags, bool with_syslog) {
    if (with_syslog) {
        app.add_flag("-s,--syslog", flags.syslog, "report errors to syslog, not stderr");
        app.add_flag("-v,--verbose", flags.verbose, "say what is done");
    }
    app.add_flag("-V,--version", flags.version, "show the version");
}

int parse_command_line(CLI::App& app, int argc, char** argv, ToolContext& ctx, Reporter& report,
                       const CommonFlags& flags) {
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
