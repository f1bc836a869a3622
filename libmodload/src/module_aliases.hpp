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

/// The modules (normalized) of the modules.alias lines whose pattern matches `name`, as kmod
/// compares them (fnmatch(3), the pattern's dashes made underscores outside [...]), in file
/// order, each once. A line whose pattern's fixed start is not the start of `name` is passed
/// over unparsed: most of a distribution's 30,000 lines are "pci:v...", "usb:v...".
std::vector<std::string> modules_matching_alias(std::string_view text, std::string_view name);

}  // namespace modload::detail
