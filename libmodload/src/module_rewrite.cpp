// The force rewrites: an in-memory copy of a module made to pass the kernel's version checks, as
// `insmod -f` asks (kmod's --force-modversion and --force-vermagic), at the places the reader
// found.
#include <modload/module_info.hpp>

#include <algorithm>
#include <cerrno>

#include <elf.h>

namespace modload {

Result<void> strip_modversions(std::span<std::byte> image, const ModuleInfo& info) {
    if (!info.force_layout.versions_flags_offset) {
        return {};
    }
    const std::size_t at = *info.force_layout.versions_flags_offset;
    const std::size_t width = info.identity.bits == 64 ? 8 : 4;
    if (at > image.size() || width > image.size() - at) {
        return make_error(ENOEXEC, "__versions header outside the image");
    }
    // SHF_ALLOC is bit 1: the lowest byte of sh_flags holds it in either byte order.
    const std::size_t low = info.identity.big_endian ? at + width - 1 : at;
    image[low] &= ~std::byte{SHF_ALLOC};
    return {};
}

Result<void> strip_vermagic(std::span<std::byte> image, const ModuleInfo& info) {
    if (!info.force_layout.vermagic_offset) {
        return {};
    }
    const std::size_t at = *info.force_layout.vermagic_offset;
    const std::size_t length = info.force_layout.vermagic_length;
    if (at > image.size() || length > image.size() - at) {
        return make_error(ENOEXEC, "vermagic outside the image");
    }
    std::fill_n(image.begin() + static_cast<std::ptrdiff_t>(at), length, std::byte{0});
    return {};
}

}  // namespace modload
