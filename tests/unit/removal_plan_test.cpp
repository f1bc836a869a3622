#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <sstream>

#include <catch2/catch.hpp>

#include <modload/removal.hpp>

#include "fixtures.hpp"

using namespace modload;

namespace {

// Builds a snapshot from "name refcount holder,holder" lines; a '!' after the name marks it
// permanent.
Snapshot graph(std::initializer_list<std::string> lines) {
    std::string text;
    for (const std::string& line : lines) {
        std::istringstream in(line);
        std::string name, refcount, holders;
        in >> name >> refcount >> holders;
        const bool permanent = !name.empty() && name.back() == '!';
        if (permanent) {
            name.pop_back();
        }
        std::string list;
        if (!holders.empty()) {
            list = holders + ",";
        }
        if (permanent) {
            list += "[permanent],";
        }
        text += name + " 16384 " + refcount + " " + (list.empty() ? "-" : list) + " Live 0x0\n";
    }
    auto snapshot = Snapshot::parse(text);
    REQUIRE(snapshot);
    return *snapshot;
}

std::vector<std::string> names(const RemovalPlan& plan) {
    std::vector<std::string> out;
    for (const PlanStep& step : plan.steps) {
        out.push_back(step.name);
    }
    return out;
}

Result<RemovalPlan> plan(const Snapshot& s, std::vector<std::string> targets, bool holders,
                         bool deps) {
    return plan_removal(s, targets, PlanOptions{holders, deps});
}

// The iptable_nat chain and xfs sharing libcrc32c, as on Linux 6.1.
const Snapshot& nat_and_xfs() {
    static const Snapshot s = graph({
        "iptable_nat 0",
        "nf_nat 1 iptable_nat",
        "ip_tables 1 iptable_nat",
        "x_tables 2 iptable_nat,ip_tables",
        "nf_conntrack 1 nf_nat",
        "nf_defrag_ipv6 1 nf_conntrack",
        "nf_defrag_ipv4 1 nf_conntrack",
        "xfs 0",
        "libcrc32c 3 nf_nat,nf_conntrack,xfs",
    });
    return s;
}

}  // namespace

TEST_CASE("a plain plan is the targets in the order given", "[plan]") {
    auto p = plan(nat_and_xfs(), {"xfs", "iptable_nat"}, false, false);
    REQUIRE(p);
    CHECK(names(*p) == std::vector<std::string>{"xfs", "iptable_nat"});
    CHECK(p->steps[0].reason == PlanReason::target);
}

TEST_CASE("removing dependencies takes every module left unused and keeps shared ones", "[plan]") {
    auto p = plan(nat_and_xfs(), {"iptable_nat"}, false, true);
    REQUIRE(p);
    const auto order = names(*p);
    CHECK(order.front() == "iptable_nat");
    std::vector<std::string> sorted(order.begin(), order.end());
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == std::vector<std::string>{"ip_tables", "iptable_nat", "nf_conntrack",
                                             "nf_defrag_ipv4", "nf_defrag_ipv6", "nf_nat",
                                             "x_tables"});
    CHECK(std::find(order.begin(), order.end(), "libcrc32c") == order.end());
    CHECK(p->steps.back().reason == PlanReason::unused_dependency);
}

TEST_CASE("every module in a plan comes after all of its holders", "[plan]") {
    const Snapshot& s = nat_and_xfs();
    auto p = plan(s, {"libcrc32c"}, true, true);
    REQUIRE(p);
    const auto order = names(*p);
    CHECK(order.size() == 9);  // everything: all of it hangs off libcrc32c
    for (const LoadedModule& m : s.modules()) {
        const auto at = std::find(order.begin(), order.end(), m.name);
        REQUIRE(at != order.end());
        for (const std::string& holder : m.holders) {
            INFO(m.name << " held by " << holder);
            CHECK(std::find(order.begin(), order.end(), holder) < at);
        }
    }
    // The unused dependencies of the removed holders (ip_tables, nf_defrag_*...) follow it.
    const auto target = std::find_if(p->steps.begin(), p->steps.end(),
                                     [](const PlanStep& step) { return step.name == "libcrc32c"; });
    CHECK(target->reason == PlanReason::target);
    CHECK(p->steps.back().reason == PlanReason::unused_dependency);
}

TEST_CASE("holders of a diamond are removed once, before the shared module", "[plan]") {
    const Snapshot s = graph({"top 0", "left 1 top", "right 1 top", "bottom 2 left,right"});
    auto p = plan(s, {"bottom"}, true, false);
    REQUIRE(p);
    CHECK(names(*p) == std::vector<std::string>{"top", "left", "right", "bottom"});
    CHECK(p->steps[0].reason == PlanReason::holder);
}

