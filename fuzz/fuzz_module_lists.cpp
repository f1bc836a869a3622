// modules.dep and modules.builtin, as a broken depmod or a hostile image might leave them: the
// same text is written as both into a scratch root and read back through the library's
// ModuleLocator (which also looks beside the module being loaded) and BuiltinModules.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <modload/load_plan.hpp>
#include <modload/names.hpp>
#include <modload/removal.hpp>
#include <modload/system.hpp>

#include "check.hpp"

using modload::fuzz::require;

namespace {

constexpr const char* kRelease = "6.1.0-fuzz";

const modload::fuzz::ScratchRoot& scratch() {
    static const modload::fuzz::ScratchRoot root;
    return root;
}

// The folder of the module being loaded, holding one module; another sits above it, at the root.
const std::filesystem::path& beside() {
    static const std::filesystem::path folder = [] {
        const unsigned char elf[] = {0x7f, 'E', 'L', 'F'};
        scratch().write("/beside/fixture_base.ko", elf, sizeof elf);
        scratch().write("/outside.ko", elf, sizeof elf);
        return std::filesystem::canonical(scratch().path() / "beside");
    }();
    return folder;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string folder = std::string("/lib/modules/") + kRelease;
    scratch().write(folder + "/modules.dep", data, size);
    scratch().write(folder + "/modules.builtin", data, size);
    static const auto kernel = modload::make_system_kernel();  // never called
    const auto system =
        modload::make_rooted_system(scratch().path(), *kernel, modload::system_clock());
    modload::System& root = *system;

    auto locator = modload::ModuleLocator::make(root, kRelease, beside());
    require(locator.has_value(), "an existing modules.dep is always read");
    auto builtin = modload::BuiltinModules::read(root, kRelease);
    require(builtin.has_value(), "an existing modules.builtin is always read");

    // Every line names a built-in module, and every "path:" line a module file. What a hostile
    // module's depends= might hold is asked for as it is, too: a file found beside the module is
    // in its folder, never above or below it. The first 6 lines are asked about: each question
    // is a dozen file system calls, and more lines add time, not paths through the code (at 16,
    // the campaign ran at 600 inputs a second, 40% of it in stat()).
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    for (int lines = 0; !rest.empty() && lines < 6; ++lines) {
        const auto newline = rest.find('\n');
        const std::string_view line = rest.substr(0, newline);
        rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
        if (line.empty()) {
            continue;
        }
        require(builtin->contains(modload::module_name_from_argument(line)),
                "modules.builtin's modules are built in");
        const auto colon = line.find(':');
        if (colon != std::string_view::npos && colon > 0) {
            const std::string name = modload::module_name_from_argument(line.substr(0, colon));
            const auto found = locator->find(name);
            require(found && *found && (*found)->source == modload::ModuleSource::modules_dep,
                    "modules.dep's modules are found in modules.dep");
        }
        const auto looked = locator->find(std::string(line.substr(0, colon)));
        const auto raw = looked ? *looked : std::nullopt;
        require(!raw || raw->source == modload::ModuleSource::modules_dep ||
                    std::filesystem::canonical(raw->path).parent_path() == beside(),
                "a module found beside the module is in its folder");
    }
    for (const char* name : {"ext4", "crc_itu_t", "", "nf_nat", "a"}) {
        (void)locator->find(name);
        (void)builtin->contains(name);
    }
    return 0;
}
