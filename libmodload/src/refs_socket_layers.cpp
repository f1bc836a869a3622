// Layers a socket carries beyond its family and protocol, read through sock_diag: a TCP socket's
// upper-layer protocol (TCP_ULP "tls").
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "netlink.hpp"
#include "refs_sources.hpp"
#include "text.hpp"

namespace modload::detail {

namespace {

constexpr int kCapNetAdmin = 12;  // <linux/capability.h>
const char* const kSource = "netlink:sock_diag";

// One TCP socket with an upper-layer protocol, as inet_diag describes it.
struct UlpSocket {
    std::uint64_t inode = 0;
    std::string layer;  // "tls"
    std::string name;   // "TCP 127.0.0.1:443 -> 127.0.0.1:50000"
};

std::string endpoint(int family, const __be32 (&address)[4], __be16 port) {
    char text[INET6_ADDRSTRLEN] = {};
    if (::inet_ntop(family, address, text, sizeof(text)) == nullptr) {
        std::strcpy(text, "?");
    }
    const std::string host = family == AF_INET6 ? "[" + std::string(text) + "]" : text;
    return host + ":" + std::to_string(ntohs(port));
}

// The upper-layer protocol's name in an INET_DIAG_ULP_INFO attribute; empty when there is none.
Result<std::string> ulp_name(std::span<const std::byte> attributes) {
    auto attrs = netlink_attributes(attributes);
    if (!attrs) {
        return attrs.error();
    }
    for (const NetlinkAttribute& attr : *attrs) {
        if (attr.type != INET_DIAG_ULP_INFO) {
            continue;
        }
        auto inner = netlink_attributes(attr.payload);
        if (!inner) {
            return inner.error();
        }
        for (const NetlinkAttribute& field : *inner) {
            if (field.type == INET_ULP_INFO_NAME) {
                return netlink_text(field.payload);
            }
        }
    }
    return std::string();
}

// Every TCP socket of `family` with an upper-layer protocol; the errno of the dump when it could
// not be read.
Result<std::vector<UlpSocket>> ulp_sockets(System& system, std::uint8_t family) {
    inet_diag_req_v2 request{};
    request.sdiag_family = family;
    request.sdiag_protocol = IPPROTO_TCP;
    // INET_DIAG_INFO asks for the protocol's own attributes, ULP among them (tcp_diag_get_aux).
    request.idiag_ext = 1U << (INET_DIAG_INFO - 1);
    request.idiag_states = ~0U;
    const auto bytes = netlink_request_bytes(
        SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, 1,
        std::span(reinterpret_cast<const std::byte*>(&request), sizeof(request)));
    auto answer = system.netlink_request(NETLINK_SOCK_DIAG, bytes);
    if (!answer) {
        return answer.error();
    }
    auto messages = netlink_messages(*answer);
    if (!messages) {
        return messages.error();
    }
    constexpr std::size_t kHeader = NLMSG_ALIGN(sizeof(inet_diag_msg));
    std::vector<UlpSocket> sockets;
    for (const NetlinkMessage& message : *messages) {
        if (message.type != SOCK_DIAG_BY_FAMILY) {
            continue;
        }
        if (message.payload.size() < sizeof(inet_diag_msg)) {
            return make_error(EBADMSG);
        }
        inet_diag_msg msg;
        std::memcpy(&msg, message.payload.data(), sizeof(msg));
        auto layer = ulp_name(message.payload.subspan(std::min(kHeader, message.payload.size())));
        if (!layer) {
            return layer.error();
        }
        if (layer->empty()) {
            continue;
        }
        const int shown = msg.idiag_family == AF_INET6 ? AF_INET6 : AF_INET;
        sockets.push_back({msg.idiag_inode, std::move(*layer),
                           "TCP " + endpoint(shown, msg.id.idiag_src, msg.id.idiag_sport) + " -> " +
                               endpoint(shown, msg.id.idiag_dst, msg.id.idiag_dport)});
    }
    return sockets;
}

// Whether this process lacks CAP_NET_ADMIN, without which inet_diag leaves the upper-layer
// protocol out (tcp_diag_get_aux): /proc/self/status's CapEff. Unknown counts as having it.
bool lacks_net_admin(System& system) {
    auto status = system.read_text("/proc/self/status");
    if (!status) {
        return false;
    }
    const auto at = status->find("\nCapEff:");
    if (at == std::string::npos) {
        return false;
    }
    std::string_view rest = std::string_view(*status).substr(at + 8);
    rest = trimmed_left(rest.substr(0, rest.find('\n')));
    const auto caps = parse_number<std::uint64_t>(trimmed_right(rest), 16);
    return caps && (*caps & (std::uint64_t{1} << kCapNetAdmin)) == 0;
}

void note_source(std::vector<UnreadSource>* unread, int code, std::string detail = {}) {
    if (unread != nullptr) {
        unread->push_back(
            UnreadSource{kSource, make_error(code, std::move(detail)), UnreadKind::file, {}});
    }
}

// The sock_diag modules that are not loaded. Asking sock_diag about TCP sockets makes the kernel
// load inet_diag and tcp_diag (sock_load_diag_module, inet_diag_lock_handler): looking must not
// load modules, so without them the sockets are not asked about. (A kernel that builds them in
// without parameters shows no /sys/module entry for them: then too they are not asked.)
std::vector<std::string> diag_modules_missing(System& system) {
    std::vector<std::string> missing;
    for (const char* module : {"inet_diag", "tcp_diag"}) {
        if (!system.stat("/sys/module/" + std::string(module))) {
            missing.emplace_back(module);
        }
    }
    return missing;
}

}  // namespace

std::vector<OwnedReference> socket_layer_references(System& system, const ProvidedAliases& aliases,
                                                    const std::vector<std::string>& wanted,
                                                    std::vector<UnreadSource>* unread) {
    std::vector<OwnedReference> refs;
    const bool asked = std::any_of(wanted.begin(), wanted.end(), [&](const std::string& module) {
        return aliases.provides_any(module, "tcp-ulp-");
    });
    if (!asked) {
        return refs;
    }
    if (lacks_net_admin(system)) {
        note_source(unread, EPERM);
        return refs;
    }
    if (const std::vector<std::string> missing = diag_modules_missing(system); !missing.empty()) {
        note_source(unread, EPROTONOSUPPORT,
                    missing.front() + " is not loaded, and asking would load it");
        return refs;
    }
    std::vector<UlpSocket> sockets;
    for (const std::uint8_t family : {std::uint8_t{AF_INET}, std::uint8_t{AF_INET6}}) {
        auto found = ulp_sockets(system, family);
        if (!found) {
            // A fixture without this recording has no such sockets; on the running system ENOENT
            // says inet_diag or tcp_diag is not there (not loaded, and could not be): unread.
            if (found.error().code != ENOENT || system.live()) {
                note_source(unread, found.error().code);
            }
            continue;
        }
        for (UlpSocket& socket : *found) {
            sockets.push_back(std::move(socket));
        }
    }
    std::set<std::uint64_t> inodes;
    for (const UlpSocket& socket : sockets) {
        if (socket.inode != 0) {
            inodes.insert(socket.inode);
        }
    }
    std::map<std::uint64_t, std::vector<FileUser>> users = socket_users(system, inodes, unread);
    for (UlpSocket& socket : sockets) {
        std::string module = aliases.module_for("tcp-ulp-" + socket.layer);
        if (module.empty() || std::find(wanted.begin(), wanted.end(), module) == wanted.end()) {
            continue;
        }
        OwnedReference owned;
        owned.module = std::move(module);
        owned.ref.kind = ReferenceKind::socket_layer;
        owned.ref.name = std::move(socket.name);
        owned.ref.source = std::move(socket.layer);
        if (auto it = users.find(socket.inode); it != users.end() && socket.inode != 0) {
            owned.ref.users = it->second;
            std::sort(owned.ref.users.begin(), owned.ref.users.end(),
                      [](const FileUser& a, const FileUser& b) {
                          return std::make_pair(a.pid, a.fd) < std::make_pair(b.pid, b.fd);
                      });
        }
        refs.push_back(std::move(owned));
    }
    return refs;
}

}  // namespace modload::detail
