// Traffic control as holders of modules: recorded rtnetlink answers under a fixture root (the
// bytes the kernel writes, built here), the kernel's names for modules, hostile answers, and
// lsmod --refs's words.
#include "../../libmodload/src/refs_tc.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include <catch2/catch.hpp>

#include <modload/references.hpp>
#include <modload/snapshot.hpp>

#include "fixtures.hpp"

namespace fs = std::filesystem;
using modload::testing::run_tool;
using modload::testing::ScratchDir;
using modload::testing::write_text;
using Bytes = std::vector<std::byte>;

namespace {

template <class T>
void put(Bytes& out, const T& value) {
    const auto* p = reinterpret_cast<const std::byte*>(&value);
    out.insert(out.end(), p, p + sizeof value);
}

void pad(Bytes& out) {
    out.resize((out.size() + 3) & ~std::size_t{3});
}

void message(Bytes& out, std::uint16_t type, const Bytes& payload) {
    nlmsghdr h{};
    h.nlmsg_len = static_cast<std::uint32_t>(sizeof h + payload.size());
    h.nlmsg_type = type;
    h.nlmsg_flags = NLM_F_MULTI;
    h.nlmsg_seq = 1;
    put(out, h);
    out.insert(out.end(), payload.begin(), payload.end());
    pad(out);
}

void done(Bytes& out) {
    message(out, NLMSG_DONE, Bytes(4));
}

void attribute(Bytes& out, std::uint16_t type, const Bytes& payload) {
    nlattr a{};
    a.nla_len = static_cast<std::uint16_t>(sizeof a + payload.size());
    a.nla_type = type;
    put(out, a);
    out.insert(out.end(), payload.begin(), payload.end());
    pad(out);
}

Bytes text(const std::string& s) {
    Bytes b(s.size() + 1);
    std::memcpy(b.data(), s.c_str(), s.size() + 1);
    return b;
}

template <class T>
Bytes bytes(const T& value) {
    Bytes b;
    put(b, value);
    return b;
}

Bytes tc(int ifindex, std::uint32_t handle, std::uint32_t parent, std::uint32_t info,
         const std::string& kind, std::uint32_t chain = 0) {
    Bytes p;
    tcmsg t{};
    t.tcm_ifindex = ifindex;
    t.tcm_handle = handle;
    t.tcm_parent = parent;
    t.tcm_info = info;
    put(p, t);
    attribute(p, TCA_KIND, text(kind));
    attribute(p, TCA_CHAIN, bytes(chain));
    return p;
}

// One action as the table dumps it: kind, and options whose parameters start with tc_gen.
Bytes action(const std::string& kind, std::uint32_t index, std::int32_t bindcnt) {
    struct {
        tc_gen;
    } parms{};
    parms.index = index;
    parms.refcnt = 1;
    parms.bindcnt = bindcnt;
    Bytes options;
    attribute(options, 2, bytes(parms));
    Bytes a;
    attribute(a, TCA_ACT_KIND, text(kind));
    attribute(a, TCA_ACT_OPTIONS, options);
    return a;
}

std::uint32_t filter_info(std::uint16_t prio, std::uint16_t protocol) {
    return TC_H_MAKE(std::uint32_t{prio} << 16, htons(protocol));
}

// lo with netem at the root, an ingress qdisc with two u32 tcf_protos (one of them with a hash
// table and a key: three messages, one tcf_proto), a mirred action bound to a filter and a
// standalone gact; eth0 with the default pfifo_fast.
struct TcWorld {
    ScratchDir dir;
    fs::path root = dir.path();

