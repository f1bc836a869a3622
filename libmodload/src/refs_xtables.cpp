// Legacy x_tables rules (iptables-legacy, ip6tables-legacy) as holders of module references,
// read as iptables-legacy-save reads them: IPT_SO_GET_INFO and IPT_SO_GET_ENTRIES per table.
#include "refs_netfilter.hpp"
#include "refs_sources.hpp"

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <map>

// glibc's netinet/in.h before the kernel's headers that include linux/in.h.
#include <netinet/in.h>

#include <linux/netfilter/x_tables.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include <modload/names.hpp>

namespace modload::detail {

namespace {

// Where an entry's fields are, per family: ipt_entry and ip6t_entry differ only in their
// struct ipt_ip / ip6t_ip6 head.
struct EntryLayout {
    std::size_t size;
    std::size_t target_offset;
    std::size_t next_offset;
};

EntryLayout layout_of(int family) {
    if (family == AF_INET6) {
        return {sizeof(ip6t_entry), offsetof(ip6t_entry, target_offset),
                offsetof(ip6t_entry, next_offset)};
    }
    return {sizeof(ipt_entry), offsetof(ipt_entry, target_offset),
            offsetof(ipt_entry, next_offset)};
}

std::uint16_t u16_at(std::span<const std::byte> bytes, std::size_t at) {
    std::uint16_t n;
    std::memcpy(&n, bytes.data() + at, sizeof n);
    return n;
}

// A fixed-size name field (xt_entry_match's, xt_entry_target's, an error target's), to its NUL.
std::string name_at(std::span<const std::byte> bytes, std::size_t at, std::size_t size) {
    std::string s(reinterpret_cast<const char*>(bytes.data() + at), size);
    if (const auto nul = s.find('\0'); nul != std::string::npos) {
        s.resize(nul);
    }
    return s;
}

const char* const kHookNames[NF_INET_NUMHOOKS] = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT",
                                                  "POSTROUTING"};

}  // namespace

