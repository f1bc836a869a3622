// Why the kernel refused a load or a removal for a policy reason (EPERM, EKEYREJECTED), as far as
// user space can see it: capabilities, modules_disabled, module_blacklist=, lockdown, sig_enforce.
// The library diagnoses; the tools choose the words.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <modload/export.hpp>
#include <modload/system.hpp>

namespace modload {

/// What the system says about module policy. Each fact is nullopt (or empty) when its file is
/// missing or unreadable: unknown, never guessed.
struct MODLOAD_API PolicyFacts {
    /// CAP_SYS_MODULE (bit 16) in CapEff of <root>/proc/self/status.
    std::optional<bool> cap_sys_module;
    /// The effective uid from the same file's Uid: line.
    std::optional<unsigned long> effective_uid;
    /// <root>/proc/self/uid_map maps fewer than all uids onto themselves: this process is in a
    /// user namespace, where capabilities do not count for modules (capable() asks the initial
    /// user namespace).
    std::optional<bool> in_user_namespace;
    /// <root>/proc/sys/kernel/modules_disabled is 1.
    std::optional<bool> modules_disabled;
    /// The names of module_blacklist= on <root>/proc/cmdline (the last one counts, as for every
    /// kernel parameter); nullopt when the command line cannot be read.
    std::optional<std::vector<std::string>> module_blacklist;
    /// The active lockdown mode in brackets of <root>/sys/kernel/security/lockdown: "none",
    /// "integrity" or "confidentiality".
    std::optional<std::string> lockdown;
    /// <root>/sys/module/module/parameters/sig_enforce is Y (module.sig_enforce=1 or
    /// CONFIG_MODULE_SIG_FORCE, which sets the same parameter).
    std::optional<bool> sig_enforce;
};

/// Reads every fact; never fails (what cannot be read stays unknown).
MODLOAD_API PolicyFacts read_policy_facts(System& system);

enum class ModuleOperation { load, remove };

/// A refused call, as the tool saw it.
struct MODLOAD_API RefusedCall {
    ModuleOperation operation = ModuleOperation::load;
    int error = 0;     ///< the kernel's errno
    std::string name;  ///< the module's name, as the kernel knows it
    /// Loads: the file ends in "~Module signature appended~" (ModuleInfo::signature_appended).
    bool signature_appended = false;
    /// Loads: asked to ignore symbol versions or vermagic. The kernel then disregards the
    /// signature, as the image it checks is no longer the one that was signed.
    bool forced = false;
};

/// A policy that explains a refusal, in the kernel's order of checks.
enum class PolicyCause {
    no_capability,       ///< EPERM: CapEff lacks CAP_SYS_MODULE
    user_namespace,      ///< EPERM: CAP_SYS_MODULE held only inside a user namespace
    modules_disabled,    ///< EPERM: /proc/sys/kernel/modules_disabled is 1 (until reboot)
    locked_down,         ///< EPERM: lockdown refuses a module without a signature it trusts
    blacklisted,         ///< EPERM: the name is in module_blacklist=
    unsigned_module,     ///< EKEYREJECTED: signatures enforced, the module has none
    signature_ignored,   ///< EKEYREJECTED: signatures enforced, forcing made the kernel ignore it
    signature_rejected,  ///< EKEYREJECTED: signed, but with a key the kernel lacks, or a bad one
};

/// The causes `facts` show for `call`, in the order the kernel checks them; empty when none is
/// visible (another errno, or a policy user space cannot see, such as an LSM's).
MODLOAD_API std::vector<PolicyCause> refusal_causes(const PolicyFacts& facts,
                                                    const RefusedCall& call);

/// The causes together with the facts they rest on, for the tools to word.
struct MODLOAD_API RefusalDiagnosis {
    PolicyFacts facts;
    std::vector<PolicyCause> causes;
};

/// read_policy_facts(), then refusal_causes().
MODLOAD_API RefusalDiagnosis diagnose_refusal(System& system, const RefusedCall& call);

}  // namespace modload