    TcWorld() {
        write_text(root / "proc/modules",
                   "sch_netem 20480 1 - Live 0x0\n"
                   "sch_ingress 16384 1 - Live 0x0\n"
                   "cls_u32 28672 2 - Live 0x0\n"
                   "act_mirred 20480 1 - Live 0x0\n"
                   "act_gact 16384 1 - Live 0x0\n"
                   "sch_htb 36864 0 - Live 0x0\n");
        write_text(root / "lib/modules/6.1.0-test/modules.alias",
                   "alias sch_clsact sch_ingress\nalias act_xt act_ipt\n");
        Bytes links;
        for (const auto& [index, name] : {std::pair{1, "lo"}, std::pair{2, "eth0"}}) {
            Bytes p;
            ifinfomsg i{};
            i.ifi_index = index;
            put(p, i);
            attribute(p, IFLA_IFNAME, text(name));
            message(links, RTM_NEWLINK, p);
        }
        done(links);
        record(RTM_GETLINK, links);

        Bytes qdiscs;
        message(qdiscs, RTM_NEWQDISC, tc(1, 0x80010000, TC_H_ROOT, 2, "netem"));
        message(qdiscs, RTM_NEWQDISC, tc(1, 0xffff0000, TC_H_INGRESS, 1, "ingress"));
        message(qdiscs, RTM_NEWQDISC, tc(2, 0, TC_H_ROOT, 2, "pfifo_fast"));
        done(qdiscs);
        record(RTM_GETQDISC, qdiscs);

        Bytes classes;
        done(classes);
        record(RTM_GETTCLASS, classes);

        record(RTM_GETTFILTER, filters());

        Bytes tab;
        attribute(tab, 1, action("mirred", 1, 1));
        attribute(tab, 2, action("gact", 9, 0));
        Bytes p = bytes(tcamsg{});
        attribute(p, TCA_ROOT_COUNT, bytes(std::uint32_t{2}));
        attribute(p, TCA_ACT_TAB, tab);
        Bytes actions;
        message(actions, RTM_GETACTION, p);  // tc_dump_action() answers with the request's type
        done(actions);
        record(RTM_GETACTION, actions);
    }

    static Bytes filters() {
        Bytes out;
        const std::uint32_t prio = filter_info(0xc000, 0x0800);
        message(out, RTM_NEWTFILTER, tc(1, 0, 0xffff0000, prio, "u32"));
        message(out, RTM_NEWTFILTER, tc(1, 0x80000000, 0xffff0000, prio, "u32"));
        message(out, RTM_NEWTFILTER, tc(1, 0x80000800, 0xffff0000, prio, "u32"));
        message(out, RTM_NEWTFILTER, tc(1, 0, 0xffff0000, filter_info(3, 0x0800), "u32", 1));
        done(out);
        return out;
    }

    void record(std::uint16_t type, const Bytes& answer) const {
        const fs::path file = root / ".netlink" / ("0-" + std::to_string(type) + "-0");
        fs::create_directories(file.parent_path());
        std::ofstream(file, std::ios::binary)
            .write(reinterpret_cast<const char*>(answer.data()),
                   static_cast<std::streamsize>(answer.size()));
    }

    modload::ReferenceReport references(const std::vector<std::string>& names,
                                        std::vector<modload::UnreadSource>& unread) const {
        const modload::testing::FixtureSystem system(root);
        auto snapshot = modload::Snapshot::read(system);
        REQUIRE(snapshot);
        modload::ReferenceOptions options;
        options.use_bpf = false;
        options.scan_files = false;
        options.kernel_release = "6.1.0-test";
        return modload::attribute_references(system, *snapshot, names, options, unread);
    }
};

}  // namespace

TEST_CASE("tc kinds map to modules as request_module finds them, on 6.1 and 6.12", "[refs]") {
    using modload::detail::traffic_control_module;
    const std::vector<std::pair<std::string, std::string>> v61{{"sch_clsact", "sch_ingress"},
                                                               {"act_xt", "act_ipt"}};
    CHECK(traffic_control_module("sch", "netem", v61) == "sch_netem");
    CHECK(traffic_control_module("sch", "clsact", v61) == "sch_ingress");
    CHECK(traffic_control_module("act", "xt", v61) == "act_ipt");
    CHECK(traffic_control_module("cls", "u32", v61) == "cls_u32");
    const std::vector<std::pair<std::string, std::string>> v612{{"net-sch-clsact", "sch_ingress"},
                                                                {"net-sch-ingress", "sch_ingress"},
                                                                {"net-act-mirred", "act_mirred"},
                                                                {"net-cls-u32", "cls_u32"}};
    CHECK(traffic_control_module("sch", "clsact", v612) == "sch_ingress");
    CHECK(traffic_control_module("act", "mirred", v612) == "act_mirred");
    // Built-in kinds name no module that is loaded.
    CHECK(traffic_control_module("sch", "pfifo_fast", v612) == "sch_pfifo_fast");
}