Result<std::vector<FirewallHold>> parse_xtables(int family, std::string_view table,
                                                std::span<const std::byte> answer,
                                                const ProvidedAliases& aliases) {
    if (answer.size() < sizeof(ipt_getinfo) + sizeof(ipt_get_entries)) {
        return make_error(EBADMSG);
    }
    ipt_getinfo info;
    std::memcpy(&info, answer.data(), sizeof info);
    ipt_get_entries head;
    std::memcpy(&head, answer.data() + sizeof info, sizeof head);
    const std::span<const std::byte> entries = answer.subspan(sizeof info + sizeof head);
    if (head.size > entries.size()) {
        return make_error(EBADMSG);
    }
    const EntryLayout layout = layout_of(family);
    const std::string prefix = family == AF_INET6 ? "ip6t_" : "ipt_";
    const std::string command = family == AF_INET6 ? "ip6tables-legacy" : "iptables-legacy";
    const std::string t = table == "filter" ? "" : " -t " + shell_quoted(table);

    std::map<std::string, std::size_t> by_key;  // module and rule: its place in holds
    std::vector<FirewallHold> holds;
    std::string chain;
    int position = 0;
    for (std::size_t at = 0; at < head.size;) {
        if (head.size - at < layout.size) {
            return make_error(EBADMSG);
        }
        const std::size_t target_offset = u16_at(entries, at + layout.target_offset);
        const std::size_t next_offset = u16_at(entries, at + layout.next_offset);
        if (next_offset < layout.size || next_offset > head.size - at ||
            target_offset < layout.size ||
            target_offset > next_offset - std::min(next_offset, sizeof(xt_entry_target))) {
            return make_error(EBADMSG);
        }
        for (unsigned hook = 0; hook < NF_INET_NUMHOOKS; ++hook) {
            if ((info.valid_hooks & (1u << hook)) != 0 && info.hook_entry[hook] == at) {
                chain = kHookNames[hook];
                position = 0;
            }
        }
        // What the entry uses: its matches, then its target.
        std::vector<std::pair<std::string, std::string>> parts;  // (kernel name, words)
        for (std::size_t m = at + layout.size; m < at + target_offset;) {
            if (at + target_offset - m < sizeof(xt_entry_match)) {
                return make_error(EBADMSG);
            }
            const std::size_t match_size = u16_at(entries, m);
            if (match_size < sizeof(xt_entry_match) || match_size > at + target_offset - m) {
                return make_error(EBADMSG);
            }
            const std::string name = name_at(entries, m + offsetof(xt_entry_match, u.user.name),
                                             sizeof(xt_entry_match{}.u.user.name));
            if (!name.empty()) {
                parts.emplace_back(name, "-m " + name);
            }
            m += match_size;
        }
        const std::size_t target = at + target_offset;
        const std::size_t target_size = u16_at(entries, target);
        if (target_size < sizeof(xt_entry_target) || target_size > next_offset - target_offset) {
            return make_error(EBADMSG);
        }
        const std::string target_name =
            name_at(entries, target + offsetof(xt_entry_target, u.user.name),
                    sizeof(xt_entry_target{}.u.user.name));
        if (target_name == XT_ERROR_TARGET) {
            // A user chain's head (its name the error target's data), or the table's end.
            const std::size_t data = target + sizeof(xt_entry_target);
            if (target_size >= sizeof(xt_entry_target) + XT_FUNCTION_MAXNAMELEN) {
                chain = name_at(entries, data, XT_FUNCTION_MAXNAMELEN);
            }
            position = 0;
            at += next_offset;
            continue;
        }
        ++position;
        if (!target_name.empty()) {  // the standard target ("") is x_tables' own
            parts.emplace_back(target_name, "-j " + target_name);
        }
        // An IPv6 rule says so: ip6tables' filter INPUT #1 is another rule than iptables'.
        const std::string rule = "rule " + std::string(family == AF_INET6 ? "ip6 " : "") +
                                 std::string(table) + " " + chain + " #" + std::to_string(position);
        for (const auto& [name, words] : parts) {
            // xt_request_find_match/target: request_module("%st_%s", xt_prefix[af], name).
            const std::string wanted = prefix + name;
            std::string module = aliases.module_for(wanted);
            if (module.empty()) {
                module = normalize_module_name(wanted);
            }
            const std::string key = module + "\n" + rule;
            auto [place, fresh] = by_key.try_emplace(key, holds.size());
            if (fresh) {
                FirewallHold hold;
                hold.module = module;
                hold.reference.kind = ReferenceKind::iptables;
                hold.reference.count = 0;
                hold.reference.name = rule;
                hold.reference.release_command =
                    command + t + " -D " + shell_quoted(chain) + " " + std::to_string(position);
                holds.push_back(std::move(hold));
            }
            FirewallHold* hold = &holds[place->second];
            ++hold->reference.count;
            std::string& source = hold->reference.source;
            if (source.find(words) == std::string::npos) {
                source += (source.empty() ? "" : ", ") + words;
            }
        }
        at += next_offset;
    }
    return holds;
}

std::vector<FirewallHold> xtables_holds(System& system, const ProvidedAliases& aliases,
                                        std::vector<UnreadSource>* unread) {
    std::vector<FirewallHold> holds;
    for (const auto& [family, names] : {std::make_pair(AF_INET, "/proc/net/ip_tables_names"),
                                        std::make_pair(AF_INET6, "/proc/net/ip6_tables_names")}) {
        // Only the tables that are there: asking for another would load its module.
        const std::string listed = read_or_note(system, system.path(names), unread);
        std::size_t start = 0;
        while (start < listed.size()) {
            std::size_t end = listed.find('\n', start);
            end = end == std::string::npos ? listed.size() : end;
            const std::string table = listed.substr(start, end - start);
            start = end + 1;
            if (table.empty()) {
                continue;
            }
            const std::string where = "xtables:" + std::to_string(family) + "-" + table;
            auto answer = system.xtables_entries(family, table);
            if (!answer) {
                const int code = answer.error().code;
                if (code != ENOPROTOOPT) {
                    note_unread(unread, where, code);
                }
                continue;
            }
            auto found = parse_xtables(family, table, *answer, aliases);
            if (!found) {
                note_unread(unread, where, found.error().code);
                continue;
            }
            holds.insert(holds.end(), found->begin(), found->end());
        }
    }
    return holds;
}

}  // namespace modload::detail
