// A Kernel that is a model of the kernel's module rules (modload/lifecycle.hpp), not a script:
// a module table that the system calls change as kernel/module/main.c does, a simulated time in
// which inits and exits take a while, other processes that load, remove and use modules, and
// <root>/proc/modules printed after every change, so the library sees the model's state.
//
// What is modelled: delete_module's checks in the kernel's order (ENOENT, EWOULDBLOCK for holders,
// EBUSY when not Live, EBUSY for [permanent], EWOULDBLOCK for references; O_TRUNC with
// CONFIG_MODULE_FORCE_UNLOAD passes the last two), GOING while the exit runs, then freed; loads
// that wait for a COMING module of the same name and then answer EEXIST (it went Live) or EBUSY,
// EBUSY while one is GOING, ENOENT (unknown symbol) for a dependency that is missing or going, a
// wait for a dependency that is COMING, COMING while the init runs, then Live or freed with the
// init's errno. Not modelled: the 6.5 deduplication of concurrent finit_module of one file (later
// callers get the first one's result), parameters, signatures, /sys/module.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <modload/clock.hpp>
#include <modload/kernel.hpp>
#include <modload/lifecycle.hpp>

namespace modload::testing {

using Millis = std::chrono::milliseconds;

/// Whether `syscall` ("finit_module", "init_module", "delete_module") can really answer
/// `errno_value`: the kernel's own refusals and the generic errors of any system call.
bool kernel_can_answer(const std::string& syscall, int errno_value);

/// Who changed the world: this process (the library under test) or another one.
enum class Actor { us, other };

/// One module of the model's table. Tests describe modules with it; the model keeps it current.
struct ModelModule {
    std::string name{};
    std::uint64_t size = 16384;
    ModuleState state = ModuleState::live;
    /// References from outside modules: try_module_get users, open files.
    int references = 0;
    /// The modules this one uses (its dependencies): it is a holder of each, and holds one
    /// reference on each.
    std::vector<std::string> uses{};
    /// An init but no exit: delete_module answers EBUSY ("[permanent]").
    bool permanent = false;
    std::string taints{};  ///< taint letters, e.g. "OE"
    std::uint64_t address = 0;
    /// How long the init and the exit take, in simulated time.
    Millis init_time{0};
    Millis exit_time{0};
    /// The errno the init returns (0: it succeeds). The kernel then frees the module.
    int init_errno = 0;
    /// Modules this one holds an outside reference on while it is listed, besides its use: its
    /// exit drops them. netconsole registers a configfs subsystem, which pins configfs's own
    /// mount (simple_pin_fs): configfs's refcount is one above its holders until netconsole goes.
    std::vector<std::string> pins{};
    /// How long after this module is freed its pins are dropped (0: as it is freed). The kernel
    /// releases configfs's pinned internal mount from delayed_mntput_work one jiffy after the
    /// last mntput (fs/namespace.c): configfs is in use for a moment after target_core_mod goes.
    Millis pin_release{0};
};

/// One system call of ours, with the kernel's answer.
struct ModelCall {
    Millis at{0};         ///< simulated time at its entry
    std::string syscall;  ///< "finit_module", "init_module" or "delete_module"
    std::string name;     ///< the module named (loads: read from the image)
    unsigned flags = 0;
    int answer = 0;  ///< 0 or the errno
    /// delete_module: the module's holders and outside references when the kernel judged the call
    /// (after the entry hook), for checks such as "an unused dependency was never forced out".
    std::vector<std::string> holders;
    int references = 0;
};

/// A change of the module table.
struct ModelEvent {
    enum class Kind {
        load_started,    ///< listed as Loading (COMING)
        loaded,          ///< Live
        load_failed,     ///< the init failed; freed
        unload_started,  ///< Unloading (GOING)
        removed,         ///< freed after its exit
        reference_taken,
        reference_dropped,
    };
    Millis at{0};
    Actor who = Actor::us;
    Kind kind = Kind::loaded;
    std::string name{};
};

/// Where the model calls its step hook: the points between which other processes may act.
enum class StepPoint {
    syscall_entry,  ///< at the entry of one of our system calls
    inside_init,    ///< our load is inside a slow init, or waits for another's COMING module
    inside_exit,    ///< our delete_module is inside a slow exit
    clock,          ///< our clock's now() or sleep (ModelClock)
};

std::string_view step_point_name(StepPoint point);
std::string_view event_kind_name(ModelEvent::Kind kind);

class ModelKernel final : public Kernel {
  public:
    /// Keeps <root>/proc/modules (folders created). `builtin` names count as present when a load
    /// needs them; delete_module of one answers ENOENT as it is not in the module list.
    explicit ModelKernel(std::filesystem::path root, std::vector<std::string> builtin = {});

