// Following modules' reference gets and puts live, through the kernel's tracefs events
// module:module_get, module:module_put and module:module_free.
//
// The events are read in a tracefs instance of the caller's own (instances/NAME), so that the
// system's main trace buffer, and any other tool's instance, are left as they are; the instance
// filters on the module names asked about. Everything set up is undone by close() or the
// destructor, also after an error half-way: the instance, its enabled events, and the tracefs
// mount when this session mounted it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <modload/export.hpp>
#include <modload/result.hpp>
#include <modload/system.hpp>

namespace modload {

enum class ModuleEventKind {
    get,   ///< module:module_get, from try_module_get or __module_get
    put,   ///< module:module_put
    free,  ///< module:module_free: the module is being freed, after its exit
};

/// One line of an instance's trace_pipe about a module.
struct MODLOAD_API ModuleEvent {
    ModuleEventKind kind = ModuleEventKind::get;
    std::string module;
    /// The task's comm, as the trace recorded it ("<...>" when the kernel no longer knew it).
    std::string command;
    int pid = 0;  ///< the task (thread) id
    int cpu = 0;
    /// The trace clock's time of the event ("local": about the time since boot).
    std::chrono::microseconds time{0};
    /// The function that took or dropped the reference ("misc_open", "__fput"); a function in
    /// a module reads "name [module]". Empty for free.
    std::string call_site;
    /// The refcount after the event as /proc/modules shows it. The event records the kernel's
    /// counter, which holds one more: the base reference (MODULE_REF_BASE) a live module keeps
    /// until it is removed. nullopt for free.
    std::optional<int> refcount;
};

/// Parses one trace_pipe line,
/// `<comm>-<pid> [cpu] flags <sec>.<usec>: module_get: NAME call_site=SITE refcnt=N`.
/// The comm may hold spaces, dashes and brackets: the pid is the number after the last '-'
/// before the [cpu] field. nullopt for anything else (other events, "[LOST n EVENTS]", garbage).
MODLOAD_API std::optional<ModuleEvent> parse_module_event(std::string_view line);

/// The event filter that keeps only `modules`: `name == "a" || name == "b"`. EINVAL when the
/// list is empty or a name is no valid module name (or holds a quote, which the filter language
/// cannot escape).
MODLOAD_API Result<std::string> module_event_filter(std::span<const std::string> modules);

/// What the kernel does beyond plain files in tracefs: mounting it, and making and removing an
/// instance (mkdir fills the new folder with the kernel's own files; rmdir takes them along).
/// Behind an interface so that tests run on a plain folder and never mount anything.
class MODLOAD_API TracefsInterface {
  public:
    virtual ~TracefsInterface() = default;
    /// mount -t tracefs at `target`.
    virtual Result<void> mount(const std::filesystem::path& target) = 0;
    virtual Result<void> unmount(const std::filesystem::path& target) = 0;
    virtual Result<void> make_instance(const std::filesystem::path& folder) = 0;
    virtual Result<void> remove_instance(const std::filesystem::path& folder) = 0;
};

/// mount(2), umount2(2), mkdir(2) and rmdir(2) (system.cpp).
MODLOAD_API TracefsInterface& system_tracefs();

/// What one read of the trace gave.
struct MODLOAD_API TraceBatch {
    std::vector<ModuleEvent> events;
    /// Events the kernel dropped because its buffer was full ("CPU:N [LOST M EVENTS]").
    std::uint64_t lost = 0;
    /// Lines that were neither an event nor a loss, for the caller to mention.
    std::vector<std::string> unparsed;
};

/// A tracefs instance that records the named modules' gets, puts and frees.
class MODLOAD_API ModuleTrace {
  public:
    /// Finds tracefs in /proc/self/mountinfo (at /sys/kernel/tracing, else
    /// /sys/kernel/debug/tracing, else wherever it is mounted) or mounts it at
    /// /sys/kernel/tracing; makes the instance instances/`instance`, filters the three events on
    /// `modules`, opens the instance's trace_pipe and enables the events. A failure undoes what
    /// was done. Errors: ENODEV when the kernel has no tracefs; ENOENT when it has no module
    /// events; EEXIST when the instance already exists; otherwise the errno of the step that
    /// failed, with a detail naming it and its path.
    static Result<ModuleTrace> open(System& system, std::span<const std::string> modules,
                                    const std::string& instance, TracefsInterface& tracefs);
    /// The same through system.tracefs(). The system must outlive the trace.
    static Result<ModuleTrace> open(System& system, std::span<const std::string> modules,
                                    const std::string& instance);

    ModuleTrace(ModuleTrace&&) noexcept;
    ModuleTrace& operator=(ModuleTrace&&) noexcept;
    ~ModuleTrace();  ///< close(), its errors ignored

    /// Waits up to `timeout` for events and returns what has arrived, possibly nothing. A signal
    /// ends the wait early (poll(2) is never restarted), so a caller can check for it.
    Result<TraceBatch> read(std::chrono::milliseconds timeout);

    /// Disables the events, removes the instance and unmounts tracefs if open() mounted it; goes
    /// on after a failed step and returns the first failure. Once closed, closing again does
    /// nothing.
    Result<void> close();

    /// Where tracefs is (under the root), and whether this session mounted it.
    const std::filesystem::path& tracefs() const;
    bool mounted_tracefs() const;
    const std::filesystem::path& instance() const;

  private:
    struct State;
    explicit ModuleTrace(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

}  // namespace modload