TEST_CASE("qdiscs, tcf_protos and actions each hold one reference, named with how to let go",
          "[refs]") {
    const TcWorld world;
    std::vector<modload::UnreadSource> unread;
    const auto report = world.references(
        {"sch_netem", "sch_ingress", "cls_u32", "act_mirred", "act_gact", "sch_htb"}, unread);
    CHECK(unread.empty());
    REQUIRE(report.modules.size() == 6);
    for (const auto& m : report.modules) {
        INFO(m.module);
        CHECK(m.unattributed == 0);
        CHECK_FALSE(m.changed_while_read);
    }
    const auto& netem = report.modules[0].references;
    REQUIRE(netem.size() == 1);
    CHECK(netem[0].kind == modload::ReferenceKind::traffic_control);
    CHECK(netem[0].name == "qdisc netem 8001: on lo (root)");
    CHECK(netem[0].release_command == "tc qdisc del dev lo root");
    const auto& u32 = report.modules[2].references;
    REQUIRE(u32.size() == 2);  // the hash table and key are the first tcf_proto's
    CHECK(u32[0].name == "filter u32 on lo parent ffff: protocol ip prio 49152");
    CHECK(u32[0].release_command == "tc filter del dev lo parent ffff: prio 49152");
    CHECK(u32[1].name == "filter u32 on lo parent ffff: chain 1 protocol ip prio 3");
    CHECK(u32[1].release_command == "tc filter del dev lo parent ffff: chain 1 prio 3");
    const auto& mirred = report.modules[3].references;
    REQUIRE(mirred.size() == 1);  // the gact in the same answer is not mirred's
    CHECK(mirred[0].name == "action mirred index 1 (bound to 1 filter)");
    CHECK(mirred[0].release_command.empty());  // the filter's deletion lets go
    CHECK(report.modules[4].references.at(0).release_command ==
          "tc actions delete action gact index 9");
    CHECK(report.modules[5].references.empty());
}

TEST_CASE("lsmod --refs says a tc holder and the command that lets go; rmmod names it", "[refs]") {
    const TcWorld world;
    modload::testing::FakeKernel kernel;
    const auto run =
        run_tool("lsmod", kernel, world.root, {"--refs", "sch_netem", "sch_ingress", "act_mirred"});
    CHECK(run.status == 0);
    CHECK(run.out ==
          "sch_netem: refcount 1\n"
          "  tc qdisc netem 8001: on lo (root); let go with: tc qdisc del dev lo root\n"
          "sch_ingress: refcount 1\n"
          "  tc qdisc ingress ffff: on lo (ingress); let go with: tc qdisc del dev lo ingress\n"
          "act_mirred: refcount 1\n"
          "  tc action mirred index 1 (bound to 1 filter)\n");

    const auto json = run_tool("lsmod", kernel, world.root, {"--refs", "--json", "act_gact"});
    CHECK(json.status == 0);
    CHECK(json.out.find("{\"kind\": \"tc\", \"count\": 1, \"approximate\": false, \"via\": \"\", "
                        "\"name\": \"action gact index 9\"") != std::string::npos);
    CHECK(json.out.find("\"release_command\": \"tc actions delete action gact index 9\"") !=
          std::string::npos);
    CHECK(json.out.find("\"unattributed\": 0") != std::string::npos);

    const auto rmmod = run_tool("rmmod", kernel, world.root, {"sch_netem"});
    CHECK(rmmod.status == 1);
    CHECK(rmmod.err.find("rmmod: sch_netem is held by tc qdisc netem 8001: on lo (root); let go "
                         "with: tc qdisc del dev lo root\n") != std::string::npos);
}

