// The signals that stop a tool, in one place: a handler that only notes the signal, and the
// guard that installs it for as long as a tool works.
#pragma once

#include <csignal>

namespace modload::tools {

/// SIGINT and SIGTERM while a tool works (and, for `lsmod --trace`, SIGHUP): the handler only
/// notes the signal (no SA_RESTART, so a sleep or a blocking system call returns early), and the
/// tool stops before its next system call. insmod's and rmmod's main() then restores the default
/// action and raises the signal again, so the calling shell stops as it does for any interrupted
/// command. `with_hangup` also ignores SIGPIPE while it lasts, so that a closed pipe on stdout
/// (`| head`) shows as a failed write, and the tool can undo what it set up.
class StopSignals {
  public:
    explicit StopSignals(bool with_hangup = false);  ///< installs; clears any earlier note
    ~StopSignals();  ///< restores the previous actions; the note stays for main()
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

  private:
    bool with_hangup_;
    struct sigaction interrupt_ {};
    struct sigaction terminate_ {};
    struct sigaction hangup_ {};
    struct sigaction pipe_ {};
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

}  // namespace modload::tools
