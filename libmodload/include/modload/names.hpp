// Module names as the kernel sees them.
#pragma once

#include <string>
#include <string_view>

#include <modload/export.hpp>

namespace modload {

/// The module name an argument stands for, as kmod derives it: the basename, cut at the first
/// '.', with '-' turned into '_'. "crc-itu-t" and "/lib/modules/x/crc-itu-t.ko.xz" are both
/// "crc_itu_t".
MODLOAD_API std::string module_name_from_argument(std::string_view argument);

/// '-' turned into '_': the kernel stores names with underscores only.
MODLOAD_API std::string normalize_module_name(std::string_view name);

/// Whether `name` can be a loaded module's name and is safe to use as a /sys/module path
/// component: not empty, shorter than the kernel's 56-byte limit, no '/', not "." or "..".
MODLOAD_API bool is_valid_module_name(std::string_view name);

}  // namespace modload
