// The tools' words, in one place: kmod's where kmod has them, and the reason after. Everything
// here turns a typed outcome into text; nothing here decides what happens.
#pragma once

#include <ostream>
#include <span>
#include <string>
#include <vector>

#include <modload/kernel_log.hpp>
#include <modload/loading.hpp>
#include <modload/policy.hpp>
#include <modload/references.hpp>
#include <modload/removal.hpp>
#include <modload/result.hpp>
#include <modload/snapshot.hpp>
#include <modload/system.hpp>

#include "reporter.hpp"

namespace modload::tools {

// ---- shared ------------------------------------------------------------------------------------

/// "a b c" for separator " ": the words with the separator between them.
std::string joined(std::span<const std::string> words, std::string_view separator);

/// " a b c": each name after a space (kmod's "in use by: a b").
std::string names_after_spaces(const std::vector<std::string>& names);

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

/// Why the loaded-module list could not be read, for "could not get list of modules: ...".
std::string snapshot_error_text(const Error& error);

/// Says, one line each, which /proc/modules lines were left out as not understood.
void report_skipped_lines(Reporter& report, std::span<const SkippedLine> lines);

/// Says each configuration file not read because another user could have written it (always).
void say_refused_configuration(Reporter& report, std::span<const ConfigRefusal> refused);

/// "refcount 2, held by: a b" or "refcount 2, from outside modules": what keeps a module loaded.
std::string describe_users(const LoadedModule& module);

/// One reference in words: "pid 4242 (sleep) fd 0 /dev/lab_dev", "module nf_nat",
/// "mount /mnt/usb (vfat on /dev/sdb1)", each ending in " (approximate)" when it is.
std::string reference_text(const Reference& ref);

/// "N references not attributed", or empty when all are.
std::string unattributed_text(const ModuleReferences& refs);

/// Said when more references were found than counted.
inline constexpr const char* kChangedWhileRead =
    "more references found than counted: they changed while being read";

/// The references' lines, then "N references not attributed" when some are.
std::vector<std::string> reference_lines(const ModuleReferences& refs);

/// "could not read /proc/1/fd and the like of 41 other processes: Permission denied; references
/// found through them are not named": one line per unread file, and one per errno for the
/// processes' own files (not root, every other user's /proc/PID/fd says EACCES).
std::vector<std::string> unread_source_lines(const std::vector<UnreadSource>& unread);

// ---- insmod (load_words.cpp) -------------------------------------------------------------------

/// "finit_module", or "init_module, decompressed here: its xz check is CRC64, which ...".
std::string load_choice_text(const LoadChoice& choice, Compression compression);

/// What the configuration decided, one line each: "soft dependency x of y not found; left out
/// (where)", "options for x from where: text".
std::vector<std::string> plan_note_lines(const std::vector<PlanNote>& notes);

/// What a failed call left: "loaded for it and removed again: a b; loaded for it and still
/// loaded: c (now in use)"; empty when it left nothing.
std::string aftermath_text(const LoadOutcome& outcome);

/// The first failure before any load, in kmod's words where kmod has them: one error line and
/// its notes. `file` is the argument.
void say_unloadable(Reporter& report, const LoadFailure& failure, const std::string& file);

/// What insmod's words need besides the outcome.
struct Saying {
    Reporter& report;
    System& system;
    const std::string& file;  ///< FILE as given
    bool forced = false;      ///< -f, --force-modversion or --force-vermagic
    bool dependencies = false;
    bool dry_run = false;
    KernelLog* log = nullptr;  ///< the kernel's log since insmod began, when it could be opened
    std::ostream& plan_out;    ///< where a dry run prints its files
    bool quiet_plan = false;   ///< --json: the plan is in the object instead
};

/// Says what load_modules() did: the progress (with -v), the configuration's decisions, and a
/// failure in kmod's words with the reasons after (the reporter keeps those words: keep_said()).
/// A dry run prints its files to `plan_out`. Returns the exit status.
int say_load_outcome(const Saying& saying, const LoadOutcome& outcome);

// ---- rmmod (removal_words.cpp) -----------------------------------------------------------------

/// What rmmod says of one failure, given a way to name a module's holders: kmod's line, then
/// the reasons after. `waited` is whether rmmod said it waited for the module.
class HolderNamer {
  public:
    virtual ~HolderNamer() = default;
    virtual ModuleReferences holders(const LoadedModule& module, bool quiet) = 0;
};
void say_removal_failure(Reporter& report, HolderNamer& namer, System& system,
                         const RemovalFailure& failure, bool waited);

/// What a removal did, with -v (`report.info`): the release waits, each module removed, gone or
/// kept, a soft dependency said as one. A dry run prints its plan to `plan_out`, one name a line
/// (each soft dependency explained with -v on stderr), unless `quiet_plan` (--json).
void say_removal_progress(Reporter& report, std::ostream& plan_out, const RemovalOutcome& outcome,
                          bool dry_run, bool quiet_plan);

/// kmod's "is in use" explained: "lab_dev is held by pid 1 (cat) fd 3 /dev/lab_dev", one line
/// per reference that is not a holder module (kmod's line names those), and "lab_dev: 2
/// references not attributed".
void say_holders(Reporter& report, const std::string& name, const ModuleReferences& refs);

/// "held by pid 1 (cat) fd 3 /dev/lab_dev; module x" or "2 references not attributed", for a
/// wait's progress line.
std::string holders_summary(const ModuleReferences& refs);

}  // namespace modload::tools
