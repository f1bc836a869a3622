// Who holds modules, for the tools: the library's attribution, with the unread sources and the
// way open files were found said on stderr.
#pragma once

#include <string>
#include <vector>

#include <modload/references.hpp>
#include <modload/snapshot.hpp>

#include "reporter.hpp"
#include "tool_context.hpp"

namespace modload::tools {

/// Who holds each module in `names`, on the running system or the context's root: BPF only on
/// the live system (System::live()). A note says when open files were found the approximate way,
/// unless `quiet`, and, always, each source that could not be read (also given in `unread` when
/// asked).
ReferenceReport find_references(ToolContext& ctx, Reporter& report, const Snapshot& snapshot,
                                const std::vector<std::string>& names, bool quiet = false,
                                std::vector<UnreadSource>* unread = nullptr);

/// Who holds one module, as the snapshot `module` comes from shows it.
ModuleReferences holders_of(ToolContext& ctx, Reporter& report, const LoadedModule& module,
                            bool quiet = false);

}  // namespace modload::tools
