#include "words.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

namespace modload::tools {

std::string joined(std::span<const std::string> words, std::string_view separator) {
    std::string text;
    for (const std::string& word : words) {
        if (&word != words.data()) {
            text += separator;
        }
        text += word;
    }
    return text;
}

std::string names_after_spaces(const std::vector<std::string>& names) {
    return names.empty() ? std::string() : " " + joined(names, " ");
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

std::vector<std::string> refusal_cause_texts(const RefusalDiagnosis& diagnosis,
                                             const RefusedCall& call,
                                             const std::string& file_argument) {
    const PolicyFacts& facts = diagnosis.facts;
    const std::string file =
        file_argument == "-" ? "the module read from standard input" : file_argument;
    const std::string doing =
        call.operation == ModuleOperation::load ? "loading modules" : "removing modules";
    const std::string signature =
        !call.signature_appended ? file + " is not signed"
        : call.forced ? "forcing (-f, --force-modversion, --force-vermagic) makes it ignore " +
                            file + "'s signature"
                      : file + " is signed with a key it may not trust";
    std::vector<std::string> lines;
    for (const PolicyCause cause : diagnosis.causes) {
        switch (cause) {
            case PolicyCause::no_capability:
                if (facts.effective_uid == 0UL) {
                    lines.push_back(
                        "this process runs as root but without CAP_SYS_MODULE, "
                        "which " +
                        doing + " needs");
                } else {
                    lines.push_back("this process" +
                                    (facts.effective_uid
                                         ? " (uid " + std::to_string(*facts.effective_uid) + ")"
                                         : std::string()) +
                                    " lacks CAP_SYS_MODULE: " + doing + " needs root");
                }
                break;
            case PolicyCause::user_namespace:
                lines.push_back(
                    "this process has CAP_SYS_MODULE only inside a user namespace "
                    "(a container): " +
                    doing + " needs it on the host");
                break;
            case PolicyCause::modules_disabled:
                lines.push_back(
                    "/proc/sys/kernel/modules_disabled is 1: module loading and "
                    "removal are disabled until reboot");
                break;
            case PolicyCause::locked_down:
                lines.push_back("the kernel is locked down (" + facts.lockdown.value_or("") +
                                "): it loads only modules signed with a key it trusts, and " +
                                signature);
                break;
            case PolicyCause::blacklisted:
                lines.push_back(
                    call.name +
                    " is blacklisted on the kernel command line "
                    "(module_blacklist=" +
                    joined(facts.module_blacklist.value_or(std::vector<std::string>{}), ",") + ")");
                break;
            case PolicyCause::unsigned_module:
            case PolicyCause::signature_ignored:
                lines.push_back("this kernel requires signed modules (sig_enforce) and " +
                                signature);
                break;
            case PolicyCause::signature_rejected:
                lines.push_back(facts.sig_enforce == true
                                    ? "this kernel requires signed modules (sig_enforce) and " +
                                          file +
                                          " is signed, but with a key the kernel does not "
                                          "trust, or its signature does not match"
                                    : file +
                                          " is signed, but its signature does not verify "
                                          "(the kernel refuses a bad signature even when it "
                                          "does not require one)");
                break;
        }
    }
    return lines;
}

std::string snapshot_error_text(const Error& error) {
    std::string text = "could not get list of modules: " + error.message();
    if (error.code == ENOENT) {
        text += ": this kernel has no loadable module support";
    }
    return text;
}

void report_skipped_lines(Reporter& report, std::span<const SkippedLine> lines) {
    for (const SkippedLine& line : lines) {
        report.note("/proc/modules line " + std::to_string(line.number) +
                    " not understood, left out: " + line.text);
    }
}

void say_refused_configuration(Reporter& report, std::span<const ConfigRefusal> refused) {
    for (const ConfigRefusal& file : refused) {
        report.note("ignored " + file.path.string() + ": " + file.reason + "; not trusted");
    }
}

std::string describe_users(const LoadedModule& module) {
    std::string text = "refcount " + (module.refcount ? std::to_string(*module.refcount) : "-");
    if (!module.holders.empty()) {
        text += ", held by:" + names_after_spaces(module.holders);
    } else if (module.external_references() > 0) {
        text += ", from outside modules";
    }
    return text;
}

namespace {

// "pid 12 (cat) fd 3": the first descriptor of an open file.
std::string user_text(const FileUser& user) {
    return "pid " + std::to_string(user.pid) + " (" + user.command + ") fd " +
           std::to_string(user.fd);
}

// " (shared with pid 13 (cat) fd 3, ...)": the others that share the open file; empty if none.
std::string shared_text(const std::vector<FileUser>& users) {
    std::string text;
    for (std::size_t i = 1; i < users.size(); ++i) {
        text += (i == 1 ? " (shared with " : ", ") + user_text(users[i]);
    }
    return text + (users.size() > 1 ? ")" : "");
}

}  // namespace

std::string reference_text(const Reference& ref) {
    std::string text;
    switch (ref.kind) {
        case ReferenceKind::module:
            text = "module " + ref.name;
            break;
        case ReferenceKind::open_file:
            text = user_text(ref.users.front()) + " " + ref.name + shared_text(ref.users);
            break;
        case ReferenceKind::mount:
            text = "mount " + ref.name + " (" + ref.fstype + " on " + ref.source;
            if (ref.via != HoldVia::filesystem) {
                text += ", " + std::string(hold_via_name(ref.via));
            }
            text += ")";
            break;
        case ReferenceKind::loop_device:
            text = "loop device " + ref.name + " (backing file " + ref.source + ")";
            break;
        case ReferenceKind::crypto:
            text = "crypto " + ref.name + " (" + ref.source + ")";
            break;
        case ReferenceKind::nftables:
        case ReferenceKind::iptables: {
            // "rule table inet t chain c handle 4" -> "nftables rule: table inet t chain c ...".
            const auto space = ref.name.find(' ');
            text = std::string(reference_kind_name(ref.kind)) + " " + ref.name.substr(0, space) +
                   ":" + (space == std::string::npos ? "" : ref.name.substr(space));
            if (!ref.source.empty()) {
                text += " (" + ref.source + ")";
            }
            break;
        }
        case ReferenceKind::traffic_control:
            // "tc qdisc netem 8001: on lo (root)"
            text = "tc " + ref.name;
            break;
        case ReferenceKind::socket_layer:
            text = ref.users.empty() ? ref.name + " (in no process)"
                                     : user_text(ref.users.front()) + " " + ref.name;
            text += " with upper-layer protocol " + ref.source + shared_text(ref.users);
            break;
        case ReferenceKind::swap:
            text = "swap on " + ref.name;
            break;
        case ReferenceKind::block_user:
            text = "block device " + ref.name + " uses " + ref.source;
            break;
    }
    if (ref.count > 1) {
        text += " (" + std::to_string(ref.count) + " references)";
    }
    if (ref.approximate) {
        text += " (approximate)";
    }
    // Where one command lets go of it: "swap on /dev/zram0; let go with: swapoff /dev/zram0".
    if (!ref.release_command.empty()) {
        text += "; let go with: " + ref.release_command;
    }
    return text;
}

std::string unattributed_text(const ModuleReferences& refs) {
    if (refs.unattributed == 0) {
        return {};
    }
    return std::to_string(refs.unattributed) +
           (refs.unattributed == 1 ? " reference" : " references") + " not attributed";
}

std::vector<std::string> reference_lines(const ModuleReferences& refs) {
    std::vector<std::string> lines;
    for (const Reference& ref : refs.references) {
        lines.push_back(reference_text(ref));
    }
    if (refs.unattributed > 0) {
        lines.push_back(unattributed_text(refs));
    }
    if (refs.changed_while_read) {
        lines.push_back(kChangedWhileRead);
    }
    return lines;
}

std::vector<std::string> unread_source_lines(const std::vector<UnreadSource>& unread) {
    std::vector<std::string> lines;
    std::map<int, std::vector<std::string>> processes;  // by errno
    for (const UnreadSource& source : unread) {
        if (source.kind == UnreadKind::process) {
            processes[source.error.code].push_back(source.path.string());
        } else {
            lines.push_back(with_detail("could not read " + source.path.string() + ": " +
                                            std::strerror(source.error.code),
                                        source.error) +
                            "; references found through it are not named");
        }
    }
    for (auto& [code, paths] : processes) {
        std::sort(paths.begin(), paths.end());
        std::string which = paths.front();
        const std::size_t others = paths.size() - 1;
        if (others > 0) {
            which += " and the like of " + std::to_string(others) +
                     (others == 1 ? " other process" : " other processes");
        }
        lines.push_back("could not read " + which + ": " + std::strerror(code) +
                        "; references found through " + (others == 0 ? "it" : "them") +
                        " are not named");
    }
    return lines;
}

}  // namespace modload::tools
