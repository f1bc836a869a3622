// Traffic control holders, from NETLINK_ROUTE dumps. What the kernel counts (net/sched):
//   - qdisc_create() keeps the reference qdisc_lookup_ops() took on the ops' owner until the qdisc
//     is destroyed: one per qdisc, the invisible default ones too (TCA_DUMP_INVISIBLE shows them);
//   - tcf_proto_create() keeps the one tcf_proto_lookup_ops() took: one per tcf_proto, that is per
//     block, chain and priority (one protocol each), however many filter handles it holds (u32's
//     hash tables and keys are all one tcf_proto);
//   - an action keeps its ops' owner while it exists in the action table, bound to filters or not.
// Classes hold nothing of their own (their qdisc's module is the qdisc's), but filters hang on
// them: they are read as the parents whose blocks are dumped.
#include "refs_tc.hpp"
#include "refs_sources.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include <sys/socket.h>

#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include <modload/names.hpp>

#include "module_aliases.hpp"
#include "netlink.hpp"
#include "open_files.hpp"

namespace modload::detail {

namespace {

template <class T>
void put(std::vector<std::byte>& out, const T& value) {
    const auto* p = reinterpret_cast<const std::byte*>(&value);
    out.insert(out.end(), p, p + sizeof value);
}

void pad(std::vector<std::byte>& out) {
    out.resize((out.size() + 3) & ~std::size_t{3});
}

// Starts attribute `type`; end_attribute() writes its length once its payload is in.
std::size_t begin_attribute(std::vector<std::byte>& out, std::uint16_t type) {
    const std::size_t at = out.size();
    nlattr header{};
    header.nla_type = type;
    put(out, header);
    return at;
}

void end_attribute(std::vector<std::byte>& out, std::size_t at) {
    const auto length = static_cast<std::uint16_t>(out.size() - at);
    std::memcpy(out.data() + at, &length, sizeof length);
    pad(out);
}

std::optional<std::uint32_t> attribute_u32(std::span<const std::byte> payload) {
    std::uint32_t value = 0;
    if (payload.size() < sizeof value) {
        return std::nullopt;
    }
    std::memcpy(&value, payload.data(), sizeof value);
    return value;
}

// A handle as tc prints it: "root", "8001:", "1:10", ":3".
std::string handle_text(std::uint32_t h) {
    char text[32];
    if (h == TC_H_ROOT) {
        return "root";
    }
    if (TC_H_MAJ(h) == 0) {
        std::snprintf(text, sizeof text, ":%x", TC_H_MIN(h));
    } else if (TC_H_MIN(h) == 0) {
        std::snprintf(text, sizeof text, "%x:", TC_H_MAJ(h) >> 16);
    } else {
        std::snprintf(text, sizeof text, "%x:%x", TC_H_MAJ(h) >> 16, TC_H_MIN(h));
    }
    return text;
}

std::string protocol_text(std::uint16_t network_order) {
    const auto protocol = static_cast<std::uint16_t>((network_order >> 8) | (network_order << 8));
    switch (protocol) {
        case 0x0003:
            return "all";
        case 0x0800:
            return "ip";
        case 0x86dd:
            return "ipv6";
        case 0x0806:
            return "arp";
        case 0x8100:
            return "802.1Q";
        case 0x88a8:
            return "802.1ad";
    }
    char text[16];
    std::snprintf(text, sizeof text, "0x%04x", protocol);
    return text;
}

// One dump's messages of `answer_type`, each its fixed header and attributes. ENOENT (a fixture
// without the file, an interface the kernel does not have) holds nothing; another failure is
// noted as `what`.
struct Answer {
    std::span<const std::byte> header;
    std::vector<NetlinkAttribute> attributes;
};

class Dumper {
  public:
    Dumper(System& system, std::vector<UnreadSource>* unread) : system_(system), unread_(unread) {}

