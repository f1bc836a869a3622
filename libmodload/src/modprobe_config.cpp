// The configuration's lines, as kmod 30 parses them (libkmod-config.c, shared/util.c's
// freadline_wrapped and underscores), and what it says about one module (libkmod-module.c).
#include <modload/modprobe_config.hpp>

#include <algorithm>

#include <fnmatch.h>

#include <modload/names.hpp>

#include "alias_names.hpp"
#include "text.hpp"

namespace modload {

namespace {

constexpr std::string_view kBlanks = " \t";
constexpr std::string_view kSpaces = " \t\n\v\f\r";

using detail::underscores;

// Splits off the next word (separated by blanks, as strtok_r(" \t")); empty at the end.
std::string_view next_word(std::string_view& rest) {
    const auto begin = rest.find_first_not_of(kBlanks);
    if (begin == std::string_view::npos) {
        rest = {};
        return {};
    }
    rest.remove_prefix(begin);
    const auto end = rest.find_first_of(kBlanks);
    const std::string_view word = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    return word;
}

std::string_view trimmed(std::string_view s) {
    return detail::trimmed(s, kSpaces);
}

std::vector<std::string> words_of(std::string_view text) {
    std::vector<std::string> words;
    for (std::string_view rest = text, w = next_word(rest); !w.empty(); w = next_word(rest)) {
        words.emplace_back(w);
    }
    return words;
}

// "pre: a b post: c" into its two lists; words before the first "pre:" or "post:" count for
// neither (kmod_config_add_softdep).
void split_softdep(std::string_view text, std::vector<std::string>& pre,
                   std::vector<std::string>& post) {
    std::vector<std::string>* into = nullptr;
    for (std::string& word : words_of(text)) {
        if (word == "pre:") {
            into = &pre;
        } else if (word == "post:") {
            into = &post;
        } else if (into != nullptr) {
            into->push_back(normalize_module_name(word));
        }
    }
}

class LineParser {
  public:
    LineParser(ModprobeConfig& config, ConfigOrigin origin)
        : config_(config), origin_(std::move(origin)) {}

    void parse() {
        std::string_view rest = origin_.text;
        const std::string_view directive = next_word(rest);
        if (directive == "alias") {
            const std::string_view alias = next_word(rest);
            const std::string_view module = next_word(rest);
            if (auto a = name(alias), m = name(module); a && m) {
                config_.aliases.push_back(ConfigAlias{*a, *m, origin_});
            }
        } else if (directive == "blacklist") {
            if (auto m = name(next_word(rest))) {
                config_.blacklist.push_back(ConfigBlacklist{*m, origin_});
            }
        } else if (directive == "options") {
            auto m = name(next_word(rest));
            if (m && present(rest, "no options")) {
                std::string options(trimmed(rest));
                std::replace(options.begin(), options.end(), '\t', ' ');
                config_.options.push_back(ConfigOptions{*m, std::move(options), origin_});
            }
        } else if (directive == "install" || directive == "remove") {
            auto m = name(next_word(rest));
            if (m && present(rest, "no command")) {
                auto& commands =
                    directive == "install" ? config_.install_commands : config_.remove_commands;
                commands.push_back(ConfigCommand{*m, std::string(trimmed(rest)), origin_});
            }
        } else if (directive == "softdep") {
            auto m = name(next_word(rest));
            if (m && present(rest, "no dependencies")) {
                ConfigSoftdep softdep{*m, {}, {}, origin_};
                split_softdep(rest, softdep.pre, softdep.post);
                config_.softdeps.push_back(std::move(softdep));
            }
        } else if (directive == "include" || directive == "config") {
            ignore("deprecated directive, not read");
        } else {
            ignore("unknown directive");
        }
    }

  private:
    std::optional<std::string> name(std::string_view word) {
        if (word.empty()) {
            ignore("no module name");
            return std::nullopt;
        }
        auto normalized = underscores(word);
        if (!normalized) {
            ignore("bad module name");
        }
        return normalized;
    }

    bool present(std::string_view rest, const char* reason) {
        if (trimmed(rest).empty()) {
            ignore(reason);
            return false;
        }
        return true;
    }

