// The administrator's configuration of module loading, read as kmod's modprobe reads it:
// modprobe.d, depmod's modules.softdep and the kernel command line.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <modload/export.hpp>
#include <modload/module_info.hpp>
#include <modload/result.hpp>
#include <modload/system.hpp>

namespace modload {

/// Which kind of source a directive came from.
enum class ConfigSource {
    modprobe_d,       ///< a *.conf or *.alias file of a modprobe.d folder
    modules_softdep,  ///< depmod's modules.softdep (the modules' own softdep= modinfo)
    kernel_cmdline,   ///< /proc/cmdline: M.param=value, modprobe.blacklist=a,b
    modinfo,          ///< softdep= of the module file being loaded (softdeps_for())
};

/// Where a directive came from, so that a caller can say "nf_conntrack is disabled by
/// /etc/modprobe.d/harden.conf:1: install nf_conntrack /bin/false".
struct MODLOAD_API ConfigOrigin {
    ConfigSource source = ConfigSource::modprobe_d;
    /// The file, under the system's root (<root>/proc/cmdline for the command line; the module's
    /// path, as the caller gave it, for modinfo).
    std::filesystem::path file;
    /// The line the directive starts on, from 1 (a line continued with a trailing backslash is
    /// one directive); 0 for the command line and modinfo.
    unsigned line = 0;
    /// The directive as read, continuations joined: "install nf_conntrack /bin/false",
    /// "nf_conntrack.hashsize=1", "softdep=pre: crc32c".
    std::string text;

    /// "FILE:LINE", or "FILE" when there is no line.
    std::string where() const;
};

/// `install M COMMAND` or `remove M COMMAND`: modprobe runs COMMAND (with /bin/sh) instead of
/// loading or removing M. `module` is a shell pattern (fnmatch), as kmod matches it.
struct MODLOAD_API ConfigCommand {
    std::string module;
    std::string command;  ///< the rest of the line, as written
    ConfigOrigin origin;
};

/// `blacklist M`, or M in modprobe.blacklist=a,b on the kernel command line. modprobe applies it
/// to names it resolves through an alias only; a module named directly or as a dependency, hard
/// or soft, is still loaded (KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY).
struct MODLOAD_API ConfigBlacklist {
    std::string module;
    ConfigOrigin origin;
};

/// `options M p1=v1 p2=v2`, or M.p1=v1 on the kernel command line.
struct MODLOAD_API ConfigOptions {
    std::string module;
    std::string options;  ///< as written, tabs turned into spaces (as kmod does)
    ConfigOrigin origin;
};

/// `softdep M pre: a b post: c`: load a and b before M, c after it, when they can be found.
/// Words before the first "pre:" or "post:" are ignored, as kmod does. `module` is a shell
/// pattern (fnmatch); the names are normalized.
struct MODLOAD_API ConfigSoftdep {
    std::string module;
    std::vector<std::string> pre;
    std::vector<std::string> post;
    ConfigOrigin origin;
};

/// `alias NAME M`: NAME (a shell pattern) stands for module M.
struct MODLOAD_API ConfigAlias {
    std::string alias;
    std::string module;
    ConfigOrigin origin;
};

/// A line read but not applied, and why: "unknown directive", "deprecated directive, not read"
/// (include, config), "no module name", "bad module name", "no command", "no options", "a
/// folder, not read", "not there". kmod says of such a line "ignoring bad line starting with
/// 'WORD'".
struct MODLOAD_API ConfigIgnored {
    ConfigOrigin origin;
    std::string reason;
};

/// A file or folder not read because another user could have written it, and why: "writable by
/// others (mode 0666)", "owned by uid 1000" (untrusted_because() in <modload/load_plan.hpp>), "in
/// folder F, which is ...", "not a regular file".
struct MODLOAD_API ConfigRefusal {
    std::filesystem::path path;
    std::string reason;
};

/// What modprobe would load around a module: softdeps_for().
struct MODLOAD_API Softdeps {
    std::vector<std::string> pre;
    std::vector<std::string> post;
    ConfigOrigin origin;
};

/// The configuration as modprobe (kmod 30, with kmod 32's /usr/lib/modprobe.d) reads it. The
/// library never acts on it: the caller decides what each directive does.
///
/// Read from, under the system's root:
/// - /etc/modprobe.d, /run/modprobe.d, /usr/local/lib/modprobe.d, /usr/lib/modprobe.d and
///   /lib/modprobe.d: the files whose names end in ".conf" or ".alias" (kmod reads both) and do
///   not begin with '.'. A file hides those of the same name in later folders; folders inside are
///   not read. A symbolic link to /dev/null reads as empty, so it hides the file it is named
///   after (the usual way to mask a vendor's file).
/// - /lib/modules/RELEASE/modules.softdep, which depmod writes from the modules' softdep= modinfo;
///   kmod reads it as one more configuration file named "modules.softdep".
/// - All of these in the order of their file names (byte order) across the folders, as kmod does;
///   then /proc/cmdline: M.param=value (kmod's quoting: "M.p=a b" and M.p="a b" both give
///   p="a b"), modprobe.blacklist=a,b.
///
/// Trust: a file, or the folder it is in (for a symbolic link, also the folder of the file it
/// leads to), that another user could have written (untrusted_because()) is not read and is
/// listed in `refused`, so a load never follows it and the caller can say so. A refused file does
/// not hide a file of the same name in a later folder either: another user cannot switch off the
/// administrator's file by writing one in an earlier, writable folder. /proc/cmdline is trusted
/// as the other files are.
///
/// Lines: a trailing backslash continues a line; a backslash before any other character stands
/// for that character. A line beginning with '#' is a comment ('#' elsewhere is not). Module
/// names are normalized ('-' to '_', outside [...] of a pattern), as kmod does. Unknown and
/// malformed lines are listed in `ignored`.
struct MODLOAD_API ModprobeConfig {
    /// The files read, in the order read.
    std::vector<std::filesystem::path> files;
    std::vector<ConfigCommand> install_commands;
    std::vector<ConfigCommand> remove_commands;
    std::vector<ConfigBlacklist> blacklist;
    std::vector<ConfigOptions> options;
    std::vector<ConfigSoftdep> softdeps;
    std::vector<ConfigAlias> aliases;
    std::vector<ConfigIgnored> ignored;
    std::vector<ConfigRefusal> refused;

