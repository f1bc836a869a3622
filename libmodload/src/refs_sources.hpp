// Sources of references beyond open files and mounts: in-kernel users of a module's block devices
// (swap, device-mapper and md) and the layers a socket carries (a TCP upper-layer protocol).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <modload/references.hpp>
#include <modload/system.hpp>

#include "open_files.hpp"

namespace modload::detail {

/// A reference and the module (normalized) it holds.
struct OwnedReference {
    std::string module;
    Reference ref;
};

/// Swap areas on block devices (/proc/swaps), each holding the module that drives the device:
/// swapon opens the device as a file, and before Linux 6.9 claim_swapfile() opened it once more
/// (blkdev_get_by_dev); each open takes a reference on the disk's fops->owner. `release` (uname
/// -r) says which; when it cannot be read, one reference is counted and the other left over.
std::vector<OwnedReference> swap_references(System& system, const ProvidedAliases& aliases,
                                            std::string_view release,
                                            std::vector<UnreadSource>* unread);

/// Device-mapper and md devices built on a block device (/sys/block/X/holders and its
/// partitions'): each opened its member once (dm's open_table_device, md's lock_rdev), which holds
/// the member disk's fops->owner, and linked itself as a holder (bd_link_disk_holder).
std::vector<OwnedReference> block_user_references(System& system, const ProvidedAliases& aliases,
                                                  std::vector<UnreadSource>* unread);

/// TCP sockets carrying an upper-layer protocol that a module provides (tcp-ulp-NAME in
/// modules.alias: tls): tcp_set_ulp() holds the protocol's owner until the socket is destroyed.
/// Read through sock_diag (INET_DIAG_ULP_INFO, shown to CAP_NET_ADMIN only) for IPv4 and IPv6, in
/// the caller's network namespace; each socket named by the processes and descriptors that have
/// it open. Asked only when one of `wanted` provides an upper-layer protocol.
std::vector<OwnedReference> socket_layer_references(System& system, const ProvidedAliases& aliases,
                                                    const std::vector<std::string>& wanted,
                                                    std::vector<UnreadSource>* unread);

/// `word` as a POSIX shell reads it back: as it is when it is plain, else in single quotes.
std::string shell_quoted(std::string_view word);

}  // namespace modload::detail
