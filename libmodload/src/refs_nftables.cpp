// nf_tables rules, chains, sets, objects and flowtables as holders of module references, read
// through NETLINK_NETFILTER dumps (what `nft list ruleset` reads).
#include "refs_netfilter.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <modload/names.hpp>

#include "netlink.hpp"
#include "refs_sources.hpp"

namespace modload::detail {

namespace {

using Attributes = std::vector<NetlinkAttribute>;

// The first attribute of `type`, or nullptr.
const NetlinkAttribute* find(const Attributes& attrs, std::uint16_t type) {
    for (const NetlinkAttribute& a : attrs) {
        if (a.type == type) {
            return &a;
        }
    }
    return nullptr;
}

// A string attribute, up to its NUL (or its end).
std::string text_of(const NetlinkAttribute* a) {
    return a == nullptr ? std::string() : netlink_text(a->payload);
}

// A big-endian number attribute of 4 or 8 bytes; nullopt when it is another size.
std::optional<std::uint64_t> number_of(const NetlinkAttribute* a) {
    if (a == nullptr || (a->payload.size() != 4 && a->payload.size() != 8)) {
        return std::nullopt;
    }
    std::uint64_t n = 0;
    for (std::byte b : a->payload) {
        n = (n << 8) | static_cast<std::uint8_t>(b);
    }
    return n;
}

std::string family_word(int family) {
    switch (family) {
        case NFPROTO_INET:
            return "inet";
        case NFPROTO_IPV4:
            return "ip";
        case NFPROTO_ARP:
            return "arp";
        case NFPROTO_NETDEV:
            return "netdev";
        case NFPROTO_BRIDGE:
            return "bridge";
        case NFPROTO_IPV6:
            return "ip6";
    }
    return std::to_string(family);
}

// The prefix x_tables puts before a match or target name to load its module (xt_prefix[]).
std::string xt_prefix(int family) {
    switch (family) {
        case NFPROTO_IPV4:
            return "ip";
        case NFPROTO_IPV6:
            return "ip6";
        case NFPROTO_ARP:
            return "arp";
        case NFPROTO_BRIDGE:
            return "eb";
    }
    return "x";
}

// The module the kernel would load for `name`: an alias's module, or a module of that name.
std::string module_named(const ProvidedAliases& aliases, const std::string& name) {
    std::string module = aliases.module_for(name);
    return module.empty() ? normalize_module_name(name) : module;
}

// One message's nfgenmsg family and attributes; EBADMSG when it is shorter than its header.
Result<std::pair<int, Attributes>> message_of(const NetlinkMessage& m) {
    if (m.payload.size() < sizeof(nfgenmsg)) {
        return make_error(EBADMSG);
    }
    nfgenmsg head;
    std::memcpy(&head, m.payload.data(), sizeof head);
    auto attrs = netlink_attributes(m.payload.subspan(NLMSG_ALIGN(sizeof head) <= m.payload.size()
                                                          ? NLMSG_ALIGN(sizeof head)
                                                          : m.payload.size()));
    if (!attrs) {
        return attrs.error();
    }
    return std::make_pair(static_cast<int>(head.nfgen_family), std::move(*attrs));
}

// What one expression holds: (module, what) pairs.
struct ExprHold {
    std::string module;
    std::string what;
};

// The modules one expression (nft_expr_attributes) holds a reference on, each once per instance.
Result<std::vector<ExprHold>> expression_holds(std::span<const std::byte> bytes, int family,
                                               const ProvidedAliases& aliases) {
    auto attrs = netlink_attributes(bytes);
    if (!attrs) {
        return attrs.error();
    }
    const std::string name = text_of(find(*attrs, NFTA_EXPR_NAME));
    if (name.empty()) {
        return std::vector<ExprHold>{};
    }
    std::vector<ExprHold> holds;
    // nft_expr_type_request_module: "nft-expr-FAMILY-NAME", then "nft-expr-NAME".
    std::string module = aliases.module_for("nft-expr-" + std::to_string(family) + "-" + name);
    if (module.empty()) {
        module = aliases.module_for("nft-expr-" + name);
    }
    std::string what = name;
    if (name == "match" || name == "target") {
        const NetlinkAttribute* data = find(*attrs, NFTA_EXPR_DATA);
        Attributes inner;
        if (data != nullptr) {
            auto parsed = netlink_attributes(data->payload);
            if (!parsed) {
                return parsed.error();
            }
            inner = std::move(*parsed);
        }
        const bool match = name == "match";
        const std::string xt = text_of(
            find(inner, match ? std::uint16_t{NFTA_MATCH_NAME} : std::uint16_t{NFTA_TARGET_NAME}));
        if (!xt.empty()) {
            what = (match ? "-m " : "-j ") + xt;
            // xt_request_find_match/target: request_module("%st_%s", xt_prefix[af], name).
            holds.push_back({module_named(aliases, xt_prefix(family) + "t_" + xt), what});
        }
    }
    if (!module.empty()) {
        holds.push_back({module, what});
    }
    return holds;
}

// The holds of an expression list (nft_list_attributes of nft_expr_attributes).
Result<std::vector<ExprHold>> list_holds(std::span<const std::byte> bytes, int family,
                                         const ProvidedAliases& aliases) {
    auto elems = netlink_attributes(bytes);
    if (!elems) {
        return elems.error();
    }
    std::vector<ExprHold> holds;
    for (const NetlinkAttribute& elem : *elems) {
        if (elem.type != NFTA_LIST_ELEM) {
            continue;
        }
        auto more = expression_holds(elem.payload, family, aliases);
        if (!more) {
            return more.error();
        }
        holds.insert(holds.end(), more->begin(), more->end());
    }
    return holds;
}

bool is_iptables_table(int family, const std::string& table) {
    static const std::set<std::string> tables{"filter", "nat", "mangle", "raw", "security"};
    return (family == NFPROTO_IPV4 || family == NFPROTO_IPV6) && tables.count(table) != 0;
}

// Gathers holds by (module, holder), counting one per expression instance, naming what they are.
class Holds {
  public:
    void add(const std::vector<ExprHold>& exprs, const Reference& holder) {
        for (const ExprHold& e : exprs) {
            const auto key = std::make_pair(e.module, holder.name);
            auto [at, fresh] = index_.try_emplace(key, holds_.size());
            if (fresh) {
                holds_.push_back({e.module, holder});
                holds_.back().reference.count = 0;
                whats_.emplace_back();
            }
            FirewallHold& hold = holds_[at->second];
            ++hold.reference.count;
            if (whats_[at->second].insert(e.what).second) {
                std::string& source = hold.reference.source;
                source += (source.empty() ? "" : ", ") + e.what;
            }
        }
    }
    std::vector<FirewallHold> take() { return std::move(holds_); }