    std::vector<Answer> dump(std::uint16_t type, std::uint16_t answer_type,
                             std::span<const std::byte> payload, std::size_t header_size,
                             const std::string& what) {
        const std::vector<std::byte> request =
            netlink_request_bytes(type, NLM_F_DUMP, ++seq_, payload);
        auto answer = system_.netlink_request(NETLINK_ROUTE, request);
        if (!answer) {
            note_unread(unread_, "netlink:tc " + what, answer.error().code);
            return {};
        }
        answers_.push_back(std::move(*answer));
        auto messages = netlink_messages(answers_.back());
        if (!messages) {
            note_unread(unread_, "netlink:tc " + what, messages.error().code);
            return {};
        }
        std::vector<Answer> out;
        for (const NetlinkMessage& m : *messages) {
            // tc_dump_action() answers with the request's type, the other dumps with RTM_NEW*.
            if ((m.type != answer_type && m.type != type) || m.payload.size() < header_size) {
                continue;
            }
            auto attributes = netlink_attributes(m.payload.subspan(NLMSG_ALIGN(header_size)));
            if (!attributes) {
                note_unread(unread_, "netlink:tc " + what, attributes.error().code);
                return {};
            }
            out.push_back(Answer{m.payload.first(header_size), std::move(*attributes)});
        }
        return out;
    }

