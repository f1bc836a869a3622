// modules.alias, as depmod writes it: "alias PATTERN MODULE" lines, PATTERN an fnmatch(3) glob.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace modload::detail {

/// The (pattern, module) pairs of modules.alias text, module names normalized, in file order;
/// only those whose pattern `keep` accepts, when it is given.
std::vector<std::pair<std::string, std::string>> parse_module_aliases(
    std::string_view text, bool (*keep)(std::string_view pattern) = nullptr);

}  // namespace modload::detail
