#include <modload/names.hpp>

#include <algorithm>

#include "alias_names.hpp"

namespace modload {

namespace {
// MODULE_NAME_LEN is 64 - sizeof(unsigned long), and the name needs its NUL.
constexpr std::size_t kMaxModuleNameLength = 55;
}  // namespace

std::string normalize_module_name(std::string_view name) {
    std::string out(name);
    std::replace(out.begin(), out.end(), '-', '_');
    return out;
}

std::string module_name_from_argument(std::string_view argument) {
    if (const auto slash = argument.rfind('/'); slash != std::string_view::npos) {
        argument.remove_prefix(slash + 1);
    }
    if (const auto dot = argument.find('.'); dot != std::string_view::npos) {
        argument = argument.substr(0, dot);
    }
    return normalize_module_name(argument);
}

bool is_valid_module_name(std::string_view name) {
    return !name.empty() && name.size() <= kMaxModuleNameLength && name != "." && name != ".." &&
           name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

namespace detail {

std::optional<std::string> underscores(std::string_view word) {
    std::string out(word);
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (out[i] == '-') {
            out[i] = '_';
        } else if (out[i] == ']') {
            return std::nullopt;
        } else if (out[i] == '[') {
            i = out.find(']', i);
            if (i == std::string::npos) {
                return std::nullopt;
            }
        }
    }
    return out;
}

}  // namespace detail

}  // namespace modload
