// Netlink answers split into messages and attributes, every length checked against what is left:
// the answer comes from the kernel, or from a recorded file in tests.
#include "netlink.hpp"

#include <cerrno>
#include <cstring>

#include <linux/netlink.h>

namespace modload::detail {

namespace {

constexpr std::size_t align4(std::size_t n) {
    return (n + 3) & ~std::size_t{3};
}

// The errno a netlink error code stands for: the kernel sends -errno, from 1 to MAX_ERRNO (4095)
// (and an old NLMSG_ERROR's positive errno is taken as it is). A code out of that range is no
// errno, and INT_MIN cannot even be negated: the answer is broken, EBADMSG.
Error netlink_error(int code) {
    constexpr int kMaxErrno = 4095;
    if (code < 0 && code >= -kMaxErrno) {
        return make_error(-code);
    }
    if (code > 0 && code <= kMaxErrno) {
        return make_error(code);
    }
    return make_error(EBADMSG, "a netlink error code that is no errno");
}

}  // namespace

Result<std::vector<NetlinkMessage>> netlink_messages(std::span<const std::byte> answer) {
    std::vector<NetlinkMessage> messages;
    std::size_t at = 0;
    while (at < answer.size()) {
        nlmsghdr header;
        if (answer.size() - at < sizeof header) {
            return make_error(EBADMSG, "a netlink message shorter than its header");
        }
        std::memcpy(&header, answer.data() + at, sizeof header);
        if (header.nlmsg_len < sizeof header || header.nlmsg_len > answer.size() - at) {
            return make_error(EBADMSG, "a netlink message's length runs past the answer");
        }
        const std::span<const std::byte> payload =
            answer.subspan(at + sizeof header, header.nlmsg_len - sizeof header);
        if ((header.nlmsg_flags & NLM_F_DUMP_INTR) != 0) {
            // The dump was interrupted by a change (nf_tables's ruleset, say): what it gave may
            // miss or repeat entries.
            return make_error(EAGAIN, "the table changed while it was dumped");
        }
        if (header.nlmsg_type == NLMSG_DONE && payload.size() >= sizeof(int)) {
            int error = 0;  // a dump callback's error ends the dump here
            std::memcpy(&error, payload.data(), sizeof error);
            if (error < 0) {
                return netlink_error(error);
            }
        }
        if (header.nlmsg_type == NLMSG_ERROR) {
            int error = 0;
            if (payload.size() < sizeof error) {
                return make_error(EBADMSG, "a netlink error without its code");
            }
            std::memcpy(&error, payload.data(), sizeof error);
            if (error != 0) {
                return netlink_error(error);
            }
        } else if (header.nlmsg_type != NLMSG_DONE && header.nlmsg_type != NLMSG_NOOP) {
            messages.push_back(
                NetlinkMessage{header.nlmsg_type, header.nlmsg_flags, header.nlmsg_seq, payload});
        }
        at += align4(header.nlmsg_len);
    }
    return messages;
}

std::string netlink_text(std::span<const std::byte> payload) {
    std::string text(reinterpret_cast<const char*>(payload.data()), payload.size());
    if (const auto nul = text.find('\0'); nul != std::string::npos) {
        text.resize(nul);
    }
    return text;
}

Result<std::vector<NetlinkAttribute>> netlink_attributes(std::span<const std::byte> bytes) {
    std::vector<NetlinkAttribute> attributes;
    std::size_t at = 0;
    while (at + sizeof(nlattr) <= bytes.size()) {
        nlattr header;
        std::memcpy(&header, bytes.data() + at, sizeof header);
        if (header.nla_len < sizeof header || header.nla_len > bytes.size() - at) {
            return make_error(EBADMSG, "a netlink attribute's length runs past its message");
        }
        attributes.push_back(
            NetlinkAttribute{static_cast<std::uint16_t>(header.nla_type & NLA_TYPE_MASK),
                             bytes.subspan(at + sizeof header, header.nla_len - sizeof header)});
        at += align4(header.nla_len);
    }
    return attributes;
}

std::vector<std::byte> netlink_request_bytes(std::uint16_t type, std::uint16_t flags,
                                             std::uint32_t seq,
                                             std::span<const std::byte> payload) {
    nlmsghdr header{};
    header.nlmsg_len = static_cast<std::uint32_t>(sizeof header + payload.size());
    header.nlmsg_type = type;
    header.nlmsg_flags = static_cast<std::uint16_t>(flags | NLM_F_REQUEST);
    header.nlmsg_seq = seq;
    std::vector<std::byte> bytes(align4(header.nlmsg_len));
    std::memcpy(bytes.data(), &header, sizeof header);
    if (!payload.empty()) {
        std::memcpy(bytes.data() + sizeof header, payload.data(), payload.size());
    }
    return bytes;
}

}  // namespace modload::detail
