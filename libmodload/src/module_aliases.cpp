#include "module_aliases.hpp"

#include <algorithm>
#include <string>

#include <fnmatch.h>

#include <modload/names.hpp>

#include "alias_names.hpp"

namespace modload::detail {

std::vector<std::pair<std::string, std::string>> parse_module_aliases(
    std::string_view text, bool (*keep)(std::string_view pattern)) {
    std::vector<std::pair<std::string, std::string>> aliases;
    while (!text.empty()) {
        const auto newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        if (!line.starts_with("alias ")) {
            continue;
        }
        line.remove_prefix(6);
        const auto space = line.find(' ');
        if (space == std::string_view::npos) {
            continue;
        }
        const std::string_view pattern = line.substr(0, space);
        if (keep == nullptr || keep(pattern)) {
            aliases.emplace_back(pattern, normalize_module_name(line.substr(space + 1)));
        }
    }
    return aliases;
}

namespace {

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

std::vector<std::string> modules_matching_alias(std::string_view text, std::string_view name) {
    std::vector<std::string> modules;
    const std::string wanted(name);
    while (!text.empty()) {
        const auto newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        if (!line.starts_with("alias ")) {
            continue;
        }
        line.remove_prefix(6);
        const auto space = line.find(' ');
        if (space == std::string_view::npos) {
            continue;
        }
        const std::string_view pattern = line.substr(0, space);
        if (!fixed_start_fits(pattern, name)) {
            continue;
        }
        // A pattern with a NUL in it would end early for fnmatch(): it is no pattern.
        if (pattern.find('\0') != std::string_view::npos) {
            continue;
        }
        const std::optional<std::string> normalized = underscores(pattern);
        if (!normalized || ::fnmatch(normalized->c_str(), wanted.c_str(), 0) != 0) {
            continue;
        }
        std::string module = normalize_module_name(line.substr(space + 1));
        if (std::find(modules.begin(), modules.end(), module) == modules.end()) {
            modules.push_back(std::move(module));
        }
    }
    return modules;
}

}  // namespace modload::detail
