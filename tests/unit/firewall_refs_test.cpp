// Firewall rules as holders: nf_tables rules, chains, sets and objects read from recorded
// NETLINK_NETFILTER dumps, legacy x_tables rules from recorded IPT_SO_GET_ENTRIES answers, every
// length in them checked; and lsmod --refs's and rmmod's words for them.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

// glibc's netinet/in.h before the kernel's headers that include linux/in.h.
#include <netinet/in.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netlink.h>

#include <modload/references.hpp>
#include <modload/snapshot.hpp>

#include "../../libmodload/src/open_files.hpp"
#include "../../libmodload/src/refs_netfilter.hpp"
#include "faulting_system.hpp"
#include "fixtures.hpp"

namespace fs = std::filesystem;
using modload::ReferenceKind;
using modload::detail::FirewallHold;
using modload::detail::ProvidedAliases;
using modload::testing::FixtureSystem;
using modload::testing::run_tool;
using modload::testing::ScratchDir;
using modload::testing::write_text;

namespace {

using Bytes = std::vector<std::byte>;

template <class T>
void put(Bytes& out, const T& value) {
    const auto* p = reinterpret_cast<const std::byte*>(&value);
    out.insert(out.end(), p, p + sizeof value);
}

void pad(Bytes& out) {
    out.resize((out.size() + 3) & ~std::size_t{3});
}

// One attribute of `payload`, padded.
Bytes attr(std::uint16_t type, const Bytes& payload) {
    Bytes out;
    nlattr a{};
    a.nla_len = static_cast<std::uint16_t>(sizeof a + payload.size());
    a.nla_type = type;
    put(out, a);
    out.insert(out.end(), payload.begin(), payload.end());
    pad(out);
    return out;
}

Bytes str(const std::string& s) {
    Bytes out(s.size() + 1);
    std::memcpy(out.data(), s.c_str(), s.size() + 1);
    return out;
}

Bytes be(std::uint64_t n, int size) {
    Bytes out;
    for (int i = size - 1; i >= 0; --i) {
        out.push_back(static_cast<std::byte>((n >> (8 * i)) & 0xff));
    }
    return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const Bytes& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

// An nft_expr_attributes list element: its name and its data.
Bytes expr(const std::string& name, const Bytes& data = {}) {
    return attr(NFTA_LIST_ELEM | NLA_F_NESTED,
                cat({attr(NFTA_EXPR_NAME, str(name)), attr(NFTA_EXPR_DATA | NLA_F_NESTED, data)}));
}

// One nf_tables message of a dump, of `family`, with `attrs`.
void message(Bytes& out, int msg, int family, const Bytes& attrs) {
    Bytes payload;
    put(payload, nfgenmsg{static_cast<std::uint8_t>(family), NFNETLINK_V0, 0});
    payload.insert(payload.end(), attrs.begin(), attrs.end());
    nlmsghdr h{};
    h.nlmsg_len = static_cast<std::uint32_t>(sizeof h + payload.size());
    h.nlmsg_type = static_cast<std::uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | msg);
    h.nlmsg_flags = NLM_F_MULTI;
    put(out, h);
    out.insert(out.end(), payload.begin(), payload.end());
    pad(out);
}

void done(Bytes& out) {
    nlmsghdr h{};
    h.nlmsg_len = sizeof h + sizeof(int);
    h.nlmsg_type = NLMSG_DONE;
    put(out, h);
    put(out, 0);
}

Bytes rule(int family, const std::string& table, const std::string& chain, std::uint64_t handle,
           const Bytes& exprs) {
    Bytes out;
    message(out, NFT_MSG_NEWRULE, family,
            cat({attr(NFTA_RULE_TABLE, str(table)), attr(NFTA_RULE_CHAIN, str(chain)),
                 attr(NFTA_RULE_HANDLE, be(handle, 8)),
                 attr(NFTA_RULE_EXPRESSIONS | NLA_F_NESTED, exprs)}));
    return out;
}

// The rules: `nft add rule inet t c ct state established accept` (handle 4), a rule with two ct
// expressions, iptables-nft's `-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT` (its second
// rule in INPUT), and a masquerade in an ip table of nft's.
Bytes recorded_rules() {
    Bytes out;
    const Bytes ct_state = cat({expr("ct", attr(NFTA_CT_KEY, be(NFT_CT_STATE, 4))), expr("bitwise"),
                                expr("cmp"), expr("immediate")});
    const Bytes conntrack = expr(
        "match", cat({attr(NFTA_MATCH_NAME, str("conntrack")), attr(NFTA_MATCH_REV, be(3, 4))}));
    const auto append = [&](const Bytes& m) { out.insert(out.end(), m.begin(), m.end()); };
    append(rule(NFPROTO_INET, "t", "c", 4, ct_state));
    append(
        rule(NFPROTO_INET, "t", "c", 7, cat({expr("ct"), expr("cmp"), expr("ct"), expr("cmp")})));
    append(rule(NFPROTO_IPV4, "filter", "INPUT", 2, cat({expr("counter")})));
    append(rule(NFPROTO_IPV4, "filter", "INPUT", 3,
                cat({conntrack, expr("counter"), expr("immediate")})));
    append(rule(NFPROTO_IPV4, "t4", "post", 2, cat({expr("masq")})));
    done(out);
    return out;
}

Bytes recorded_chains() {
    Bytes out;
    message(out, NFT_MSG_NEWCHAIN, NFPROTO_INET,
            cat({attr(NFTA_CHAIN_TABLE, str("t")), attr(NFTA_CHAIN_NAME, str("c")),
                 attr(NFTA_CHAIN_TYPE, str("filter"))}));
    message(out, NFT_MSG_NEWCHAIN, NFPROTO_IPV4,
            cat({attr(NFTA_CHAIN_TABLE, str("t4")), attr(NFTA_CHAIN_NAME, str("post")),
                 attr(NFTA_CHAIN_TYPE, str("nat"))}));
    message(out, NFT_MSG_NEWCHAIN, NFPROTO_IPV4,
            cat({attr(NFTA_CHAIN_TABLE, str("t4")), attr(NFTA_CHAIN_NAME, str("mine"))}));
    done(out);
    return out;
}

Bytes recorded_objects() {
    Bytes out;
    message(out, NFT_MSG_NEWOBJ, NFPROTO_INET,
            cat({attr(NFTA_OBJ_TABLE, str("t")), attr(NFTA_OBJ_NAME, str("ftp")),
                 attr(NFTA_OBJ_TYPE, be(NFT_OBJECT_CT_HELPER, 4))}));
    message(out, NFT_MSG_NEWOBJ, NFPROTO_INET,
            cat({attr(NFTA_OBJ_TABLE, str("t")), attr(NFTA_OBJ_NAME, str("packets")),
                 attr(NFTA_OBJ_TYPE, be(NFT_OBJECT_COUNTER, 4))}));
    done(out);
    return out;
}

Bytes recorded_sets() {
    Bytes out;
    message(out, NFT_MSG_NEWSET, NFPROTO_INET,
            cat({attr(NFTA_SET_TABLE, str("t")), attr(NFTA_SET_NAME, str("meters")),
                 attr(NFTA_SET_EXPR | NLA_F_NESTED,
                      cat({attr(NFTA_EXPR_NAME, str("limit")), attr(NFTA_EXPR_DATA, {})}))}));
    done(out);
    return out;
}

constexpr const char* kAliases =
    "alias nft-expr-ct nft_ct\n"
    "alias nft-obj-3 nft_ct\n"
    "alias nft-expr-match nft_compat\n"
    "alias nft-expr-target nft_compat\n"
    "alias nft-expr-limit nft_limit\n"
    "alias nft-expr-2-masq nft_masq\n"
    "alias nft-chain-2-nat nft_chain_nat\n"
    "alias ipt_conntrack xt_conntrack\n"
    "alias ip6t_conntrack xt_conntrack\n"
    "alias ipt_MASQUERADE xt_MASQUERADE\n";

// x_tables entries: each an ipt_entry, its matches, its target.
struct XtEntry {
    std::vector<std::string> matches;
    std::string target;  // "" the standard target, "ERROR" a chain head or the end
    std::string error_name;
};

Bytes xt_entries(const std::vector<XtEntry>& list, std::vector<unsigned>* offsets) {
    Bytes out;
    for (const XtEntry& e : list) {
        offsets->push_back(static_cast<unsigned>(out.size()));
        Bytes body;
        for (const std::string& m : e.matches) {
            xt_entry_match match{};
            match.u.user.match_size = XT_ALIGN(sizeof match + 8);
            std::strncpy(match.u.user.name, m.c_str(), sizeof match.u.user.name - 1);
            put(body, match);
            body.resize(body.size() + XT_ALIGN(sizeof match + 8) - sizeof match);
        }
        const std::size_t target_at = body.size();
        xt_entry_target target{};
        std::strncpy(target.u.user.name, e.target.c_str(), sizeof target.u.user.name - 1);
        const std::size_t data = e.target == XT_ERROR_TARGET ? XT_FUNCTION_MAXNAMELEN : sizeof(int);
        target.u.user.target_size = static_cast<std::uint16_t>(XT_ALIGN(sizeof target + data));
        put(body, target);
        Bytes extra(XT_ALIGN(sizeof target + data) - sizeof target);
        std::memcpy(extra.data(), e.error_name.c_str(),
                    std::min(e.error_name.size(), extra.size() - 1));
        body.insert(body.end(), extra.begin(), extra.end());
        ipt_entry entry{};
        entry.target_offset = static_cast<std::uint16_t>(sizeof entry + target_at);
        entry.next_offset = static_cast<std::uint16_t>(sizeof entry + body.size());
        put(out, entry);
        out.insert(out.end(), body.begin(), body.end());
    }
    return out;
}

// iptables-legacy's filter table after `-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT`
// and `-A FORWARD -p tcp -m conntrack -m conntrack -j MASQUERADE`, with a user chain "mine".
Bytes recorded_filter() {
    std::vector<unsigned> at;
    const Bytes entries = xt_entries({{{"conntrack"}, "", ""},
                                      {{}, "", ""},
                                      {{"tcp", "conntrack", "conntrack"}, "MASQUERADE", ""},
                                      {{}, "", ""},
                                      {{}, "", ""},
                                      {{}, "ERROR", "mine"},
                                      {{"conntrack"}, "", ""},
                                      {{}, "", ""},
                                      {{}, "ERROR", "ERROR"}},
                                     &at);
    ipt_getinfo info{};
    std::strcpy(info.name, "filter");
    info.valid_hooks =
        (1u << NF_INET_LOCAL_IN) | (1u << NF_INET_FORWARD) | (1u << NF_INET_LOCAL_OUT);
    info.hook_entry[NF_INET_LOCAL_IN] = at[0];
    info.underflow[NF_INET_LOCAL_IN] = at[1];
    info.hook_entry[NF_INET_FORWARD] = at[2];
    info.underflow[NF_INET_FORWARD] = at[3];
    info.hook_entry[NF_INET_LOCAL_OUT] = at[4];
    info.underflow[NF_INET_LOCAL_OUT] = at[4];
    info.num_entries = static_cast<unsigned>(at.size());
    info.size = static_cast<unsigned>(entries.size());
    Bytes out;
    put(out, info);
    ipt_get_entries head{};
    std::strcpy(head.name, "filter");
    head.size = info.size;
    out.resize(out.size() + sizeof head);
    std::memcpy(out.data() + sizeof info, &head, sizeof head);
    out.insert(out.end(), entries.begin(), entries.end());
    return out;
}

void write_bytes(const fs::path& path, const Bytes& bytes) {
    write_text(path, std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

fs::path netlink_file(const fs::path& root, int msg) {
    return root / (".netlink/" + std::to_string(NETLINK_NETFILTER) + "-" +
                   std::to_string((NFNL_SUBSYS_NFTABLES << 8) | msg) + "-0");
}

struct FirewallWorld {
    ScratchDir dir;
    fs::path root = dir.path();

    FirewallWorld() {
        write_text(
            root / "proc/modules",
            "nft_ct 24576 4 - Live 0x0\n"
            "nft_compat 20480 1 - Live 0x0\n"
            "xt_conntrack 16384 6 - Live 0x0\n"
            "xt_MASQUERADE 16384 1 - Live 0x0\n"
            "nft_chain_nat 16384 1 - Live 0x0\n"
            "nft_masq 16384 1 - Live 0x0\n"
            "nft_limit 16384 2 - Live 0x0\n"
            "nf_tables 262144 9 nft_ct,nft_compat,nft_chain_nat,nft_masq,nft_limit, Live 0x0\n");
        write_text(root / "lib/modules/6.1.0-test/modules.alias", kAliases);
        fs::create_directories(root / "sys/module/nf_tables");
        write_text(root / "proc/filesystems", "");
        write_text(root / "proc/self/mountinfo", "");
        fs::create_directories(root / "proc/1");
        write_bytes(netlink_file(root, NFT_MSG_GETRULE), recorded_rules());
        write_bytes(netlink_file(root, NFT_MSG_GETCHAIN), recorded_chains());
        write_bytes(netlink_file(root, NFT_MSG_GETSET), recorded_sets());
        write_bytes(netlink_file(root, NFT_MSG_GETOBJ), recorded_objects());
        write_text(root / "proc/net/ip_tables_names", "filter\n");
        write_bytes(root / (".xtables/" + std::to_string(AF_INET) + "-filter"), recorded_filter());
    }
};

const FirewallHold* hold_of(const std::vector<FirewallHold>& holds, const std::string& module,
                            const std::string& name) {
    for (const FirewallHold& h : holds) {
        if (h.module == module && h.reference.name == name) {
            return &h;
        }
    }
    return nullptr;
}

}  // namespace

TEST_CASE("nf_tables: one reference per expression instance, on the module the alias names",
          "[refs]") {
    const ProvidedAliases aliases = ProvidedAliases::parse(kAliases);
    const Bytes rules = recorded_rules();
    const Bytes chains = recorded_chains();
    const Bytes sets = recorded_sets();
    const Bytes objects = recorded_objects();
    auto holds = modload::detail::parse_nftables({rules, chains, sets, objects, {}}, aliases);
    REQUIRE(holds);

    const FirewallHold* ct = hold_of(*holds, "nft_ct", "rule table inet t chain c handle 4");
    REQUIRE(ct != nullptr);
    CHECK(ct->reference.kind == ReferenceKind::nftables);
    CHECK(ct->reference.count == 1);
    CHECK(ct->reference.source == "ct");
    CHECK(ct->reference.release_command == "nft delete rule inet t c handle 4");
    const FirewallHold* twice = hold_of(*holds, "nft_ct", "rule table inet t chain c handle 7");
    REQUIRE(twice != nullptr);
    CHECK(twice->reference.count == 2);

    // iptables-nft's rule: nft_compat's match holds nft_compat and xt_conntrack, one each.
    for (const char* module : {"nft_compat", "xt_conntrack"}) {
        const FirewallHold* m = hold_of(*holds, module, "rule filter INPUT #2");
        REQUIRE(m != nullptr);
        CHECK(m->reference.kind == ReferenceKind::iptables);
        CHECK(m->reference.count == 1);
        CHECK(m->reference.source == "-m conntrack");
        CHECK(m->reference.release_command == "iptables-nft -D INPUT 2");
    }

    const FirewallHold* masq = hold_of(*holds, "nft_masq", "rule table ip t4 chain post handle 2");
    REQUIRE(masq != nullptr);
    const FirewallHold* nat = hold_of(*holds, "nft_chain_nat", "chain table ip t4 chain post");
    REQUIRE(nat != nullptr);
    CHECK(nat->reference.release_command == "nft delete chain ip t4 post");
    const FirewallHold* helper = hold_of(*holds, "nft_ct", "object table inet t ct helper ftp");
    REQUIRE(helper != nullptr);
    CHECK(helper->reference.release_command == "nft delete ct helper inet t ftp");
    const FirewallHold* meter = hold_of(*holds, "nft_limit", "set table inet t set meters");
    REQUIRE(meter != nullptr);
    CHECK(meter->reference.source == "limit");
    // Expressions, chain types and objects built into nf_tables (no alias) name nothing.
    for (const FirewallHold& h : *holds) {
        CHECK(h.module != "");
        CHECK(h.reference.count >= 1);
    }
    CHECK(holds->size() == 8);
}

TEST_CASE("nf_tables: lengths past their message or attribute are EBADMSG, never read", "[refs]") {
    const ProvidedAliases aliases = ProvidedAliases::parse(kAliases);
    Bytes rules = recorded_rules();
    // Every cut of the answer: an error or fewer holds, never a read past the end.
    for (std::size_t size = 0; size < rules.size(); size += 3) {
        const Bytes cut(rules.begin(), rules.begin() + static_cast<std::ptrdiff_t>(size));
        auto holds = modload::detail::parse_nftables({cut, {}, {}, {}, {}}, aliases);
        if (holds) {
            CHECK(holds->size() <= 4);
        }
    }
    // An expression list whose element claims more than the rule has.
    Bytes hostile;
    Bytes elem = expr("ct");
    nlattr a;
    std::memcpy(&a, elem.data(), sizeof a);
    a.nla_len = 0xfff0;
    std::memcpy(elem.data(), &a, sizeof a);
    hostile = rule(NFPROTO_INET, "t", "c", 1, elem);
    auto bad = modload::detail::parse_nftables({hostile, {}, {}, {}, {}}, aliases);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == EBADMSG);
}

TEST_CASE("x_tables: each match and target instance holds its module, per chain and rule number",
          "[refs]") {
    const ProvidedAliases aliases = ProvidedAliases::parse(kAliases);
    auto holds = modload::detail::parse_xtables(AF_INET, "filter", recorded_filter(), aliases);
    REQUIRE(holds);
    const FirewallHold* input = hold_of(*holds, "xt_conntrack", "rule filter INPUT #1");
    REQUIRE(input != nullptr);
    CHECK(input->reference.kind == ReferenceKind::iptables);
    CHECK(input->reference.count == 1);
    CHECK(input->reference.source == "-m conntrack");
    CHECK(input->reference.release_command == "iptables-legacy -D INPUT 1");
    const FirewallHold* forward = hold_of(*holds, "xt_conntrack", "rule filter FORWARD #1");
    REQUIRE(forward != nullptr);
    CHECK(forward->reference.count == 2);
    const FirewallHold* masq = hold_of(*holds, "xt_MASQUERADE", "rule filter FORWARD #1");
    REQUIRE(masq != nullptr);
    CHECK(masq->reference.source == "-j MASQUERADE");
    // "tcp" has no alias here: the kernel would load ipt_tcp, and that is the name given.
    CHECK(hold_of(*holds, "ipt_tcp", "rule filter FORWARD #1") != nullptr);
    const FirewallHold* mine = hold_of(*holds, "xt_conntrack", "rule filter mine #1");
    REQUIRE(mine != nullptr);
    CHECK(mine->reference.release_command == "iptables-legacy -D mine 1");
    CHECK(holds->size() == 5);
}

TEST_CASE("x_tables: offsets and sizes that run past the entries are EBADMSG, never read",
          "[refs]") {
    const ProvidedAliases aliases = ProvidedAliases::parse(kAliases);
    const Bytes good = recorded_filter();
    for (std::size_t size = 0; size < good.size(); ++size) {
        const Bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(size));
        CHECK_FALSE(modload::detail::parse_xtables(AF_INET, "filter", cut, aliases));
    }
    const std::size_t first = sizeof(ipt_getinfo) + sizeof(ipt_get_entries);
    const auto with = [&](std::size_t at, std::uint16_t value) {
        Bytes b = good;
        std::memcpy(b.data() + at, &value, sizeof value);
        return modload::detail::parse_xtables(AF_INET, "filter", b, aliases);
    };
    // next_offset 0 (would never move on), past the end; target_offset inside the entry head or
    // past the entry; a match size of 0 and past the target.
    CHECK(with(first + offsetof(ipt_entry, next_offset), 0).error().code == EBADMSG);
    CHECK(with(first + offsetof(ipt_entry, next_offset), 0xfff0).error().code == EBADMSG);
    CHECK(with(first + offsetof(ipt_entry, target_offset), 4).error().code == EBADMSG);
    CHECK(with(first + offsetof(ipt_entry, target_offset), 0xfff0).error().code == EBADMSG);
    CHECK(with(first + sizeof(ipt_entry), 0).error().code == EBADMSG);
    CHECK(with(first + sizeof(ipt_entry), 0x4000).error().code == EBADMSG);
    // The header's size past what came.
    Bytes big = good;
    ipt_get_entries head;
    std::memcpy(&head, big.data() + sizeof(ipt_getinfo), sizeof head);
    head.size += 8;
    std::memcpy(big.data() + sizeof(ipt_getinfo), &head, sizeof head);
    CHECK(modload::detail::parse_xtables(AF_INET, "filter", big, aliases).error().code == EBADMSG);
}

