// Netlink answers: split into messages and attributes with every length checked, and the
// system's netlink seam answering from recorded files under a fixture root.
#include "netlink.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <sys/socket.h>

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <catch2/catch.hpp>

#include "faulting_system.hpp"
#include "fixtures.hpp"

using namespace modload;
using modload::detail::netlink_attributes;
using modload::detail::netlink_messages;
using modload::detail::netlink_request_bytes;
using modload::testing::FaultingSystem;
using modload::testing::FixtureSystem;
using modload::testing::ScratchDir;

namespace {

template <class T>
void put(std::vector<std::byte>& out, const T& value) {
    const auto* p = reinterpret_cast<const std::byte*>(&value);
    out.insert(out.end(), p, p + sizeof value);
}

void pad(std::vector<std::byte>& out) {
    out.resize((out.size() + 3) & ~std::size_t{3});
}

// One message of `type` with `payload`, as the kernel writes it.
void message(std::vector<std::byte>& out, std::uint16_t type, std::uint16_t flags,
             const std::vector<std::byte>& payload) {
    nlmsghdr h{};
    h.nlmsg_len = static_cast<std::uint32_t>(sizeof h + payload.size());
    h.nlmsg_type = type;
    h.nlmsg_flags = flags;
    h.nlmsg_seq = 7;
    put(out, h);
    out.insert(out.end(), payload.begin(), payload.end());
    pad(out);
}

void attribute(std::vector<std::byte>& out, std::uint16_t type, const std::string& text) {
    nlattr a{};
    a.nla_len = static_cast<std::uint16_t>(sizeof a + text.size() + 1);
    a.nla_type = type;
    put(out, a);
    const auto* p = reinterpret_cast<const std::byte*>(text.c_str());
    out.insert(out.end(), p, p + text.size() + 1);
    pad(out);
}

std::string text_of(std::span<const std::byte> bytes) {
    std::string s(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return s.substr(0, s.find('\0'));
}

}  // namespace

TEST_CASE("netlink: a dump's messages come out in order, DONE left out", "[refs]") {
    std::vector<std::byte> answer;
    std::vector<std::byte> first;
    attribute(first, 1, "netem");
    message(answer, RTM_NEWQDISC, NLM_F_MULTI, first);
    std::vector<std::byte> second;
    attribute(second, 1, "ingress");
    attribute(second, 2, "x");
    message(answer, RTM_NEWQDISC, NLM_F_MULTI, second);
    message(answer, NLMSG_DONE, NLM_F_MULTI, std::vector<std::byte>(4));

    auto messages = netlink_messages(answer);
    REQUIRE(messages);
    REQUIRE(messages->size() == 2);
    CHECK((*messages)[0].type == RTM_NEWQDISC);
    CHECK((*messages)[0].seq == 7);
    auto attrs = netlink_attributes((*messages)[1].payload);
    REQUIRE(attrs);
    REQUIRE(attrs->size() == 2);
    CHECK((*attrs)[0].type == 1);
    CHECK(text_of((*attrs)[0].payload) == "ingress");
    CHECK(text_of((*attrs)[1].payload) == "x");
}

TEST_CASE("netlink: an error message is its errno; an acknowledgement is no message", "[refs]") {
    std::vector<std::byte> denied;
    std::vector<std::byte> code;
    put(code, -EPERM);
    message(denied, NLMSG_ERROR, 0, code);
    auto refused = netlink_messages(denied);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == EPERM);

    std::vector<std::byte> ack;
    std::vector<std::byte> zero;
    put(zero, 0);
    message(ack, NLMSG_ERROR, 0, zero);
    auto acked = netlink_messages(ack);
    REQUIRE(acked);
    CHECK(acked->empty());
}

TEST_CASE("netlink: lengths that run past the answer are EBADMSG, never read", "[refs]") {
    std::vector<std::byte> answer;
    message(answer, RTM_NEWQDISC, NLM_F_MULTI, std::vector<std::byte>(8));
    SECTION("a message longer than the answer") {
        std::uint32_t len = 4096;
        std::memcpy(answer.data(), &len, sizeof len);
        auto r = netlink_messages(answer);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == EBADMSG);
    }
    SECTION("a message shorter than its header") {
        std::uint32_t len = 3;
        std::memcpy(answer.data(), &len, sizeof len);
        CHECK_FALSE(netlink_messages(answer));
    }
    SECTION("a tail shorter than a header") {
        answer.resize(answer.size() + 5);
        CHECK_FALSE(netlink_messages(answer));
    }
    SECTION("an attribute longer than its message") {
        std::vector<std::byte> attrs;
        attribute(attrs, 3, "abc");
        std::uint16_t len = 200;
        std::memcpy(attrs.data(), &len, sizeof len);
        auto r = netlink_attributes(attrs);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == EBADMSG);
    }
}