TEST_CASE("hostile or refused tc answers name nothing and are said; the others still count",
          "[refs]") {
    const TcWorld world;
    SECTION("a filter attribute whose length runs past its message") {
        Bytes answer = TcWorld::filters();
        // The first message's TCA_KIND: after the netlink header and the tcmsg.
        std::uint16_t len = 500;
        std::memcpy(answer.data() + sizeof(nlmsghdr) + sizeof(tcmsg), &len, sizeof len);
        world.record(RTM_GETTFILTER, answer);
        std::vector<modload::UnreadSource> unread;
        const auto report = world.references({"cls_u32", "sch_netem"}, unread);
        REQUIRE(unread.size() == 1);
        CHECK(unread[0].path == "netlink:tc filters");
        CHECK(unread[0].error.code == EBADMSG);
        CHECK(report.modules[0].references.empty());
        CHECK(report.modules[0].unattributed == 2);
        CHECK(report.modules[1].unattributed == 0);
    }
    SECTION("a message whose length runs past the answer") {
        Bytes answer = TcWorld::filters();
        std::uint32_t len = 1 << 20;
        std::memcpy(answer.data(), &len, sizeof len);
        world.record(RTM_GETTFILTER, answer);
        std::vector<modload::UnreadSource> unread;
        const auto report = world.references({"cls_u32"}, unread);
        REQUIRE(unread.size() == 1);
        CHECK(unread[0].error.code == EBADMSG);
        CHECK(report.modules[0].unattributed == 2);
    }
    SECTION("messages shorter than their tcmsg, and actions whose options are cut short") {
        Bytes qdiscs;
        message(qdiscs, RTM_NEWQDISC, Bytes(8));
        done(qdiscs);
        world.record(RTM_GETQDISC, qdiscs);
        Bytes tab;
        Bytes cut;
        attribute(cut, TCA_ACT_KIND, text("mirred"));
        attribute(cut, TCA_ACT_OPTIONS, Bytes(6));
        attribute(tab, 1, cut);
        Bytes p = bytes(tcamsg{});
        attribute(p, TCA_ACT_TAB, tab);
        Bytes actions;
        message(actions, RTM_NEWACTION, p);
        done(actions);
        world.record(RTM_GETACTION, actions);
        std::vector<modload::UnreadSource> unread;
        const auto report = world.references({"sch_netem", "act_mirred"}, unread);
        CHECK(report.modules[0].references.empty());
        CHECK(report.modules[0].unattributed == 1);
        REQUIRE(report.modules[1].references.size() == 1);
        CHECK(report.modules[1].references[0].name == "action mirred");
    }
    SECTION("without the link dump a device is its number, and no command is given for it") {
        fs::remove(world.root / ".netlink" / ("0-" + std::to_string(RTM_GETLINK) + "-0"));
        std::vector<modload::UnreadSource> unread;
        const auto report = world.references({"sch_netem"}, unread);
        CHECK(unread.empty());
        REQUIRE(report.modules[0].references.size() == 1);
        CHECK(report.modules[0].references[0].name == "qdisc netem 8001: on #1 (root)");
        CHECK(report.modules[0].references[0].release_command.empty());
    }
    SECTION("a refused dump (EPERM) is said; one not there (ENOENT) is not") {
        Bytes refused;
        nlmsghdr h{};
        h.nlmsg_len = sizeof h + sizeof(int);
        h.nlmsg_type = NLMSG_ERROR;
        put(refused, h);
        put(refused, -EPERM);
        world.record(RTM_GETACTION, refused);
        fs::remove(world.root / ".netlink" / ("0-" + std::to_string(RTM_GETQDISC) + "-0"));
        std::vector<modload::UnreadSource> unread;
        const auto report = world.references({"act_mirred", "sch_netem", "cls_u32"}, unread);
        REQUIRE(unread.size() == 1);
        CHECK(unread[0].path == "netlink:tc actions mirred");
        CHECK(unread[0].error.code == EPERM);
        CHECK(report.modules[0].unattributed == 1);
        CHECK(report.modules[1].unattributed == 1);
        // Without qdiscs no parent is known: the filters are not asked for.
        CHECK(report.modules[2].unattributed == 2);
    }
}

TEST_CASE("an action's parameters are read from its kind's own attribute: ct's is 1, not 2",
          "[refs]") {
    // TCA_CT_PARMS is 1 and TCA_CT_TM (timestamps) is 2: read as mirred's, the timestamps would
    // give a wrong index, and the command that lets go would name another action.
    TcWorld world;
    write_text(world.root / "proc/modules",
               "act_ct 20480 1 - Live 0x0\n"
               "act_ipt 16384 1 - Live 0x0\n");
    struct {
        tc_gen;
    } parms{};
    parms.index = 7;
    parms.refcnt = 1;
    Bytes options;
    attribute(options, 1, bytes(parms));
    const std::array<std::uint64_t, 4> timestamps{99, 99, 99, 99};
    attribute(options, 2, bytes(timestamps));
    Bytes ct;
    attribute(ct, TCA_ACT_KIND, text("ct"));
    attribute(ct, TCA_ACT_OPTIONS, options);
    Bytes tab;
    attribute(tab, 1, ct);
    attribute(tab, 2, action("ipt", 5, 0));  // a kind whose parameters are not tc_gen-led
    Bytes p = bytes(tcamsg{});
    attribute(p, TCA_ACT_TAB, tab);
    Bytes actions;
    message(actions, RTM_GETACTION, p);
    done(actions);
    world.record(RTM_GETACTION, actions);

    std::vector<modload::UnreadSource> unread;
    const auto report = world.references({"act_ct", "act_ipt"}, unread);
    CHECK(unread.empty());
    REQUIRE(report.modules[0].references.size() == 1);
    CHECK(report.modules[0].references[0].name == "action ct index 7");
    CHECK(report.modules[0].references[0].release_command == "tc actions delete action ct index 7");
    REQUIRE(report.modules[1].references.size() == 1);
    CHECK(report.modules[1].references[0].release_command.empty());  // its index is not known
}
