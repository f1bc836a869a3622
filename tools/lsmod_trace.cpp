// lsmod --trace: the named modules' reference gets and puts, live. The library sets up and
// reads the trace (ModuleTrace); this file checks the names, prints the events and decides when
// to stop: at SIGINT, SIGTERM or SIGHUP, or once every module named is gone.
#include "lsmod_trace.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <set>

#include <unistd.h>

#include <modload/names.hpp>
#include <modload/snapshot.hpp>
#include <modload/trace.hpp>

namespace modload::tools {

namespace {

// Short enough that Ctrl-C, or a module gone without a module_free event seen, ends the trace
// at once to a person's eye.
constexpr std::chrono::milliseconds kPollInterval{200};

// "12.345678 lab_dev +1 refcount 1 pid 4242 (cat) misc_open"
std::string event_line(const ModuleEvent& event) {
    const auto micros = static_cast<unsigned long long>(event.time.count());
    char time[32];
    (void)std::snprintf(time, sizeof time, "%llu.%06llu", micros / 1000000, micros % 1000000);
    return std::string(time) + " " + event.module +
           (event.kind == ModuleEventKind::get ? " +1" : " -1") + " refcount " +
           (event.refcount ? std::to_string(*event.refcount) : "?") + " pid " +
           std::to_string(event.pid) + " (" + event.command + ") " + event.call_site + "\n";
}

void report_open_failure(Reporter& report, const Error& error) {
    report.error("could not start tracing: " + error.message());
    switch (error.code) {
        case ENODEV:
            return report.note("this kernel has no tracefs (it was built without CONFIG_TRACING)");
        case ENOENT:
            return report.note(
                "this kernel has no module trace events (it was built without "
                "CONFIG_TRACEPOINTS)");
        case EEXIST:
            return report.note(
                "an earlier lsmod --trace that was killed left it; remove it with rmdir");
        case EPERM:
        case EACCES:
            return report.note("tracing needs root");
        default:
            return;
    }
}

}  // namespace

int run_lsmod_trace(ToolContext& ctx, Reporter& report, const std::vector<std::string>& arguments) {
    std::vector<std::string> names;
    for (const std::string& argument : arguments) {
        std::string name = module_name_from_argument(argument);
        if (std::find(names.begin(), names.end(), name) == names.end()) {
            names.push_back(std::move(name));
        }
    }
    auto snapshot = Snapshot::read(ctx.system);
    if (!snapshot) {
        report.error(snapshot_error_text(snapshot.error()));
        return 1;
    }
    report_skipped_lines(report, snapshot->skipped());
    // A name that is not loaded is most likely a typo: say so and trace nothing, rather than
    // follow the others until Ctrl-C and only then exit 1.
    bool missing = false;
    for (const std::string& name : names) {
        if (snapshot->find(name) == nullptr) {
            report.error("Module " + name + " is not currently loaded");
            missing = true;
        }
    }
    if (missing) {
        return 1;
    }

    // A hangup (the terminal went away) stops the trace as Ctrl-C does, and a closed pipe on
    // stdout (`| head`) shows as a failed write: either way lsmod removes its tracefs instance.
    const StopSignals signals(true);
    auto trace =
        ModuleTrace::open(ctx.system, names, "modload-lsmod-" + std::to_string(::getpid()));
    if (!trace) {
        report_open_failure(report, trace.error());
        return 1;
    }
    report.note("tracing " + joined(names, " ") + " (Ctrl-C to stop)");

    int status = 0;
    std::set<std::string> left(names.begin(), names.end());
    const auto removed = [&](const std::string& name) {
        if (left.erase(name) > 0) {
            ctx.out << name << ": removed\n";
        }
    };
    // After a stop signal, one more look without waiting prints what came before it.
    for (bool last = false; !left.empty() && !last;) {
        last = stop_signal() != 0;
        auto batch = trace->read(last ? std::chrono::milliseconds(0) : kPollInterval);
        if (!batch) {
            report.error("could not read the trace: " + batch.error().message());
            status = 1;
            break;
        }
        for (const ModuleEvent& event : batch->events) {
            if (event.kind == ModuleEventKind::free) {
                removed(event.module);
            } else if (left.count(event.module) > 0) {
                ctx.out << event_line(event);
            }
        }
        if (batch->lost > 0) {
            report.note("the kernel dropped " + std::to_string(batch->lost) +
                        " events: its trace buffer was full");
        }
        for (const std::string& line : batch->unparsed) {
            report.note("trace line not understood: " + line);
        }
        // A module can be gone without a module_free seen (freed before the events were
        // enabled): once the trace is quiet, /proc/modules decides.
        if (batch->events.empty() && !last) {
            if (auto now = Snapshot::read(ctx.system)) {
                for (const std::string& name : std::set<std::string>(left)) {
                    if (now->find(name) == nullptr) {
                        removed(name);
                    }
                }
            }
        }
        ctx.out.flush();
        if (!ctx.out) {
            report.error("could not write the trace: standard output is closed");
            status = 1;
            break;
        }
    }
    if (auto closed = trace->close(); !closed) {
        report.error("could not undo the tracing setup: " + closed.error().message());
        status = 1;
    }
    return status;
}

}  // namespace modload::tools
