#include "module_aliases.hpp"

#include <algorithm>
#include <string>

#include <fnmatch.h>

#include <modload/names.hpp>

#include "alias_names.hpp"

namespace modload::detail {

namespace {

// Calls `each(pattern, module)` for every "alias PATTERN MODULE" line of modules.alias text, in
// file order; other lines are passed over.
template <class Each>
void for_each_alias(std::string_view text, Each each) {
    while (!text.empty()) {
        const auto newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        if (!line.starts_with("alias ")) {
            continue;
        }
        line.remove_prefix(6);
        const auto space = line.find(' ');
        if (space != std::string_view::npos) {
            each(line.substr(0, space), line.substr(space + 1));
        }
    }
}

// Whether the pattern's characters before its first wildcard, dashes made underscores, are the
// start of `name`: when not, fnmatch() cannot match it.
bool fixed_start_fits(std::string_view pattern, std::string_view name) {
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '*' || c == '?' || c == '[' || c == '\\') {
            return true;
        }
        if (i >= name.size() || (c == '-' ? '_' : c) != name[i]) {
            return false;
        }
    }
    return pattern.size() == name.size();
}

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_module_aliases(
    std::string_view text, bool (*keep)(std::string_view pattern)) {
    std::vector<std::pair<std::string, std::string>> aliases;
    for_each_alias(text, [&](std::string_view pattern, std::string_view module) {
        if (keep == nullptr || keep(pattern)) {
            aliases.emplace_back(pattern, normalize_module_name(module));
        }
    });
    return aliases;
}

std::vector<std::string> modules_matching_alias(std::string_view text, std::string_view name) {
    std::vector<std::string> modules;
    const std::string wanted(name);
    for_each_alias(text, [&](std::string_view pattern, std::string_view module_text) {
        // A pattern with a NUL in it would end early for fnmatch(): it is no pattern.
        if (!fixed_start_fits(pattern, name) || pattern.find('\0') != std::string_view::npos) {
            return;
        }
        const std::optional<std::string> normalized = underscores(pattern);
        if (!normalized || ::fnmatch(normalized->c_str(), wanted.c_str(), 0) != 0) {
            return;
        }
        std::string module = normalize_module_name(module_text);
        if (std::find(modules.begin(), modules.end(), module) == modules.end()) {
            modules.push_back(std::move(module));
        }
    });
    return modules;
}

}  // namespace modload::detail
