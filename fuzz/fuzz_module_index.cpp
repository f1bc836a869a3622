// depmod's binary index (modules.dep.bin) and modules.alias, as a broken depmod or a hostile
// image might leave them: the bytes are read as an index and every key the input names is
// looked up; and as modules.alias text, matched against names it holds.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "check.hpp"
#include "module_aliases.hpp"
#include "module_index.hpp"

using modload::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    if (auto index = modload::detail::ModuleIndex::over(bytes)) {
        // Keys: the input's NUL-separated words (an index's prefixes and values among them).
        std::string_view rest = bytes;
        for (int keys = 0; !rest.empty() && keys < 32; ++keys) {
            const auto nul = rest.find('\0');
            const std::string_view key = rest.substr(0, nul);
            rest.remove_prefix(nul == std::string_view::npos ? rest.size() : nul + 1);
            const auto found = index->find(key);
            if (found && *found) {
                const std::string_view value = **found;
                require(value.data() >= bytes.data() &&
                            value.data() + value.size() < bytes.data() + bytes.size() &&
                            value.find('\0') == std::string_view::npos &&
                            value.data()[value.size()] == '\0',
                        "a value lies within the index and ends at its NUL");
            }
        }
    }
    for (const char* name : {"crc32c", "", "pci:v00008086d00001000sv0sd0bc02sc00i00", "a"}) {
        for (const std::string& module : modload::detail::modules_matching_alias(bytes, name)) {
            require(module.find('-') == std::string::npos, "module names come normalized");
        }
    }
    return 0;
}
