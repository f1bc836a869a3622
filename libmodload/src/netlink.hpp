// Netlink answers as messages: what System::netlink_request() returns, split and checked. The
// sources that ask nf_tables, rtnetlink and sock_diag who holds a module read them through this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <modload/result.hpp>
#include <modload/system.hpp>

namespace modload::detail {

/// One message of an answer: its header's fields and its payload (after the header).
struct NetlinkMessage {
    std::uint16_t type = 0;
    std::uint16_t flags = 0;
    std::uint32_t seq = 0;
    std::span<const std::byte> payload;
};

/// The messages of `answer`, NLMSG_DONE and acknowledgements left out. An NLMSG_ERROR with an
/// error, or an NLMSG_DONE carrying one (a dump that failed part way), is that error (its
/// errno); a dump the kernel marks interrupted (NLM_F_DUMP_INTR) is EAGAIN; a message whose
/// length runs past the answer, or is shorter than its header, is EBADMSG.
Result<std::vector<NetlinkMessage>> netlink_messages(std::span<const std::byte> answer);

/// One netlink attribute (struct nlattr): its type without the nested and byte-order flags, and
/// its payload.
struct NetlinkAttribute {
    std::uint16_t type = 0;
    std::span<const std::byte> payload;
};

/// A string attribute's text (nla_put_string): up to its NUL, or its end when it has none.
std::string netlink_text(std::span<const std::byte> payload);

/// The attributes in `bytes` (a payload past its fixed header, or a nested attribute's payload).
/// A length that runs past `bytes` or is shorter than the attribute's header is EBADMSG.
Result<std::vector<NetlinkAttribute>> netlink_attributes(std::span<const std::byte> bytes);

/// A request: a header of `type` and `flags` (NLM_F_REQUEST added), sequence number `seq`, then
/// `payload` (the fixed header, then attributes), padded as netlink aligns it.
std::vector<std::byte> netlink_request_bytes(std::uint16_t type, std::uint16_t flags,
                                             std::uint32_t seq, std::span<const std::byte> payload);

}  // namespace modload::detail
