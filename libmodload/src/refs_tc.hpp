// Traffic control as a source of module references: the qdiscs, filters and actions whose kind a
// module provides, read through rtnetlink dumps.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <modload/references.hpp>
#include <modload/system.hpp>

namespace modload::detail {

/// One qdisc, filter (one tcf_proto: a chain, priority and protocol of a block) or action that
/// holds one reference on `module`.
struct TrafficControlHolder {
    std::string module;
    Reference reference;
};

/// The module that provides tc object `kind` of `family` ("sch", "cls" or "act"), as the kernel's
/// request_module finds it: the alias net-sch-KIND (6.12) or sch_KIND (6.1's sch_clsact) in
/// modules.alias (`aliases`: its pattern, module pairs), else the module named sch_KIND.
std::string traffic_control_module(std::string_view family, std::string_view kind,
                                   const std::vector<std::pair<std::string, std::string>>& aliases);

/// Every qdisc, filter and action holding a reference on one of `modules` (loaded modules,
/// normalized names), through NETLINK_ROUTE dumps: links, qdiscs, classes (the parents filters
/// hang on), filters per device and parent, and actions per kind. The kernel takes one reference
/// on a qdisc's ops owner per qdisc, on a classifier's per tcf_proto, on an action's per action.
/// Asks nothing when no module in `modules` provides a tc kind. A dump that fails other than with
/// ENOENT is noted in `unread` as "netlink:tc ...".
std::vector<TrafficControlHolder> traffic_control_holders(System& system,
                                                          const std::string& kernel_release,
                                                          const std::vector<std::string>& modules,
                                                          std::vector<UnreadSource>* unread);

/// The references of `holders` that `module` accounts for.
std::vector<Reference> traffic_control_references(const std::vector<TrafficControlHolder>& holders,
                                                  const std::string& module);

}  // namespace modload::detail