TEST_CASE("netlink: a rooted system answers from /.netlink/PROTOCOL-TYPE-FAMILY", "[refs]") {
    ScratchDir dir;
    std::vector<std::byte> recorded;
    std::vector<std::byte> payload;
    attribute(payload, 1, "sfq");
    message(recorded, RTM_NEWQDISC, NLM_F_MULTI, payload);
    message(recorded, NLMSG_DONE, NLM_F_MULTI, std::vector<std::byte>(4));
    modload::testing::write_text(
        dir.path() / (".netlink/" + std::to_string(NETLINK_ROUTE) + "-" +
                      std::to_string(RTM_GETQDISC) + "-" + std::to_string(AF_UNSPEC)),
        std::string(reinterpret_cast<const char*>(recorded.data()), recorded.size()));
    FixtureSystem system(dir.path());

    const std::vector<std::byte> tcmsg(20);  // struct tcmsg, family AF_UNSPEC
    const std::vector<std::byte> request =
        netlink_request_bytes(RTM_GETQDISC, NLM_F_DUMP, 1, tcmsg);
    auto answer = system->netlink_request(NETLINK_ROUTE, request);
    REQUIRE(answer);
    CHECK(*answer == recorded);

    // Another request type has no recording: no such answer.
    const std::vector<std::byte> other =
        netlink_request_bytes(RTM_GETTFILTER, NLM_F_DUMP, 1, tcmsg);
    auto none = system->netlink_request(NETLINK_ROUTE, other);
    REQUIRE_FALSE(none);
    CHECK(none.error().code == ENOENT);

    // The fault walk sees the call.
    FaultingSystem faulting(*system, 1, EPERM);
    auto failed = faulting.netlink_request(NETLINK_ROUTE, request);
    REQUIRE_FALSE(failed);
    CHECK(failed.error().code == EPERM);
    REQUIRE(faulting.calls().size() == 1);
    CHECK(faulting.calls()[0].call == "netlink");
}

TEST_CASE("netlink: the live system's rtnetlink dump of links ends and names lo", "[refs]") {
    // RTM_GETLINK needs no privilege: every network namespace has lo.
    std::vector<std::byte> ifinfo(16);  // struct ifinfomsg, family AF_UNSPEC
    const std::vector<std::byte> request =
        netlink_request_bytes(RTM_GETLINK, NLM_F_DUMP, 1, ifinfo);
    auto answer = live_system().netlink_request(NETLINK_ROUTE, request);
    REQUIRE(answer);
    auto messages = netlink_messages(*answer);
    REQUIRE(messages);
    bool lo = false;
    for (const auto& m : *messages) {
        CHECK(m.type == RTM_NEWLINK);
        REQUIRE(m.payload.size() >= 16);
        auto attrs = netlink_attributes(m.payload.subspan(16));
        REQUIRE(attrs);
        for (const auto& a : *attrs) {
            lo = lo || (a.type == IFLA_IFNAME && text_of(a.payload) == "lo");
        }
    }
    CHECK(lo);
}

TEST_CASE("netlink: a dump that failed part way, or changed while dumped, is an error", "[refs]") {
    std::vector<std::byte> payload;
    attribute(payload, 1, "netem");
    SECTION("an error in NLMSG_DONE") {
        std::vector<std::byte> answer;
        message(answer, RTM_NEWQDISC, NLM_F_MULTI, payload);
        std::vector<std::byte> code;
        put(code, -ENOBUFS);
        message(answer, NLMSG_DONE, NLM_F_MULTI, code);
        auto r = netlink_messages(answer);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ENOBUFS);
    }
    SECTION("NLM_F_DUMP_INTR") {
        std::vector<std::byte> answer;
        message(answer, RTM_NEWQDISC, NLM_F_MULTI | NLM_F_DUMP_INTR, payload);
        message(answer, NLMSG_DONE, NLM_F_MULTI, std::vector<std::byte>(4));
        auto r = netlink_messages(answer);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == EAGAIN);
    }
}

TEST_CASE("netlink: a string attribute's text ends at its NUL, or at its end without one",
          "[refs]") {
    const std::string with_nul("tls\0junk", 8);
    CHECK(modload::detail::netlink_text(std::as_bytes(std::span(with_nul))) == "tls");
    const std::string without("netem");
    CHECK(modload::detail::netlink_text(std::as_bytes(std::span(without))) == "netem");
    CHECK(modload::detail::netlink_text({}).empty());
}