    // ---- the world as a test sets it up (no system call, no event) ----

    /// Puts `module` in the table as the newest module, in the state it says. A Loading or
    /// Unloading module finishes after its init_time or exit_time (by another process). Its
    /// dependencies must be in the table.
    void add(ModelModule module);
    /// Forgets every module, call, event and queued answer; time goes back to 0.
    void reset();
    /// The behaviour of the next load of `name`, by us or another process: init time and errno,
    /// exit time, size, taints, permanence.
    void configure(const std::string& name, Millis init_time, Millis exit_time = Millis{0},
                   int init_errno = 0);
    void set_permanent(const std::string& name, bool permanent);
    /// CONFIG_MODULE_FORCE_UNLOAD (default: on): whether O_TRUNC does anything.
    void set_force_unload(bool supported) { force_unload_ = supported; }
    /// /proc/sys/kernel/modules_disabled: both calls answer EPERM.
    void set_modules_disabled(bool disabled) { modules_disabled_ = disabled; }
    /// The errno the next call of `syscall` ("finit_module", "init_module", "delete_module")
    /// answers, without any effect; once each, in order. Only errnos the kernel can give that
    /// call are accepted (std::invalid_argument otherwise).
    void fail_next(const std::string& syscall, int errno_value);

    // ---- other processes (each answers as the kernel would answer that process) ----

    /// Another process loads `name` using `uses`, with the configured behaviour (configure()).
    /// Returns 0 once it is Loading (Live at once when its init takes no time), or the kernel's
    /// errno; EINPROGRESS where the kernel would make it wait (a COMING module of that name or a
    /// COMING dependency): the process tries again later.
    int other_load(const std::string& name, const std::vector<std::string>& uses);
    /// Another process calls delete_module(name, O_NONBLOCK): 0 once it is Unloading (freed at
    /// once when its exit takes no time), or the kernel's errno.
    int other_remove(const std::string& name);
    /// try_module_get by another process: false when the module is not listed or is going.
    bool get_reference(const std::string& name);
    /// module_put by another process: false when it held none.
    bool put_reference(const std::string& name);

    // ---- time ----

    Millis now() const { return now_; }
    /// Lets `duration` of simulated time pass: inits and exits due in it finish, in time order.
    void advance(Millis duration);
    /// Called at every StepPoint. The hook may act as other processes (other_load, get_reference,
    /// ...) but must not call this model's system calls or advance().
    void on_step(std::function<void(StepPoint)> hook) { hook_ = std::move(hook); }
    /// Runs the step hook (ModelClock calls it).
    void step(StepPoint point);
    /// The longest slice of simulated time that passes between two step hooks inside a slow
    /// init or exit (default 5 ms).
    void set_step_slice(Millis slice) { slice_ = slice; }
    Millis step_slice() const { return slice_; }

    // ---- what happened ----

    const ModelModule* find(const std::string& name) const;
    /// The table, newest first (the kernel's and /proc/modules' order).
    const std::vector<ModelModule>& modules() const { return modules_; }
    /// The modules holding `name`, newest first.
    std::vector<std::string> holders_of(const std::string& name) const;
    /// refcount as the kernel counts it: holders plus references; -1 while going (the base
    /// reference is gone) unless references remain after a forced removal.
    int refcount_of(const ModelModule& module) const;
    const std::vector<ModelCall>& calls() const { return calls_; }
    const std::vector<ModelEvent>& events() const { return events_; }
    /// The /proc/modules text of the current table.
    std::string proc_modules_text() const;
    const std::filesystem::path& proc_modules_path() const { return proc_modules_; }
    /// Calls and events, one a line, in time order: for a failing seed's trace.
    std::string trace() const;
    /// Adds a line to the trace (what an actor tried, say), stamped with the simulated time.
    void annotate(const std::string& line) { note(line); }