    /// The install command modprobe would run for `module` (a normalized name) instead of loading
    /// it: the first whose pattern matches, in reading order; nullptr when there is none.
    const ConfigCommand* install_command(std::string_view module) const;
    /// The same for removing it.
    const ConfigCommand* remove_command(std::string_view module) const;
    /// The first line that blacklists `module`, or nullptr.
    const ConfigBlacklist* blacklisted(std::string_view module) const;
    /// Every `options` line for `module`, in modprobe's order: the files in reading order, then
    /// the kernel command line. modprobe passes all of them, joined by spaces, before the
    /// parameters given on its own command line (the kernel takes the last of a repeated one).
    std::vector<const ConfigOptions*> options_for(std::string_view module) const;
    /// Those options joined by spaces, as modprobe passes them; empty when there are none.
    std::string options_text(std::string_view module) const;
    /// The soft dependencies of `module`: the first softdep line whose pattern matches, in
    /// reading order (kmod 30 takes the first and ignores the others; lines do not accumulate).
    /// With `own`, the module file being loaded, its softdep= modinfo stands in for what
    /// modules.softdep says about `module`, in modules.softdep's place in the order (depmod wrote
    /// that from some file of that name, `own` is the one being loaded); `own_path` names it in
    /// the origin. nullopt when nothing names any.
    std::optional<Softdeps> softdeps_for(std::string_view module, const ModuleInfo* own = nullptr,
                                         const std::filesystem::path& own_path = {}) const;
};

/// Reads the configuration under `root` for the kernel `release` (empty: no modules.softdep).
/// A folder or file that is not there is normal. Errors name the path: a file or folder that is
/// there but cannot be read (EACCES, EIO...), since reading on could lose an `install` or
/// `blacklist` line that disables a module; EFBIG for a file past 4 MiB; ENOTDIR for a
/// modprobe.d that is not a folder.
MODLOAD_API Result<ModprobeConfig> read_modprobe_config(System& system, std::string_view release);

/// Adds the directives of one configuration file's text to `config`, with `file` and `source`
/// for their origins (pure: read_modprobe_config() uses it for each file).
MODLOAD_API void parse_modprobe_config(std::string_view text, const std::filesystem::path& file,
                                       ConfigSource source, ModprobeConfig& config);

/// Adds what the kernel command line `text` says to modprobe to `config`: options for M.param=value
/// and the names of modprobe.blacklist=, with `file` for their origins (pure).
MODLOAD_API void parse_kernel_cmdline(std::string_view text, const std::filesystem::path& file,
                                      ModprobeConfig& config);

}  // namespace modload