  private:
    std::vector<FirewallHold> holds_;
    std::vector<std::set<std::string>> whats_;
    std::map<std::pair<std::string, std::string>, std::size_t> index_;
};

Reference holder(ReferenceKind kind, std::string name, std::string release) {
    Reference ref;
    ref.kind = kind;
    ref.name = std::move(name);
    ref.release_command = std::move(release);
    return ref;
}

// The nft words for an object type (NFT_OBJECT_*), for its delete command; empty if unknown.
std::string object_word(std::uint64_t type) {
    switch (type) {
        case NFT_OBJECT_COUNTER:
            return "counter";
        case NFT_OBJECT_QUOTA:
            return "quota";
        case NFT_OBJECT_CT_HELPER:
            return "ct helper";
        case NFT_OBJECT_LIMIT:
            return "limit";
        case NFT_OBJECT_CT_TIMEOUT:
            return "ct timeout";
        case NFT_OBJECT_SECMARK:
            return "secmark";
        case NFT_OBJECT_CT_EXPECT:
            return "ct expectation";
        case NFT_OBJECT_SYNPROXY:
            return "synproxy";
    }
    return {};
}

// Gives each message of a dump, as its family and attributes, to `each`; the first error (of
// the dump or of `each`) stops it.
template <class Each>
Result<void> each_message(std::span<const std::byte> answer, Each each) {
    auto messages = netlink_messages(answer);
    if (!messages) {
        return messages.error();
    }
    for (const NetlinkMessage& m : *messages) {
        auto parsed = message_of(m);
        if (!parsed) {
            return parsed.error();
        }
        if (auto done = each(parsed->first, parsed->second); !done) {
            return done;
        }
    }
    return {};
}

Result<void> parse_rules(std::span<const std::byte> answer, const ProvidedAliases& aliases,
                         Holds& holds) {
    std::map<std::tuple<int, std::string, std::string>, int> positions;
    return each_message(answer, [&](int family, const Attributes& attrs) -> Result<void> {
        const std::string table = text_of(find(attrs, NFTA_RULE_TABLE));
        const std::string chain = text_of(find(attrs, NFTA_RULE_CHAIN));
        const int position = ++positions[{family, table, chain}];
        const NetlinkAttribute* exprs = find(attrs, NFTA_RULE_EXPRESSIONS);
        if (exprs == nullptr) {
            return {};
        }
        auto found = list_holds(exprs->payload, family, aliases);
        if (!found) {
            return found.error();
        }
        const std::string handle =
            std::to_string(number_of(find(attrs, NFTA_RULE_HANDLE)).value_or(0));
        if (is_iptables_table(family, table)) {
            const std::string command = family == NFPROTO_IPV4 ? "iptables-nft" : "ip6tables-nft";
            const std::string t = table == "filter" ? "" : " -t " + shell_quoted(table);
            holds.add(*found, holder(ReferenceKind::iptables,
                                     "rule " + std::string(family == NFPROTO_IPV6 ? "ip6 " : "") +
                                         table + " " + chain + " #" + std::to_string(position),
                                     command + t + " -D " + shell_quoted(chain) + " " +
                                         std::to_string(position)));
        } else {
            const std::string where =
                family_word(family) + " " + shell_quoted(table) + " " + shell_quoted(chain);
            holds.add(*found, holder(ReferenceKind::nftables,
                                     "rule table " + family_word(family) + " " + table + " chain " +
                                         chain + " handle " + handle,
                                     "nft delete rule " + where + " handle " + handle));
        }
        return {};
    });
}

Result<void> parse_chains(std::span<const std::byte> answer, const ProvidedAliases& aliases,
                          Holds& holds) {
    return each_message(answer, [&](int family, const Attributes& attrs) -> Result<void> {
        const std::string type = text_of(find(attrs, NFTA_CHAIN_TYPE));
        if (type.empty()) {
            return {};  // not a base chain: no type, no reference
        }
        // nf_tables_chain_type_lookup: request_module("nft-chain-%u-%.*s").
        const std::string module =
            aliases.module_for("nft-chain-" + std::to_string(family) + "-" + type);
        if (module.empty()) {
            return {};  // a type built into nf_tables or the kernel
        }
        const std::string table = text_of(find(attrs, NFTA_CHAIN_TABLE));
        const std::string chain = text_of(find(attrs, NFTA_CHAIN_NAME));
        holds.add({{module, type + " chain"}},
                  holder(ReferenceKind::nftables,
                         "chain table " + family_word(family) + " " + table + " chain " + chain,
                         "nft delete chain " + family_word(family) + " " + shell_quoted(table) +
                             " " + shell_quoted(chain)));
        return {};
    });
}

Result<void> parse_sets(std::span<const std::byte> answer, const ProvidedAliases& aliases,
                        Holds& holds) {
    return each_message(answer, [&](int family, const Attributes& attrs) -> Result<void> {
        std::vector<ExprHold> found;
        for (const NetlinkAttribute& a : attrs) {
            Result<std::vector<ExprHold>> more =
                a.type == NFTA_SET_EXPR ? expression_holds(a.payload, family, aliases)
                : a.type == NFTA_SET_EXPRESSIONS
                    ? list_holds(a.payload, family, aliases)
                    : Result<std::vector<ExprHold>>(std::vector<ExprHold>{});
            if (!more) {
                return more.error();
            }
            found.insert(found.end(), more->begin(), more->end());
        }
        const std::string table = text_of(find(attrs, NFTA_SET_TABLE));
        const std::string set = text_of(find(attrs, NFTA_SET_NAME));
        holds.add(found, holder(ReferenceKind::nftables,
                                "set table " + family_word(family) + " " + table + " set " + set,
                                "nft delete set " + family_word(family) + " " +
                                    shell_quoted(table) + " " + shell_quoted(set)));
        return {};
    });
}

Result<void> parse_objects(std::span<const std::byte> answer, const ProvidedAliases& aliases,
                           Holds& holds) {
    return each_message(answer, [&](int family, const Attributes& attrs) -> Result<void> {
        const std::optional<std::uint64_t> type = number_of(find(attrs, NFTA_OBJ_TYPE));
        if (!type) {
            return {};
        }
        // nft_obj_type_get: request_module("nft-obj-%u").
        const std::string module = aliases.module_for("nft-obj-" + std::to_string(*type));
        if (module.empty()) {
            return {};
        }
        const std::string table = text_of(find(attrs, NFTA_OBJ_TABLE));
        const std::string name = text_of(find(attrs, NFTA_OBJ_NAME));
        const std::string word = object_word(*type);
        const std::string what = word.empty() ? "type " + std::to_string(*type) : word;
        holds.add(
            {{module, what}},
            holder(ReferenceKind::nftables,
                   "object table " + family_word(family) + " " + table + " " + what + " " + name,
                   word.empty() ? std::string()
                                : "nft delete " + word + " " + family_word(family) + " " +
                                      shell_quoted(table) + " " + shell_quoted(name)));
        return {};
    });
}

Result<void> parse_flowtables(std::span<const std::byte> answer, const ProvidedAliases& aliases,
                              Holds& holds) {
    return each_message(answer, [&](int family, const Attributes& attrs) -> Result<void> {
        // nft_flowtable_type_get: request_module("nf-flowtable-%u").
        const std::string module = aliases.module_for("nf-flowtable-" + std::to_string(family));
        if (module.empty()) {
            return {};
        }
        const std::string table = text_of(find(attrs, NFTA_FLOWTABLE_TABLE));
        const std::string name = text_of(find(attrs, NFTA_FLOWTABLE_NAME));
        holds.add(
            {{module, "flowtable"}},
            holder(ReferenceKind::nftables,
                   "flowtable table " + family_word(family) + " " + table + " flowtable " + name,
                   "nft delete flowtable " + family_word(family) + " " + shell_quoted(table) + " " +
                       shell_quoted(name)));
        return {};
    });
}

}  // namespace

Result<std::vector<FirewallHold>> parse_nftables(const NftablesAnswers& answers,
                                                 const ProvidedAliases& aliases) {
    Holds holds;
    for (auto [answer, parse] :
         {std::make_pair(answers.rules, &parse_rules),
          std::make_pair(answers.chains, &parse_chains), std::make_pair(answers.sets, &parse_sets),
          std::make_pair(answers.objects, &parse_objects),
          std::make_pair(answers.flowtables, &parse_flowtables)}) {
        if (auto r = parse(answer, aliases, holds); !r) {
            return r.error();
        }
    }
    return holds.take();
}

std::vector<FirewallHold> nftables_holds(System& system, const ProvidedAliases& aliases,
                                         std::vector<UnreadSource>* unread) {
    // Asking a kernel without nf_tables would make nfnetlink load it: ask only when it is there.
    const std::filesystem::path loaded = system.path("/sys/module/nf_tables");
    if (auto st = system.stat_given(loaded.string()); !st) {
        note_unread(unread, loaded, st.error().code);  // not there (ENOENT): no rules
        return {};
    }
    const auto dump = [&](int message) -> Result<std::vector<std::byte>> {
        const nfgenmsg head{NFPROTO_UNSPEC, NFNETLINK_V0, 0};
        const auto request =
            netlink_request_bytes(static_cast<std::uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | message),
                                  NLM_F_DUMP, 1, std::as_bytes(std::span(&head, 1)));
        return system.netlink_request(NETLINK_NETFILTER, request);
    };
    std::vector<std::vector<std::byte>> answers;
    for (int message : {NFT_MSG_GETRULE, NFT_MSG_GETCHAIN, NFT_MSG_GETSET, NFT_MSG_GETOBJ,
                        NFT_MSG_GETFLOWTABLE}) {
        auto answer = dump(message);
        if (!answer) {
            // EPROTONOSUPPORT: no nfnetlink; ENOENT: nothing recorded (a rooted system).
            const int code = answer.error().code;
            if (code != EPROTONOSUPPORT && code != ENOENT) {
                note_unread(unread, "netlink:nf_tables", code);
                return {};
            }
        }
        answers.push_back(answer ? std::move(*answer) : std::vector<std::byte>{});
    }
    auto holds =
        parse_nftables({answers[0], answers[1], answers[2], answers[3], answers[4]}, aliases);
    if (!holds) {
        // No nf_tables loaded answers EOPNOTSUPP (no such subsystem): nothing holds.
        const int code = holds.error().code;
        if (code != EOPNOTSUPP && code != ENOENT && code != EPROTONOSUPPORT) {
            note_unread(unread, "netlink:nf_tables", code);
        }
        return {};
    }
    return std::move(*holds);
}

}  // namespace modload::detail
