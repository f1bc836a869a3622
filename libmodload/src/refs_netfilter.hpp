// Firewall rules as holders of module references: nf_tables (nft, iptables-nft) through
// NETLINK_NETFILTER, legacy x_tables (iptables, ip6tables) through their getsockopt interface.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <modload/references.hpp>
#include <modload/result.hpp>
#include <modload/system.hpp>

#include "open_files.hpp"

namespace modload::detail {

/// A firewall object holding `reference.count` references on `module` (normalized). The
/// reference's name is what holds it, its first word what kind ("rule table inet t chain c
/// handle 4", "rule filter INPUT #1", "chain table ip t chain post", "set ...", "object ...",
/// "flowtable ..."); its source says through what ("ct", "-m conntrack").
struct FirewallHold {
    std::string module;
    Reference reference;
};

/// Every nf_tables rule, base chain, set, object and flowtable and the modules their expressions
/// and types come from, one reference per expression instance (nft_expr_type_get takes one on
/// the expression type's module; nft_compat's match and target take one more on the x_tables
/// module), matched to modules through modules.alias as the kernel's request_module names them
/// (nft-expr-FAMILY-NAME, nft-expr-NAME, nft-chain-FAMILY-TYPE, nft-obj-TYPE,
/// nf-flowtable-FAMILY, ipt_NAME...). A dump that cannot be read is noted in `unread`
/// ("netlink:nf_tables"); no nf_tables (EPROTONOSUPPORT, ENOENT) holds nothing.
std::vector<FirewallHold> nftables_holds(System& system, const ProvidedAliases& aliases,
                                         std::vector<UnreadSource>* unread);

/// The holds of one nf_tables dump answer set (rules, chains, sets, objects, flowtables), as
/// nftables_holds() reads them; EBADMSG when a length runs past its message.
struct NftablesAnswers {
    std::span<const std::byte> rules, chains, sets, objects, flowtables;
};
Result<std::vector<FirewallHold>> parse_nftables(const NftablesAnswers& answers,
                                                 const ProvidedAliases& aliases);

/// Every legacy x_tables rule (the tables /proc/net/ip_tables_names and ip6_tables_names list)
/// and the modules of its matches and target: one reference per match or target instance
/// (xt_request_find_match and xt_request_find_target take one). A table that cannot be read is
/// noted in `unread` ("xtables:FAMILY-TABLE").
std::vector<FirewallHold> xtables_holds(System& system, const ProvidedAliases& aliases,
                                        std::vector<UnreadSource>* unread);

/// The holds of one table's System::xtables_entries() answer; EBADMSG when an offset or size
/// runs past the entries or an entry is shorter than its parts.
Result<std::vector<FirewallHold>> parse_xtables(int family, std::string_view table,
                                                std::span<const std::byte> answer,
                                                const ProvidedAliases& aliases);

}  // namespace modload::detail
