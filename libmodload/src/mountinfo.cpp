#include "mountinfo.hpp"
#include "text.hpp"

#include <algorithm>
#include <charconv>

namespace modload::detail {

std::string unescaped(std::string_view field) {
    std::string out;
    for (std::size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size()) {
            const std::string_view digits = field.substr(i + 1, 3);
            int value = 0;
            const auto [end, ec] =
                std::from_chars(digits.data(), digits.data() + digits.size(), value, 8);
            if (ec == std::errc() && end == digits.data() + digits.size()) {
                out += static_cast<char>(value);
                i += 3;
                continue;
            }
        }
        out += field[i];
    }
    return out;
}

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    while (!line.empty()) {
        const auto start = line.find_first_not_of(" \t");
        if (start == std::string_view::npos) {
            break;
        }
        line.remove_prefix(start);
        const auto end = line.find_first_of(" \t");
        out.push_back(line.substr(0, end));
        line.remove_prefix(end == std::string_view::npos ? line.size() : end);
    }
    return out;
}

std::vector<MountEntry> parse_mountinfo(std::string_view text) {
    std::vector<MountEntry> mounts;
    while (!text.empty()) {
        const auto newline = text.find('\n');
        const std::vector<std::string_view> w = words(text.substr(0, newline));
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        const auto dash = std::find(w.begin(), w.end(), "-");
        if (dash - w.begin() < 6 || w.end() - dash < 3) {
            continue;
        }
        MountEntry m;
        m.device = std::string(w[2]);
        const auto colon = w[2].find(':');
        if (colon == std::string_view::npos ||
            !detail::parse_number(w[2].substr(0, colon), m.major) ||
            !detail::parse_number(w[2].substr(colon + 1), m.minor)) {
            continue;
        }
        m.mount_point = unescaped(w[4]);
        m.fstype = unescaped(dash[1]);
        m.source = unescaped(dash[2]);
        m.options = w.end() - dash > 3 ? unescaped(dash[3]) : "";
        mounts.push_back(std::move(m));
    }
    return mounts;
}

}  // namespace modload::detail
