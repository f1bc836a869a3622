// A module image, as insmod reads it from any file it is given: parse it, ask everything of the
// result, and rewrite copies the way forced loads do.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <modload/module_info.hpp>

#include "check.hpp"

using modload::fuzz::require;

namespace {

// Every accessor over every key the image has, and the keys the tools ask for.
void read_everything(const modload::ModuleInfo& info) {
    std::vector<std::string> keys{"name", "vermagic", "depends", "license", "parm", "alias", ""};
    for (const modload::ModinfoEntry& entry : info.modinfo) {
        keys.push_back(entry.key);
    }
    for (const std::string& key : keys) {
        const auto first = info.modinfo_value(key);
        const std::vector<std::string_view> all = info.modinfo_values(key);
        require(first.has_value() == !all.empty(), "modinfo_value finds a key modinfo_values does");
        require(!first || *first == all.front(), "modinfo_value is the first of modinfo_values");
    }
    for (const std::string& dep : info.depends()) {
        require(dep.find(',') == std::string::npos, "depends() splits at commas");
    }
    for (const modload::SymbolVersion& v : info.versions) {
        require(v.name.find('\0') == std::string::npos, "a versioned symbol's name ends at NUL");
    }
    for (const std::string& s : info.exported_symbols) {
        require(!s.empty() && s.find('\0') == std::string::npos, "an export has a name");
    }
    for (const std::string& s : info.undefined_symbols) {
        require(s.find('\0') == std::string::npos, "an import's name ends at NUL");
    }
    require(info.identity.bits == 32 || info.identity.bits == 64, "the class is 32 or 64 bits");
}

// Bytes of `after` that differ from `before` lie in [begin, end).
bool changed_only_within(std::span<const std::byte> before, std::span<const std::byte> after,
                         std::size_t begin, std::size_t end) {
    for (std::size_t i = 0; i < before.size(); ++i) {
        if (before[i] != after[i] && (i < begin || i >= end)) {
            return false;
        }
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> image(reinterpret_cast<const std::byte*>(data), size);
    auto info = modload::parse_module_image(image);
    if (!info) {
        require(!info.error().message().empty(), "an error has words");
        return 0;
    }
    read_everything(*info);

    const modload::ForceLayout& layout = info->force_layout;
    if (layout.vermagic_offset) {
        require(*layout.vermagic_offset <= size &&
                    layout.vermagic_length <= size - *layout.vermagic_offset,
                "the vermagic string lies inside the image");
    }
    const std::size_t flags_width = info->identity.bits == 64 ? 8 : 4;
    if (layout.versions_flags_offset) {
        require(*layout.versions_flags_offset <= size &&
                    flags_width <= size - *layout.versions_flags_offset,
                "__versions' sh_flags lie inside the image");
    }

    std::vector<std::byte> copy(image.begin(), image.end());
    if (modload::strip_vermagic(copy, *info) && layout.vermagic_offset) {
        const std::size_t begin = *layout.vermagic_offset;
        const std::size_t end = begin + layout.vermagic_length;
        require(changed_only_within(image, copy, begin, end),
                "strip_vermagic writes only vermagic");
        require(std::all_of(copy.begin() + static_cast<std::ptrdiff_t>(begin),
                            copy.begin() + static_cast<std::ptrdiff_t>(end),
                            [](std::byte b) { return b == std::byte{0}; }),
                "strip_vermagic blanks vermagic with NULs");
    }
    copy.assign(image.begin(), image.end());
    if (modload::strip_modversions(copy, *info) && layout.versions_flags_offset) {
        const std::size_t begin = *layout.versions_flags_offset;
        require(changed_only_within(image, copy, begin, begin + flags_width),
                "strip_modversions writes only __versions' flags");
    }
    return 0;
}