TEST_CASE("a diamond's dependencies go when its top goes", "[plan]") {
    const Snapshot s = graph({"top 0", "left 1 top", "right 1 top", "bottom 2 left,right"});
    auto p = plan(s, {"top"}, false, true);
    REQUIRE(p);
    CHECK(names(*p) == std::vector<std::string>{"top", "left", "right", "bottom"});
}

TEST_CASE(
    "a dependency with references besides its holders is planned, to be judged at its "
    "turn",
    "[plan]") {
    // dev has two references but one holder: an open file, or one its holder took and drops in
    // its exit (configfs's pinned mount for netconsole). Only the read at its turn can tell.
    const Snapshot s = graph({"user 0", "dev 2 user", "base 1 dev"});
    auto p = plan(s, {"user"}, false, true);
    REQUIRE(p);
    CHECK(names(*p) == std::vector<std::string>{"user", "dev", "base"});
    CHECK(p->steps[1].reason == PlanReason::unused_dependency);  // kept, never waited for
    CHECK(p->steps[2].reason == PlanReason::unused_dependency);
}

TEST_CASE("a permanent dependency stays; a permanent holder stops the plan", "[plan]") {
    const Snapshot s = graph({"user 0", "perm! 1 user", "other! 0", "base 1 other"});
    auto p = plan(s, {"user"}, false, true);
    REQUIRE(p);
    CHECK(names(*p) == std::vector<std::string>{"user"});

    auto blocked = plan(s, {"base"}, true, false);
    REQUIRE_FALSE(blocked);
    CHECK(blocked.error().code == EBUSY);
    CHECK(blocked.error().detail.find("other") != std::string::npos);
}

TEST_CASE("a target that is not loaded cannot be planned", "[plan]") {
    auto p = plan(nat_and_xfs(), {"ext4"}, true, true);
    REQUIRE_FALSE(p);
    CHECK(p.error().code == ENOENT);
}

TEST_CASE("holder cycles in a corrupt snapshot are found, not followed forever", "[plan]") {
    const Snapshot s = graph({"a 1 c", "b 1 a", "c 1 b", "d 1 a"});
    auto p = plan(s, {"d"}, true, true);
    REQUIRE_FALSE(p);
    CHECK(p.error().code == ELOOP);
    CHECK(p.error().detail.find("a -> c -> b -> a") != std::string::npos);

    // Without following holders, the cycle's members simply never become unused.
    auto deps = plan(graph({"a 1 b", "b 1 a", "top 0"}), {"top"}, false, true);
    REQUIRE(deps);
    CHECK(names(*deps) == std::vector<std::string>{"top"});
}

TEST_CASE("several targets share one plan without repeats", "[plan]") {
    auto p = plan(nat_and_xfs(), {"iptable_nat", "xfs"}, false, true);
    REQUIRE(p);
    const auto order = names(*p);
    CHECK(order.size() == 9);
    // libcrc32c is freed once both nf_* and xfs are gone.
    const auto at = [&](const char* name) { return std::find(order.begin(), order.end(), name); };
    CHECK(at("libcrc32c") > at("xfs"));
    CHECK(at("libcrc32c") > at("nf_nat"));
    CHECK(at("libcrc32c") > at("nf_conntrack"));
    CHECK(p->steps[static_cast<std::size_t>(at("libcrc32c") - order.begin())].reason ==
          PlanReason::unused_dependency);
}

TEST_CASE("targets go after the targets that hold them, directly or through other modules",
          "[plan]") {
    // chain: c holds b, b holds a; d is unrelated.
    const Snapshot s = graph({"c 0", "b 1 c", "a 1 b", "d 0"});
    CHECK(order_by_holders(s, std::vector<std::string>{"a", "d", "c"}) ==
          std::vector<std::string>{"d", "c", "a"});
    CHECK(order_by_holders(s, std::vector<std::string>{"d", "a", "b"}) ==
          std::vector<std::string>{"d", "b", "a"});
    CHECK(order_by_holders(s, std::vector<std::string>{"a", "zz"}) ==
          std::vector<std::string>{"a", "zz"});  // one not listed keeps its place

    auto p = plan(s, {"a", "c"}, false, false);
    REQUIRE(p);
    CHECK(names(*p) == std::vector<std::string>{"c", "a"});
}

