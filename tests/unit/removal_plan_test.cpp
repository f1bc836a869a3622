#include <algorithm>
#include <cerrno>
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

TEST_CASE("a dependency held from outside modules stays", "[plan]") {
    // dev has two references but one holder: something else (an open file) uses it.
    const Snapshot s = graph({"user 0", "dev 2 user", "base 1 dev"});
    auto p = plan(s, {"user"}, false, true);
    REQUIRE(p);
    CHECK(names(*p) == std::vector<std::string>{"user"});
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
    CHECK(order.back() == "libcrc32c");  // freed once both nf_* and xfs are gone
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

TEST_CASE("a dependency left unused that holds a target goes before it, as its holder",
          "[plan]") {
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