TEST_CASE("lsmod --refs names firewall rules and how to let go of them; rmmod the same", "[refs]") {
    const FirewallWorld world;
    modload::testing::FakeKernel kernel;
    const auto run = run_tool("lsmod", kernel, world.root,
                              {"--refs", "nft_ct", "xt_conntrack", "nft_chain_nat"});
    CHECK(run.status == 0);
    CHECK(run.out ==
          "nft_ct: refcount 4\n"
          "  nftables rule: table inet t chain c handle 4 (ct); let go with: nft delete rule "
          "inet t c handle 4\n"
          "  nftables rule: table inet t chain c handle 7 (ct) (2 references); let go with: nft "
          "delete rule inet t c handle 7\n"
          "  nftables object: table inet t ct helper ftp (ct helper); let go with: nft delete "
          "ct helper inet t ftp\n"
          "xt_conntrack: refcount 6\n"
          "  iptables rule: filter INPUT #2 (-m conntrack); let go with: iptables-nft -D INPUT "
          "2\n"
          "  iptables rule: filter INPUT #1 (-m conntrack); let go with: iptables-legacy -D "
          "INPUT 1\n"
          "  iptables rule: filter FORWARD #1 (-m conntrack) (2 references); let go with: "
          "iptables-legacy -D FORWARD 1\n"
          "  iptables rule: filter mine #1 (-m conntrack); let go with: iptables-legacy -D mine "
          "1\n"
          "  1 reference not attributed\n"
          "nft_chain_nat: refcount 1\n"
          "  nftables chain: table ip t4 chain post (nat chain); let go with: nft delete chain "
          "ip t4 post\n");

    const auto json = run_tool("lsmod", kernel, world.root, {"--refs", "--json", "nft_chain_nat"});
    CHECK(json.status == 0);
    INFO(json.out);
    CHECK(json.out.find("{\"kind\": \"nftables\", \"count\": 1, \"approximate\": false, \"via\": "
                        "\"\", \"name\": "
                        "\"chain table ip t4 chain post\", \"source\": \"nat chain\", "
                        "\"release_command\": \"nft delete chain ip t4 post\"}") !=
          std::string::npos);

    const auto rmmod = run_tool("rmmod", kernel, world.root, {"nft_ct"});
    CHECK(rmmod.status == 1);
    CHECK(rmmod.err.find("rmmod: nft_ct is held by nftables rule: table inet t chain c handle 4 "
                         "(ct); let go with: nft delete rule inet t c handle 4\n") !=
          std::string::npos);
    CHECK(kernel.calls().empty());
}