    void ignore(std::string reason) {
        config_.ignored.push_back(ConfigIgnored{origin_, std::move(reason)});
    }

    ModprobeConfig& config_;
    ConfigOrigin origin_;
};

bool matches(const std::string& pattern, std::string_view module) {
    return ::fnmatch(pattern.c_str(), std::string(module).c_str(), 0) == 0;
}

// kmod sorts modules.softdep among the modprobe.d files by its name: the files whose names sort
// before it are read before it.
bool read_before_modules_softdep(const ConfigOrigin& origin) {
    return origin.source == ConfigSource::modprobe_d &&
           origin.file.filename().string() < "modules.softdep";
}

}  // namespace

std::string ConfigOrigin::where() const {
    return line == 0 ? file.string() : file.string() + ":" + std::to_string(line);
}

void parse_modprobe_config(std::string_view text, const std::filesystem::path& file,
                           ConfigSource source, ModprobeConfig& config) {
    // freadline_wrapped: a backslash before a newline joins the lines, before anything else it
    // stands for that character. kmod keeps C strings, so a NUL ends the line's text.
    unsigned number = 1;
    std::size_t at = 0;
    while (at < text.size()) {
        ConfigOrigin origin{source, file, number, {}};
        bool ended = false;
        while (at < text.size() && !ended) {
            const char c = text[at++];
            if (c == '\n') {
                ++number;
                ended = true;
            } else if (c == '\\') {
                if (at == text.size()) {
                    break;
                }
                const char next = text[at++];
                if (next == '\n') {
                    ++number;
                } else {
                    origin.text += next;
                }
            } else {
                origin.text += c;
            }
        }
        origin.text.resize(std::min(origin.text.size(), origin.text.find('\0')));
        if (origin.text.empty() || origin.text.front() == '#' || trimmed(origin.text).empty()) {
            continue;
        }
        LineParser(config, std::move(origin)).parse();
    }
}

void parse_kernel_cmdline(std::string_view text, const std::filesystem::path& file,
                          ModprobeConfig& config) {
    // kmod_config_parse_kcmdline's state machine, on indices. It also puts a quote that opens the
    // whole word back where the bootloader moved it from: GRUB passes
    // "parport.dyndbg=file a.c +p" for parport.dyndbg="file a.c +p".
    enum class State { ignore, modname, param, value, complete };
    const std::string buffer(text.substr(0, std::min(text.size(), text.find('\0'))));
    const std::size_t npos = std::string::npos;
    State state = State::modname;
    std::size_t modname = 0;
    std::size_t param = npos;
    std::size_t value = npos;
    std::size_t quote = npos;  // the quote that opened the word
    bool quoted = false;
    for (std::size_t p = 0; p <= buffer.size(); ++p) {
        const char c = p < buffer.size() ? buffer[p] : '\0';
        if (c == '"') {
            quoted = !quoted;
            if (quoted && state == State::modname && p == modname) {
                quote = p;
                modname = p + 1;
            } else if (state != State::value) {
                state = State::ignore;
            }
        } else if (c == '\0' || kSpaces.find(c) != std::string_view::npos) {
            if (quoted && state == State::value) {
                // a space inside a quoted value
            } else if (quoted) {
                state = State::ignore;  // spaces are allowed in the value only
            } else if (state == State::value || state == State::param) {
                state = State::complete;
            } else {
                modname = p + 1;
                state = State::modname;
                quote = npos;
                value = npos;
            }
        } else if (c == '.') {
            if (state == State::modname) {
                param = p + 1;
                state = State::param;
            } else if (state == State::param) {
                state = State::ignore;
            }
        } else if (c == '=') {
            if (state == State::param) {
                value = p + 1;
                state = State::value;
            } else if (state == State::modname) {
                state = State::ignore;
            }
        }
        if (state != State::complete) {
            continue;
        }
        const std::string module = buffer.substr(modname, param - 1 - modname);
        std::string parameter = buffer.substr(param, p - param);
        if (quote != npos && value != npos) {
            parameter = buffer.substr(param, value - param) + '"' + buffer.substr(value, p - value);
        }
        ConfigOrigin origin{
            ConfigSource::kernel_cmdline, file, 0,
            buffer.substr(quote != npos ? quote : modname, p - (quote != npos ? quote : modname))};
        if (module == "modprobe" && parameter.starts_with("blacklist=")) {
            // The kernel takes '-' and '_' alike in names; kmod compares these unchanged, so a
            // dashed name here never matched. Quotes are the bootloader's, not the name's.
            std::string_view names = std::string_view(parameter).substr(10);
            while (!names.empty()) {
                const auto comma = names.find(',');
                std::string_view one = names.substr(0, comma);
                one.remove_prefix(std::min(one.size(), one.find_first_not_of('"')));
                one = one.substr(0, one.find('"'));
                if (!one.empty()) {
                    config.blacklist.push_back(ConfigBlacklist{normalize_module_name(one), origin});
                }
                names.remove_prefix(comma == std::string_view::npos ? names.size() : comma + 1);
            }
        } else if (auto normalized = underscores(module); !normalized || normalized->empty()) {
            config.ignored.push_back(ConfigIgnored{std::move(origin), "bad module name"});
        } else {
            config.options.push_back(
                ConfigOptions{std::move(*normalized), std::move(parameter), std::move(origin)});
        }
        modname = p + 1;
        state = State::modname;
        quote = npos;
        value = npos;
    }
}

const ConfigCommand* ModprobeConfig::install_command(std::string_view module) const {
    // libkmod-module.c: "find only the first command, as modprobe from module-init-tools does"
    for (const ConfigCommand& c : install_commands) {
        if (matches(c.module, module)) {
            return &c;
        }
    }
    return nullptr;
}

const ConfigCommand* ModprobeConfig::remove_command(std::string_view module) const {
    for (const ConfigCommand& c : remove_commands) {
        if (matches(c.module, module)) {
            return &c;
        }
    }
    return nullptr;
}

const ConfigBlacklist* ModprobeConfig::blacklisted(std::string_view module) const {
    for (const ConfigBlacklist& b : blacklist) {
        if (b.module == module) {  // kmod compares names, not patterns
            return &b;
        }
    }
    return nullptr;
}

std::vector<const ConfigOptions*> ModprobeConfig::options_for(std::string_view module) const {
    // Read in this order already: every file, then the command line (kmod_config_new).
    std::vector<const ConfigOptions*> found;
    for (const ConfigOptions& o : options) {
        if (o.module == module) {
            found.push_back(&o);
        }
    }
    return found;
}

std::string ModprobeConfig::options_text(std::string_view module) const {
    std::string text;
    for (const ConfigOptions* o : options_for(module)) {
        if (!o->options.empty()) {
            text += (text.empty() ? "" : " ") + o->options;
        }
    }
    return text;
}

std::optional<Softdeps> ModprobeConfig::softdeps_for(std::string_view module, const ModuleInfo* own,
                                                     const std::filesystem::path& own_path) const {
    std::vector<ConfigSoftdep> from_modinfo;
    if (own != nullptr) {
        for (std::string_view value : own->modinfo_values("softdep")) {
            ConfigSoftdep softdep{
                std::string(module),
                {},
                {},
                ConfigOrigin{ConfigSource::modinfo, own_path, 0, "softdep=" + std::string(value)}};
            split_softdep(value, softdep.pre, softdep.post);
            from_modinfo.push_back(std::move(softdep));
        }
    }
    const auto found = [](const ConfigSoftdep& s) {
        return std::optional<Softdeps>(Softdeps{s.pre, s.post, s.origin});
    };
    bool modinfo_considered = false;
    for (const ConfigSoftdep& s : softdeps) {
        if (own != nullptr && !modinfo_considered && !read_before_modules_softdep(s.origin)) {
            modinfo_considered = true;
            if (!from_modinfo.empty()) {
                return found(from_modinfo.front());
            }
        }
        // With the module's own modinfo at hand, depmod's copy of some file's is not wanted.
        if (own != nullptr && s.origin.source == ConfigSource::modules_softdep &&
            matches(s.module, module)) {
            continue;
        }
        if (matches(s.module, module)) {
            return found(s);
        }
    }
    if (!modinfo_considered && !from_modinfo.empty()) {
        return found(from_modinfo.front());
    }
    return std::nullopt;
}

}  // namespace modload
