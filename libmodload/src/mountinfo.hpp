// /proc/self/mountinfo, read by lsmod --refs (mounts hold modules) and --trace (where tracefs is).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace modload::detail {

/// One mount: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS".
struct MountEntry {
    std::string device;  ///< "MAJ:MIN" of the superblock
    unsigned major = 0;
    unsigned minor = 0;
    std::string mount_point;
    std::string fstype;
    std::string source;
    std::string options;  ///< the superblock's
};

/// The fields of a line of /proc text, split at runs of spaces and tabs.
std::vector<std::string_view> words(std::string_view line);

/// `field` with the octal escapes (\ooo) that mountinfo and /proc/swaps write for space, tab,
/// newline and backslash undone.
std::string unescaped(std::string_view field);

/// Every line that has the fields above, in order; the octal escapes of space, tab, newline and
/// backslash are undone. A line that does not is left out.
std::vector<MountEntry> parse_mountinfo(std::string_view text);

}  // namespace modload::detail