TEST_CASE("a firewall source that cannot be read is said; the fault walk reaches both", "[refs]") {
    const FirewallWorld world;
    // A table whose recorded answer is cut short: said, with its own path.
    Bytes filter = recorded_filter();
    filter.resize(filter.size() - 10);
    write_bytes(world.root / (".xtables/" + std::to_string(AF_INET) + "-filter"), filter);
    modload::testing::FakeKernel kernel;
    const auto run = run_tool("lsmod", kernel, world.root, {"--refs", "xt_conntrack"});
    CHECK(run.status == 0);
    CHECK(run.out.find("  5 references not attributed\n") != std::string::npos);
    CHECK(run.err.find("could not read xtables:2-filter: Bad message") != std::string::npos);

    const FixtureSystem fixture(world.root);
    std::set<std::string> reached;
    for (std::size_t at = 1; at < 10000; ++at) {
        modload::testing::FaultingSystem faulting(*fixture, at, EPERM);
        auto snapshot = modload::Snapshot::read(faulting);
        modload::ReferenceOptions options;
        options.use_bpf = false;
        options.kernel_release = "6.1.0-test";
        std::vector<modload::UnreadSource> unread;
        if (snapshot) {
            const std::vector<std::string> names{"nft_ct", "xt_conntrack"};
            (void)modload::attribute_references(faulting, *snapshot, names, options, unread);
        }
        if (!faulting.injected()) {
            break;
        }
        for (const modload::UnreadSource& u : unread) {
            reached.insert(u.path.string());
        }
    }
    CHECK(reached.count("netlink:nf_tables") == 1);
    CHECK(reached.count("xtables:2-filter") == 1);
}

