#include <modload/policy.hpp>

#include <cerrno>
#include <charconv>
#include <cstdint>

#include <modload/names.hpp>

#include "text.hpp"

namespace modload {

namespace {

// capability.h: CAP_SYS_MODULE is bit 16 of the capability sets.
constexpr int kCapSysModule = 16;

std::optional<std::string> read_small(System& system, std::string_view absolute) {
    auto text = system.read_text(absolute, 1 << 16);
    if (!text) {
        return std::nullopt;
    }
    return std::move(*text);
}

// The value of "Key:" in /proc/self/status, without the tab after the colon.
std::optional<std::string_view> status_field(std::string_view status, std::string_view key) {
    std::size_t at = 0;
    while (at < status.size()) {
        std::size_t end = status.find('\n', at);
        if (end == std::string_view::npos) {
            end = status.size();
        }
        const std::string_view line = status.substr(at, end - at);
        if (line.size() > key.size() && line.substr(0, key.size()) == key &&
            line[key.size()] == ':') {
            return detail::trimmed(line.substr(key.size() + 1));
        }
        at = end + 1;
    }
    return std::nullopt;
}

// The kernel splits its command line as lib/cmdline.c's next_arg() does: at spaces outside
// double quotes, which it removes. Parameter names treat '-' and '_' alike (parameq), and "--"
// ends the kernel's part: what follows goes to init.
std::vector<std::string> module_blacklist_of(std::string_view cmdline) {
    std::vector<std::string> found;
    std::size_t at = 0;
    while (at < cmdline.size()) {
        while (at < cmdline.size() && (cmdline[at] == ' ' || cmdline[at] == '\n')) {
            ++at;
        }
        std::string word;
        bool quoted = false;
        for (; at < cmdline.size() && (quoted || (cmdline[at] != ' ' && cmdline[at] != '\n'));
             ++at) {
            if (cmdline[at] == '"') {
                quoted = !quoted;
            } else {
                word += cmdline[at];
            }
        }
        if (word == "--") {
            break;
        }
        const auto equals = word.find('=');
        if (equals == std::string::npos ||
            normalize_module_name(word.substr(0, equals)) != "module_blacklist") {
            continue;
        }
        // A later module_blacklist= replaces an earlier one, as for any charp parameter.
        found.clear();
        const std::string_view list = std::string_view(word).substr(equals + 1);
        std::size_t start = 0;
        while (start <= list.size()) {
            std::size_t comma = list.find(',', start);
            if (comma == std::string_view::npos) {
                comma = list.size();
            }
            if (comma > start) {
                found.emplace_back(list.substr(start, comma - start));
            }
            start = comma + 1;
        }
    }
    return found;
}

// "none [integrity] confidentiality": the active mode is the one in brackets.
std::optional<std::string> active_lockdown(std::string_view text) {
    const auto open = text.find('[');
    const auto close = text.find(']', open);
    if (open == std::string_view::npos || close == std::string_view::npos) {
        return std::nullopt;
    }
    return std::string(text.substr(open + 1, close - open - 1));
}

// The initial user namespace maps every uid onto itself: "0 0 4294967295", one line.
std::optional<bool> in_user_namespace(std::string_view uid_map) {
    std::vector<std::string_view> fields;
    std::size_t at = 0;
    while (at < uid_map.size()) {
        const auto start = uid_map.find_first_not_of(" \t\n", at);
        if (start == std::string_view::npos) {
            break;
        }
        const auto end = uid_map.find_first_of(" \t\n", start);
        fields.push_back(uid_map.substr(start, end - start));
        at = end == std::string_view::npos ? uid_map.size() : end;
    }
    return !(fields.size() == 3 && fields[0] == "0" && fields[1] == "0" &&
             fields[2] == "4294967295");
}

bool contains(const std::vector<std::string>& names, std::string_view name) {
    for (const std::string& n : names) {
        if (n == name) {
            return true;
        }
    }
    return false;
}

}  // namespace

PolicyFacts read_policy_facts(System& system) {
    PolicyFacts facts;
    if (auto status = read_small(system, "/proc/self/status")) {
        if (auto cap = status_field(*status, "CapEff")) {
            if (auto bits = detail::parse_number<std::uint64_t>(*cap, 16)) {
                facts.cap_sys_module = ((*bits >> kCapSysModule) & 1) != 0;
            }
        }
        if (auto uids = status_field(*status, "Uid")) {
            // Real, effective, saved set and filesystem uids, separated by tabs.
            const auto first_end = uids->find('\t');
            if (first_end != std::string_view::npos) {
                std::string_view rest = uids->substr(first_end + 1);
                facts.effective_uid =
                    detail::parse_number<unsigned long>(rest.substr(0, rest.find('\t')));
            }
        }
    }
    if (auto uid_map = read_small(system, "/proc/self/uid_map")) {
        facts.in_user_namespace = in_user_namespace(*uid_map);
    }
    if (auto disabled = read_small(system, "/proc/sys/kernel/modules_disabled")) {
        if (auto value = detail::parse_number<int>(detail::trimmed(*disabled))) {
            facts.modules_disabled = *value != 0;
        }
    }
    if (auto cmdline = read_small(system, "/proc/cmdline")) {
        facts.module_blacklist = module_blacklist_of(*cmdline);
    }
    if (auto lockdown = read_small(system, "/sys/kernel/security/lockdown")) {
        facts.lockdown = active_lockdown(*lockdown);
    }
    if (auto enforce = read_small(system, "/sys/module/module/parameters/sig_enforce")) {
        const std::string_view value = detail::trimmed(*enforce);
        if (value == "Y" || value == "N") {
            facts.sig_enforce = value == "Y";
        }
    }
    return facts;
}

std::vector<PolicyCause> refusal_causes(const PolicyFacts& facts, const RefusedCall& call) {
    std::vector<PolicyCause> causes;
    const bool load = call.operation == ModuleOperation::load;
    // A signature the kernel checks: forcing changes the image, so the kernel treats a forced
    // module as unsigned (kernel/module/signing.c, "mangled_module").
    const bool signature_checked = call.signature_appended && !call.forced;
    if (call.error == EPERM) {
        // may_init_module() and delete_module(): capable(CAP_SYS_MODULE) || modules_disabled.
        if (facts.cap_sys_module == false) {
            causes.push_back(PolicyCause::no_capability);
        } else if (facts.cap_sys_module == true && facts.in_user_namespace == true) {
            causes.push_back(PolicyCause::user_namespace);
        }
        if (facts.modules_disabled == true) {
            causes.push_back(PolicyCause::modules_disabled);
        }
        if (!load) {
            return causes;
        }
        // module_sig_check(): without enforcement, a module without a signature the kernel
        // trusts is refused by lockdown (LOCKDOWN_MODULE_SIGNATURE, integrity and above). A
        // signed module may still lack a trusted key: lockdown may be the cause either way.
        if (facts.lockdown && *facts.lockdown != "none" && facts.sig_enforce != true) {
            causes.push_back(PolicyCause::locked_down);
        }
        // blacklisted() compares the name exactly, without treating '-' and '_' alike.
        if (facts.module_blacklist && contains(*facts.module_blacklist, call.name)) {
            causes.push_back(PolicyCause::blacklisted);
        }
    } else if (call.error == EKEYREJECTED && load) {
        if (facts.sig_enforce == true) {
            causes.push_back(signature_checked         ? PolicyCause::signature_rejected
                             : call.signature_appended ? PolicyCause::signature_ignored
                                                       : PolicyCause::unsigned_module);
        } else if (signature_checked) {
            // Without enforcement only a signature that fails to verify is fatal.
            causes.push_back(PolicyCause::signature_rejected);
        }
    }
    return causes;
}

RefusalDiagnosis diagnose_refusal(System& system, const RefusedCall& call) {
    RefusalDiagnosis diagnosis{read_policy_facts(system), {}};
    diagnosis.causes = refusal_causes(diagnosis.facts, call);
    return diagnosis;
}

}  // namespace modload
