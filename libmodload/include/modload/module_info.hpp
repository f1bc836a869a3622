// What a module's ELF image says about it: modinfo, name, symbol versions, exports and imports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <modload/export.hpp>
#include <modload/result.hpp>

namespace modload {

/// One "key=value" string of the .modinfo section.
struct MODLOAD_API ModinfoEntry {
    std::string key;
    std::string value;
};

/// One entry of __versions: the CRC the module was built against for a symbol it uses.
struct MODLOAD_API SymbolVersion {
    std::string name;
    std::uint64_t crc = 0;
};

/// The ELF header facts that decide which kernels can load a module.
struct MODLOAD_API ElfIdentity {
    int bits = 64;              ///< 32 or 64
    bool big_endian = false;    ///< EI_DATA is ELFDATA2MSB
    std::uint16_t machine = 0;  ///< e_machine, e.g. EM_X86_64 (62)
};

/// Where the parts that force-loading rewrites sit in the image (file offsets).
struct MODLOAD_API ForceLayout {
    std::optional<std::size_t> versions_flags_offset;  ///< sh_flags of __versions
    std::optional<std::size_t> vermagic_offset;        ///< the "vermagic=..." string
    std::size_t vermagic_length = 0;                   ///< its length without the NUL
};

/// Everything the tools need to know about a module file before loading it.
struct MODLOAD_API ModuleInfo {
    ElfIdentity identity;
    std::string name;  ///< from name=, else from .gnu.linkonce.this_module
    std::vector<ModinfoEntry> modinfo;
    std::vector<SymbolVersion> versions;
    std::vector<std::string> exported_symbols;
    std::vector<std::string> undefined_symbols;
    bool signature_appended = false;
    /// Whether versions, exported_symbols and undefined_symbols were read (ModuleParts::all).
    bool symbols_read = false;
    ForceLayout force_layout;

    /// The first value for `key`, or nullopt.
    std::optional<std::string_view> modinfo_value(std::string_view key) const;
    /// Every value for `key` (alias, parm and softdep repeat), in file order.
    std::vector<std::string_view> modinfo_values(std::string_view key) const;
    /// The modules named by depends=, in order; empty when it is absent or empty.
    std::vector<std::string> depends() const;
};

/// How much of an image parse_module_image() reads.
enum class ModuleParts {
    /// What loading needs: the ELF identity, the name, .modinfo (depends, vermagic), the appended
    /// signature and where forcing rewrites.
    load,
    /// And the symbol walks: the __versions CRCs, the exports and the undefined symbols.
    all,
};

/// Parses a decompressed module image. Every offset and length it reads is checked against the
/// image: a truncated, corrupt or hostile image gives ENOEXEC with a detail, never a crash.
MODLOAD_API Result<ModuleInfo> parse_module_image(std::span<const std::byte> image,
                                                  ModuleParts parts = ModuleParts::all);

/// Rewrites an image the way the kernel would ignore symbol versions: __versions loses SHF_ALLOC,
/// so the kernel does not find it (for init_module, which has no flags).
MODLOAD_API Result<void> strip_modversions(std::span<std::byte> image, const ModuleInfo& info);

/// Rewrites an image so that the kernel finds no vermagic: the whole "vermagic=" string is
/// blanked with NULs (for init_module, which has no flags).
MODLOAD_API Result<void> strip_vermagic(std::span<std::byte> image, const ModuleInfo& info);

}  // namespace modload
