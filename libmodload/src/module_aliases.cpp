#include "module_aliases.hpp"

#include <modload/names.hpp>

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

}  // namespace modload::detail
