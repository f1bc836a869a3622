#include "holders.hpp"

#include <utility>

#include "words.hpp"

namespace modload::tools {

ReferenceReport find_references(ToolContext& ctx, Reporter& report, const Snapshot& snapshot,
                                const std::vector<std::string>& names, bool quiet,
                                std::vector<UnreadSource>* unread_out) {
    ReferenceOptions options;
    options.use_bpf = ctx.system.live();
    options.kernel_release = ctx.kernel_release;
    std::vector<UnreadSource> unread;
    ReferenceReport found = attribute_references(ctx.system, snapshot, names, options, unread);
    // What could not be read is said whenever it happens, quiet or not: the references it would
    // have named are missing from what follows, and the reader should know which and why.
    for (const std::string& line : unread_source_lines(unread)) {
        report.note_once(line);
    }
    if (unread_out != nullptr) {
        *unread_out = std::move(unread);
    }
    // Said only where it matters: beside an approximate line, or beside references left
    // unattributed that BPF might have named.
    bool approximate = false;
    bool unattributed = false;
    for (const ModuleReferences& m : found.modules) {
        unattributed = unattributed || m.unattributed > 0;
        for (const Reference& ref : m.references) {
            approximate = approximate || ref.approximate;
        }
    }
    if (quiet || !(approximate || (unattributed && found.files != FileScan::bpf))) {
        return found;
    }
    const std::string why = found.why_not_bpf.empty() ? "" : " (BPF: " + found.why_not_bpf + ")";
    if (found.files == FileScan::proc && approximate) {
        report.note_once("open files found through /proc, marked approximate" + why);
    } else if (found.files == FileScan::proc) {
        report.note_once("open files looked for through /proc only, which misses some" + why);
    } else if (found.files == FileScan::none) {
        report.note_once("open files could not be read: references they hold are not attributed" +
                         why);
    }
    return found;
}

ModuleReferences holders_of(ToolContext& ctx, Reporter& report, const LoadedModule& module,
                            bool quiet) {
    const Snapshot alone({module});
    ReferenceReport found = find_references(ctx, report, alone, {module.name}, quiet);
    return std::move(found.modules.front());
}

}  // namespace modload::tools
