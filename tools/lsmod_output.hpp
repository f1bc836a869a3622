// lsmod's outputs, each from what lsmod read: kmod's table byte for byte, the tree, and the JSON
// of --json and --refs --json, whose keys lsmod.8 documents (scripts depend on them).
#pragma once

#include <string>
#include <vector>

#include <modload/references.hpp>
#include <modload/snapshot.hpp>

namespace modload::tools {

using Modules = std::vector<const LoadedModule*>;

/// kmod's table: "Module                  Size  Used by", then "%-19s %8ld  %d" and the holders.
std::string table(const Modules& modules);
/// --json: an array, one object per module.
std::string json(const Modules& modules);
/// --refs --json: one object, the unread sources included.
std::string refs_json(const ReferenceReport& report, const std::vector<UnreadSource>& unread);
/// --refs: each module's refcount, then its references' lines.
std::string refs_text(const ReferenceReport& report);
/// --tree from `roots`, what each uses below it; box drawing when `boxes`.
std::string tree(const Snapshot& snapshot, const Modules& roots, bool boxes);
/// Sorts by "name" (ascending), "size" or "refcount" (largest first, ties by name); false for
/// another key.
bool sort_modules(Modules& modules, const std::string& key);

}  // namespace modload::tools
