// How kmod spells an alias or a module name before comparing it (shared by the configuration
// reader and the planner, which reads modules.alias).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace modload::detail {

/// kmod's underscores() (alias_normalize()): '-' becomes '_', except inside [...] of a pattern;
/// an unmatched bracket makes the name bad (nullopt).
std::optional<std::string> underscores(std::string_view word);

}  // namespace modload::detail
