// The administrator's configuration: a modprobe.d file or a kernel command line, as text. The
// first byte chooses which; the rest is the text. Neither parser may crash, and what they keep
// must be what they were given: origins that point into the text, names kmod would normalize.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <modload/modprobe_config.hpp>

#include "check.hpp"

using modload::fuzz::require;

namespace {

// No '-' outside [...]: the name was normalized as kmod's underscores() does.
bool normalized(std::string_view name) {
    bool in_brackets = false;
    for (char c : name) {
        if (c == '[') {
            in_brackets = true;
        } else if (c == ']') {
            in_brackets = false;
        } else if (c == '-' && !in_brackets) {
            return false;
        }
    }
    return !name.empty();
}

void query_each(const modload::ModprobeConfig& config, const std::string& name) {
    (void)config.install_command(name);
    (void)config.remove_command(name);
    (void)config.blacklisted(name);
    (void)config.options_text(name);
    (void)config.softdeps_for(name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const bool kernel_cmdline = (data[0] & 1) != 0;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    modload::ModprobeConfig config;
    if (kernel_cmdline) {
        modload::parse_kernel_cmdline(text, "/proc/cmdline", config);
        require(config.install_commands.empty() && config.softdeps.empty(),
                "the command line gives only options and a blacklist");
        for (const modload::ConfigOptions& o : config.options) {
            require(normalized(o.module), "an option's module name is normalized");
            require(o.origin.line == 0, "the command line has no lines");
            require(text.find(o.origin.text) != std::string_view::npos,
                    "an option's origin is a word of the command line");
        }
        for (const modload::ConfigBlacklist& b : config.blacklist) {
            require(b.module.find('-') == std::string::npos, "a blacklisted name is normalized");
        }
    } else {
        modload::parse_modprobe_config(text, "/etc/modprobe.d/f.conf",
                                       modload::ConfigSource::modprobe_d, config);
        std::size_t lines = 1;
        for (char c : text) {
            lines += c == '\n' ? 1 : 0;
        }
        const auto check_origin = [&](const modload::ConfigOrigin& o) {
            require(o.line >= 1 && o.line <= lines, "a directive's line is in the file");
            require(o.text.find('\n') == std::string::npos, "a directive is one logical line");
            require(!o.text.empty() && o.text.front() != '#', "a comment is no directive");
        };
        for (const auto& c : config.install_commands) {
            check_origin(c.origin);
            require(normalized(c.module) && !c.command.empty(), "install M COMMAND");
        }
        for (const auto& o : config.options) {
            check_origin(o.origin);
            require(normalized(o.module) && !o.options.empty(), "options M OPTIONS");
            require(o.options.find('\t') == std::string::npos, "tabs in options become spaces");
        }
        for (const auto& s : config.softdeps) {
            check_origin(s.origin);
            require(normalized(s.module), "softdep M");
        }
        for (const auto& i : config.ignored) {
            check_origin(i.origin);
        }
    }
    for (const auto& o : config.options) {
        query_each(config, o.module);
    }
    for (const auto& s : config.softdeps) {
        query_each(config, s.module);
        for (const std::string& name : s.pre) {
            query_each(config, name);
        }
    }
    return 0;
}