  private:
    System& system_;
    std::vector<UnreadSource>* unread_;
    std::uint32_t seq_ = 0;
    std::vector<std::vector<std::byte>> answers_;  // the bytes the answers' spans point into
};

std::string kind_of(const Answer& a) {
    for (const NetlinkAttribute& attribute : a.attributes) {
        if (attribute.type == TCA_KIND) {
            return netlink_text(attribute.payload);
        }
    }
    return {};
}

tcmsg tcmsg_of(const Answer& a) {
    tcmsg t;
    std::memcpy(&t, a.header.data(), sizeof t);
    return t;
}

std::vector<std::byte> tc_request(int ifindex, std::uint32_t parent, bool invisible) {
    std::vector<std::byte> payload;
    tcmsg t{};
    t.tcm_family = AF_UNSPEC;
    t.tcm_ifindex = ifindex;
    t.tcm_parent = parent;
    put(payload, t);
    if (invisible) {
        end_attribute(payload, begin_attribute(payload, TCA_DUMP_INVISIBLE));
    }
    return payload;
}

using Aliases = std::vector<std::pair<std::string, std::string>>;

// The kinds of `family` that `module` provides: its own name's and its aliases'.
std::set<std::string> kinds_of(std::string_view family, const std::string& module,
                               const Aliases& aliases) {
    std::set<std::string> kinds;
    const std::string prefix = std::string(family) + "_";
    if (module.starts_with(prefix)) {
        kinds.insert(module.substr(prefix.size()));
    }
    const std::string net = "net-" + std::string(family) + "-";
    for (const auto& [pattern, owner] : aliases) {
        if (owner != module) {
            continue;
        }
        if (pattern.starts_with(net)) {
            kinds.insert(pattern.substr(net.size()));
        } else if (pattern.starts_with(prefix)) {
            kinds.insert(pattern.substr(prefix.size()));
        }
    }
    return kinds;
}

void add(std::vector<TrafficControlHolder>& holders, std::string module, std::string name,
         std::string release) {
    TrafficControlHolder holder;
    holder.module = std::move(module);
    holder.reference.kind = ReferenceKind::traffic_control;
    holder.reference.name = std::move(name);
    holder.reference.release_command = std::move(release);
    holders.push_back(std::move(holder));
}

// An action's index and bindings: TCA_ACT_INDEX where the dump gives it, else the parameters
// every action's options start with (tc_gen; police's own struct tc_police).
struct ActionIdentity {
    std::optional<std::uint32_t> index;
    std::optional<std::int32_t> bindcnt;
};

// The attribute in TCA_ACT_OPTIONS that holds an action's tc_gen-led parameters: its number
// differs by kind (include/uapi/linux/tc_act/*.h: TCA_GACT_PARMS is 2, TCA_CT_PARMS is 1,
// TCA_CTINFO_ACT is 3; police's TCA_POLICE_TBF is 1). A kind not listed here is not read for its
// index: guessing would name another action in the command that lets go.
std::optional<std::uint16_t> parameters_attribute(std::string_view kind) {
    static constexpr std::pair<std::string_view, std::uint16_t> kKinds[] = {
        {"police", 1}, {"connmark", 1}, {"csum", 1},    {"ct", 1},     {"ife", 1},
        {"nat", 1},    {"bpf", 2},      {"gact", 2},    {"mirred", 2}, {"mpls", 2},
        {"pedit", 2},  {"sample", 2},   {"skbedit", 2}, {"skbmod", 2}, {"tunnel_key", 2},
        {"vlan", 2},   {"gate", 2},     {"simple", 2},  {"ctinfo", 3},
    };
    for (const auto& [name, type] : kKinds) {
        if (name == kind) {
            return type;
        }
    }
    return std::nullopt;
}

ActionIdentity action_identity(const std::string& kind,
                               const std::vector<NetlinkAttribute>& attributes) {
    ActionIdentity id;
    for (const NetlinkAttribute& a : attributes) {
        if (a.type == TCA_ACT_INDEX) {
            id.index = attribute_u32(a.payload);
        }
        if (a.type != TCA_ACT_OPTIONS) {
            continue;
        }
        auto options = netlink_attributes(a.payload);
        const std::optional<std::uint16_t> parms = parameters_attribute(kind);
        if (!options || !parms) {
            continue;
        }
        for (const NetlinkAttribute& o : *options) {
            if (o.type != *parms) {
                continue;
            }
            const std::size_t bind_at =
                kind == "police" ? offsetof(tc_police, bindcnt) : 4 * sizeof(std::uint32_t);
            if (o.payload.size() >= bind_at + sizeof(std::int32_t)) {
                std::uint32_t index = 0;
                std::int32_t bindcnt = 0;
                std::memcpy(&index, o.payload.data(), sizeof index);
                std::memcpy(&bindcnt, o.payload.data() + bind_at, sizeof bindcnt);
                id.index = id.index.value_or(index);
                id.bindcnt = bindcnt;
            }
        }
    }
    return id;
}

void action_holders(Dumper& dumper, const std::string& module, const std::string& kind,
                    std::vector<TrafficControlHolder>& holders) {
    std::vector<std::byte> payload;
    tcamsg t{};
    t.tca_family = AF_UNSPEC;
    put(payload, t);
    const std::size_t tab = begin_attribute(payload, TCA_ACT_TAB);
    const std::size_t first = begin_attribute(payload, 1);
    const std::size_t name = begin_attribute(payload, TCA_ACT_KIND);
    payload.insert(payload.end(), reinterpret_cast<const std::byte*>(kind.c_str()),
                   reinterpret_cast<const std::byte*>(kind.c_str()) + kind.size() + 1);
    end_attribute(payload, name);
    end_attribute(payload, first);
    end_attribute(payload, tab);
    for (const Answer& a :
         dumper.dump(RTM_GETACTION, RTM_NEWACTION, payload, sizeof(tcamsg), "actions " + kind)) {
        for (const NetlinkAttribute& table : a.attributes) {
            if (table.type != TCA_ACT_TAB) {
                continue;
            }
            auto actions = netlink_attributes(table.payload);
            if (!actions) {
                continue;
            }
            for (const NetlinkAttribute& action : *actions) {
                auto attributes = netlink_attributes(action.payload);
                if (!attributes) {
                    continue;
                }
                std::string found;
                for (const NetlinkAttribute& attribute : *attributes) {
                    if (attribute.type == TCA_ACT_KIND) {
                        found = netlink_text(attribute.payload);
                    }
                }
                if (found != kind) {  // a recorded answer holds every kind's
                    continue;
                }
                const ActionIdentity id = action_identity(kind, *attributes);
                std::string text = "action " + kind;
                std::string release;
                if (id.index) {
                    text += " index " + std::to_string(*id.index);
                    if (id.bindcnt == 0) {
                        release = "tc actions delete action " + kind + " index " +
                                  std::to_string(*id.index);
                    }
                }
                if (id.bindcnt.value_or(0) > 0) {
                    text += " (bound to " + std::to_string(*id.bindcnt) +
                            (*id.bindcnt == 1 ? " filter)" : " filters)");
                }
                add(holders, module, std::move(text), std::move(release));
            }
        }
    }
}

}  // namespace

std::string traffic_control_module(std::string_view family, std::string_view kind,
                                   const Aliases& aliases) {
    const std::string net = "net-" + std::string(family) + "-" + std::string(kind);
    const std::string own = std::string(family) + "_" + std::string(kind);
    for (const std::string& wanted : {net, own}) {
        for (const auto& [pattern, module] : aliases) {
            if (pattern == wanted) {
                return module;
            }
        }
    }
    return normalize_module_name(own);
}

std::vector<TrafficControlHolder> traffic_control_holders(System& system,
                                                          const std::string& kernel_release,
                                                          const std::vector<std::string>& modules,
                                                          std::vector<UnreadSource>* unread) {
    Aliases aliases;
    if (!kernel_release.empty()) {
        aliases = parse_module_aliases(
            read_or_note(system, system.path("/lib/modules/" + kernel_release + "/modules.alias"),
                         unread),
            [](std::string_view p) {
                return p.starts_with("net-sch-") || p.starts_with("net-cls-") ||
                       p.starts_with("net-act-") || p.starts_with("sch_") ||
                       p.starts_with("cls_") || p.starts_with("act_");
            });
    }
    const std::set<std::string> wanted(modules.begin(), modules.end());
    bool qdiscs = false;
    bool filters = false;
    std::vector<std::pair<std::string, std::string>> actions;  // module, kind
    for (const std::string& module : wanted) {
        qdiscs = qdiscs || !kinds_of("sch", module, aliases).empty();
        filters = filters || !kinds_of("cls", module, aliases).empty();
        for (const std::string& kind : kinds_of("act", module, aliases)) {
            actions.emplace_back(module, kind);
        }
    }
    std::vector<TrafficControlHolder> holders;
    Dumper dumper(system, unread);
    for (const auto& [module, kind] : actions) {
        action_holders(dumper, module, kind, holders);
    }
    if (!qdiscs && !filters) {
        return holders;
    }

    std::map<int, std::string> devices;
    {
        std::vector<std::byte> payload;
        ifinfomsg i{};
        i.ifi_family = AF_UNSPEC;
        put(payload, i);
        for (const Answer& a :
             dumper.dump(RTM_GETLINK, RTM_NEWLINK, payload, sizeof(ifinfomsg), "links")) {
            ifinfomsg info;
            std::memcpy(&info, a.header.data(), sizeof info);
            for (const NetlinkAttribute& attribute : a.attributes) {
                if (attribute.type == IFLA_IFNAME) {
                    devices[info.ifi_index] = netlink_text(attribute.payload);
                }
            }
        }
    }
    // A device the link dump did not name ("#3") gets no release command.
    const auto device = [&](int ifindex) {
        auto it = devices.find(ifindex);
        return it != devices.end() ? it->second : "#" + std::to_string(ifindex);
    };

    // Qdiscs, and per device the parents filters may hang on.
    std::map<int, std::set<std::uint32_t>> parents;
    std::set<std::tuple<int, std::uint32_t, std::uint32_t>> seen_qdiscs;
    for (const Answer& a :
         dumper.dump(RTM_GETQDISC, RTM_NEWQDISC, tc_request(0, 0, true), sizeof(tcmsg), "qdiscs")) {
        const tcmsg t = tcmsg_of(a);
        const std::string kind = kind_of(a);
        if (!seen_qdiscs.insert({t.tcm_ifindex, t.tcm_handle, t.tcm_parent}).second) {
            continue;
        }
        if (kind == "clsact") {
            parents[t.tcm_ifindex].insert(TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS));
            parents[t.tcm_ifindex].insert(TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS));
        } else if (t.tcm_handle != 0) {
            parents[t.tcm_ifindex].insert(t.tcm_handle);
        }
        const std::string module = traffic_control_module("sch", kind, aliases);
        if (wanted.count(module) == 0) {
            continue;
        }
        const std::string dev = device(t.tcm_ifindex);
        std::string where;
        std::string release;
        if (t.tcm_parent == TC_H_ROOT) {
            where = "root";
            release = "tc qdisc del dev " + shell_quoted(dev) + " root";
        } else if (t.tcm_parent == TC_H_INGRESS) {
            where = kind == "clsact" ? "clsact" : "ingress";
            release = "tc qdisc del dev " + shell_quoted(dev) + " " + where;
        } else {
            where = "parent " + handle_text(t.tcm_parent);
            release =
                "tc qdisc del dev " + shell_quoted(dev) + " parent " + handle_text(t.tcm_parent);
        }
        add(holders, module,
            "qdisc " + kind + " " + handle_text(t.tcm_handle) + " on " + dev + " (" + where + ")",
            t.tcm_handle != 0 && devices.count(t.tcm_ifindex) != 0 ? release : std::string());
    }
    if (!filters) {
        return holders;
    }

    for (auto& [ifindex, found] : parents) {
        for (const Answer& a :
             dumper.dump(RTM_GETTCLASS, RTM_NEWTCLASS, tc_request(ifindex, 0, false), sizeof(tcmsg),
                         "classes")) {
            const tcmsg t = tcmsg_of(a);
            if (t.tcm_ifindex == ifindex && TC_H_MIN(t.tcm_handle) != 0) {
                found.insert(t.tcm_handle);
            }
        }
    }
    // One tcf_proto per block, chain and priority; a shared block's are seen from every device
    // that uses it.
    std::set<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t, std::uint32_t>> seen;
    for (const auto& [ifindex, found] : parents) {
        for (const std::uint32_t parent : found) {
            for (const Answer& a :
                 dumper.dump(RTM_GETTFILTER, RTM_NEWTFILTER, tc_request(ifindex, parent, false),
                             sizeof(tcmsg), "filters")) {
                const tcmsg t = tcmsg_of(a);
                const bool block =
                    static_cast<std::uint32_t>(t.tcm_ifindex) == TCM_IFINDEX_MAGIC_BLOCK;
                if (!block && t.tcm_ifindex != ifindex) {
                    continue;
                }
                std::uint32_t chain = 0;
                for (const NetlinkAttribute& attribute : a.attributes) {
                    if (attribute.type == TCA_CHAIN) {
                        chain = attribute_u32(attribute.payload).value_or(0);
                    }
                }
                if (!seen.insert({static_cast<std::uint32_t>(t.tcm_ifindex), t.tcm_parent, chain,
                                  t.tcm_info})
                         .second) {
                    continue;
                }
                const std::string kind = kind_of(a);
                const std::string module = traffic_control_module("cls", kind, aliases);
                if (wanted.count(module) == 0) {
                    continue;
                }
                const std::string prio = std::to_string(TC_H_MAJ(t.tcm_info) >> 16);
                const std::string on =
                    block ? "block " + std::to_string(t.tcm_block_index)
                          : "dev " + device(ifindex) + " parent " + handle_text(t.tcm_parent);
                const std::string on_quoted = block ? on
                                                    : "dev " + shell_quoted(device(ifindex)) +
                                                          " parent " + handle_text(t.tcm_parent);
                const std::string in_chain = chain != 0 ? " chain " + std::to_string(chain) : "";
                add(holders, module,
                    "filter " + kind + " on " + (block ? on : on.substr(4)) + in_chain +
                        " protocol " +
                        protocol_text(static_cast<std::uint16_t>(TC_H_MIN(t.tcm_info))) + " prio " +
                        prio,
                    block || devices.count(ifindex) != 0
                        ? "tc filter del " + on_quoted + in_chain + " prio " + prio
                        : std::string());
            }
        }
    }
    return holders;
}

std::vector<Reference> traffic_control_references(const std::vector<TrafficControlHolder>& holders,
                                                  const std::string& module) {
    std::vector<Reference> refs;
    for (const TrafficControlHolder& holder : holders) {
        if (holder.module == module) {
            refs.push_back(holder.reference);
        }
    }
    return refs;
}

}  // namespace modload::detail