TEST_CASE("a dependency left unused that holds a target goes before it, as its holder", "[plan]") {
    // top holds left and right; both hold bottom. Removing bottom and top with -r: left and
    // right become unused once top goes, and bottom can go only after them.
    const Snapshot s = graph({"top 0", "left 1 top", "right 1 top", "bottom 2 left,right"});
    auto p = plan(s, {"bottom", "top"}, false, true);
    REQUIRE(p);
    CHECK(names(*p) == std::vector<std::string>{"top", "left", "right", "bottom"});
    CHECK(p->steps[1].reason == PlanReason::holder);  // waited for, never kept
    CHECK(p->steps[2].reason == PlanReason::holder);
    CHECK(p->steps[3].reason == PlanReason::target);
}

namespace {

// A chain of `length` modules, m0 held by m1, m1 by m2, ..., and `fan` drivers using m0.
Snapshot chain_and_fan(int length, int fan) {
    std::string text;
    for (int i = 0; i < length; ++i) {
        std::string holders = i + 1 < length ? "m" + std::to_string(i + 1) + "," : "";
        if (i == 0) {
            for (int d = 0; d < fan; ++d) {
                holders += "drv" + std::to_string(d) + ",";
            }
        }
        const int refcount = (i + 1 < length ? 1 : 0) + (i == 0 ? fan : 0);
        text += "m" + std::to_string(i) + " 16384 " + std::to_string(refcount) + " " +
                (holders.empty() ? "-" : holders) + " Live 0x0\n";
    }
    for (int d = 0; d < fan; ++d) {
        text += "drv" + std::to_string(d) + " 16384 0 - Live 0x0\n";
    }
    auto snapshot = Snapshot::parse(text);
    REQUIRE(snapshot);
    return *snapshot;
}

void check_holders_first(const Snapshot& s, const std::vector<std::string>& order) {
    std::map<std::string, std::size_t> at;
    for (std::size_t i = 0; i < order.size(); ++i) {
        at[order[i]] = i;
    }
    for (const std::string& name : order) {
        for (const std::string& holder : s.find(name)->holders) {
            if (at.count(holder) != 0) {
                INFO(name << " held by " << holder);
                REQUIRE(at[holder] < at[name]);
            }
        }
    }
}

}  // namespace

TEST_CASE("hundreds of targets named in the wrong order are put in holder order", "[plan]") {
    const Snapshot s = chain_and_fan(150, 100);
    std::vector<std::string> targets;
    for (int i = 0; i < 150; ++i) {
        targets.push_back("m" + std::to_string(i));  // innermost first: the wrong order
    }
    for (int d = 0; d < 100; ++d) {
        targets.push_back("drv" + std::to_string(d));
    }
    const std::vector<std::string> order = order_by_holders(s, targets);
    REQUIRE(order.size() == targets.size());
    check_holders_first(s, order);
    CHECK(order.front() == "m149");
    CHECK(order.back() == "m0");
    CHECK(order[1] == "m148");  // the first ready in the given order: the chain before drivers

    for (const bool deps : {false, true}) {
        auto p = plan(s, targets, false, deps);
        REQUIRE(p);
        CHECK(p->steps.size() == targets.size());
        check_holders_first(s, names(*p));
        CHECK(std::all_of(p->steps.begin(), p->steps.end(),
                          [](const PlanStep& step) { return step.reason == PlanReason::target; }));
    }
}

TEST_CASE("ordering thousands of targets stays linear in the holder graph", "[plan]") {
    // A chain of 3000 named bottom first: a quadratic walk (each target walking the chain above
    // it, or a search of the list per lookup) makes billions of steps; this takes milliseconds.
    const Snapshot s = chain_and_fan(3000, 0);
    std::vector<std::string> targets;
    for (int i = 0; i < 3000; ++i) {
        targets.push_back("m" + std::to_string(i));
    }
    const auto start = std::chrono::steady_clock::now();
    const std::vector<std::string> order = order_by_holders(s, targets);
    auto p = plan(s, {"m2999"}, false, true);
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(order.size() == 3000);
    check_holders_first(s, order);
    REQUIRE(p);
    CHECK(p->steps.size() == 3000);
    CHECK(took < std::chrono::seconds(20));  // generous for sanitizers; quadratic takes minutes
}

TEST_CASE("duplicate names are ordered once", "[plan]") {
    const Snapshot s = graph({"c 0", "b 1 c", "a 1 b"});
    CHECK(order_by_holders(s, std::vector<std::string>{"a", "c", "a", "b", "c"}) ==
          std::vector<std::string>{"c", "b", "a"});
}