    // ---- the Kernel interface: our system calls ----

    Result<void> finit_module(int fd, const std::string& parameters, unsigned flags) override;
    Result<void> init_module(std::span<const std::byte> image,
                             const std::string& parameters) override;
    Result<void> delete_module(const std::string& name, unsigned flags) override;

  private:
    struct Pending {
        Millis due{0};
        std::uint64_t serial = 0;
    };
    // A freed module's pins, dropped later (ModelModule::pin_release).
    struct LateRelease {
        Millis due{0};
        std::string from;
        std::vector<std::string> pins;
    };

    ModelModule* find_mutable(const std::string& name);
    int check_load(const std::string& name, const std::vector<std::string>& uses,
                   bool& must_wait) const;
    int check_remove(const ModelModule& module, unsigned flags) const;
    std::uint64_t start_load(const std::string& name, const std::vector<std::string>& uses,
                             Actor who);
    std::uint64_t start_unload(ModelModule& module, Actor who);
    std::uint64_t begin(const std::string& name, Actor who, Millis duration);
    void finish(std::uint64_t serial);
    void free_module(const std::string& name);
    void drop_pins(const std::vector<std::string>& pins);
    // Drops the late releases due by `until`, in time order.
    void release_due(Millis until);
    void record(Actor who, ModelEvent::Kind kind, const std::string& name);
    void note(const std::string& line);
    Result<void> load_image(const std::string& syscall, std::span<const std::byte> image,
                            unsigned flags);
    Result<void> answer(ModelCall call);
    std::optional<int> queued(const std::string& syscall);
    // Lets simulated time pass, in slices with the step hook between them, until `done`.
    void run_until(const std::function<bool()>& done, StepPoint point);
    void write_proc_modules() const;

    std::filesystem::path proc_modules_;
    std::vector<std::string> builtin_;
    std::vector<ModelModule> modules_;  // newest first
    std::map<std::string, ModelModule> behaviour_;
    // Who started each Loading or Unloading module, by serial, and when it finishes.
    std::map<std::uint64_t, Actor> started_by_;
    std::map<std::string, std::uint64_t> serial_of_;
    std::map<std::uint64_t, int> load_results_;
    std::vector<Pending> pending_;
    std::vector<LateRelease> late_releases_;
    std::map<std::string, std::vector<int>> queued_;
    std::vector<ModelCall> calls_;
    std::vector<ModelEvent> events_;
    std::vector<std::string> trace_;
    std::function<void(StepPoint)> hook_;
    Millis now_{0};
    Millis slice_{5};
    std::uint64_t next_serial_ = 1;
    std::uint64_t next_address_ = 0xffffffffc0000000;
    bool force_unload_ = true;
    bool modules_disabled_ = false;
    bool in_hook_ = false;
};

/// A Clock on the model's simulated time: now() and every sleep run the step hook, and a sleep
/// lets its time pass in slices (so other processes act and inits and exits finish meanwhile).
class ModelClock final : public Clock {
  public:
    explicit ModelClock(ModelKernel& kernel) : kernel_(kernel) {}

    std::chrono::steady_clock::time_point now() override;
    void sleep_for(std::chrono::milliseconds duration) override;

    /// A sleep returns early once `interrupted` says so (a signal arrived), as nanosleep does.
    void interrupt_when(std::function<bool()> interrupted) {
        interrupted_ = std::move(interrupted);
    }
    const std::vector<Millis>& sleeps() const { return sleeps_; }

  private:
    ModelKernel& kernel_;
    std::function<bool()> interrupted_;
    std::vector<Millis> sleeps_;
};

}  // namespace modload::testing
