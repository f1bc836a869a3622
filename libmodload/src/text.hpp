// The small text helpers every reader of /proc, /sys and configuration needs (internal): whole
// numbers and trimming, written once.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>

namespace modload::detail {

/// Space, tab and newline: what the kernel's and the administrator's files pad with.
inline constexpr std::string_view kBlanks = " \t\n";

/// `text` as a number in `base`, all of it (not empty, nothing after the digits, no sign for an
/// unsigned type, no overflow). In base 16 a leading "0x" is allowed, as the kernel prints it.
template <class T>
bool parse_number(std::string_view text, T& out, int base = 10) {
    if (base == 16 && text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        text.remove_prefix(2);
    }
    const char* const last = text.data() + text.size();
    const auto [end, ec] = std::from_chars(text.data(), last, out, base);
    return ec == std::errc() && end == last && !text.empty();
}

/// The same, as a value: nothing when `text` is not wholly a number.
template <class T>
std::optional<T> parse_number(std::string_view text, int base = 10) {
    T value{};
    if (!parse_number(text, value, base)) {
        return std::nullopt;
    }
    return value;
}

/// `text` without `blanks` at its start.
inline std::string_view trimmed_left(std::string_view text, std::string_view blanks = kBlanks) {
    const auto start = text.find_first_not_of(blanks);
    return start == std::string_view::npos ? std::string_view{} : text.substr(start);
}

/// `text` without `blanks` at its end.
inline std::string_view trimmed_right(std::string_view text, std::string_view blanks = kBlanks) {
    const auto end = text.find_last_not_of(blanks);
    return end == std::string_view::npos ? std::string_view{} : text.substr(0, end + 1);
}

/// `text` without `blanks` at either end.
inline std::string_view trimmed(std::string_view text, std::string_view blanks = kBlanks) {
    return trimmed_right(trimmed_left(text, blanks), blanks);
}

}  // namespace modload::detail
