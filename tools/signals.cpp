#include "signals.hpp"

#include <iostream>

namespace modload::tools {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int signal) {
    g_stop_signal = signal;
}

// Installs the noting handler for `signal`, saving the old action in `saved`. A signal the
// caller ignores (a background job of a script ignores SIGINT) stays ignored.
void note_instead(int signal, struct sigaction& saved) {
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    (void)sigaction(signal, nullptr, &saved);
    if (saved.sa_handler != SIG_IGN) {
        (void)sigaction(signal, &action, nullptr);
    }
}

}  // namespace

StopSignals::StopSignals(bool with_hangup) : with_hangup_(with_hangup) {
    g_stop_signal = 0;
    note_instead(SIGINT, interrupt_);
    note_instead(SIGTERM, terminate_);
    if (with_hangup_) {
        note_instead(SIGHUP, hangup_);
        struct sigaction ignore {};
        ignore.sa_handler = SIG_IGN;
        sigemptyset(&ignore.sa_mask);
        (void)sigaction(SIGPIPE, &ignore, &pipe_);
    }
}

StopSignals::~StopSignals() {
    (void)sigaction(SIGINT, &interrupt_, nullptr);
    (void)sigaction(SIGTERM, &terminate_, nullptr);
    if (with_hangup_) {
        (void)sigaction(SIGHUP, &hangup_, nullptr);
        (void)sigaction(SIGPIPE, &pipe_, nullptr);
    }
}

int stop_signal() {
    return g_stop_signal;
}

void note_stop_signal(int signal) {
    g_stop_signal = signal;
}

void clear_stop_signal() {
    g_stop_signal = 0;
}

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

}  // namespace modload::tools