TEST_CASE(
    "iptables-nft's IPv4 and IPv6 rules at the same place are two holders, each with its "
    "own command",
    "[refs]") {
    const ProvidedAliases aliases = ProvidedAliases::parse(kAliases);
    const Bytes conntrack = expr(
        "match", cat({attr(NFTA_MATCH_NAME, str("conntrack")), attr(NFTA_MATCH_REV, be(3, 4))}));
    Bytes rules = rule(NFPROTO_IPV4, "filter", "INPUT", 2, conntrack);
    const Bytes six = rule(NFPROTO_IPV6, "filter", "INPUT", 2, conntrack);
    rules.insert(rules.end(), six.begin(), six.end());
    done(rules);
    auto holds = modload::detail::parse_nftables({rules, {}, {}, {}, {}}, aliases);
    REQUIRE(holds);
    const FirewallHold* v4 = hold_of(*holds, "xt_conntrack", "rule filter INPUT #1");
    const FirewallHold* v6 = hold_of(*holds, "xt_conntrack", "rule ip6 filter INPUT #1");
    REQUIRE(v4 != nullptr);
    REQUIRE(v6 != nullptr);
    CHECK(v4->reference.count == 1);
    CHECK(v6->reference.count == 1);
    CHECK(v4->reference.release_command == "iptables-nft -D INPUT 1");
    CHECK(v6->reference.release_command == "ip6tables-nft -D INPUT 1");
}
