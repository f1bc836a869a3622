// insmod's parameters: the words of a command line joined into the string the kernel parses.
// The kernel must get back each word whole, as kernel/params.c's parse_args() splits it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <modload/loader.hpp>

#include "check.hpp"

using modload::fuzz::require;

namespace {

struct Parameter {
    std::string name;
    std::optional<std::string> value;
    bool operator==(const Parameter&) const = default;
};

// The kernel's isspace() (lib/ctype.c): the C locale's white space and Latin-1's no-break space.
bool kernel_isspace(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0;
}

// kernel/params.c: parse_args() over next_arg(), on a copy.
std::vector<Parameter> kernel_parse_args(std::string args) {
    std::vector<Parameter> out;
    std::size_t at = 0;
    const auto skip_spaces = [&] {
        while (at < args.size() && kernel_isspace(static_cast<unsigned char>(args[at]))) {
            ++at;
        }
    };
    skip_spaces();
    while (at < args.size()) {
        std::size_t start = at;
        bool in_quote = false;
        bool quoted = false;
        if (args[start] == '"') {
            ++start;
            in_quote = quoted = true;
        }
        std::size_t i = start;
        std::size_t equals = 0;  // 0: none, as in the kernel (an '=' first is no separator)
        for (; i < args.size(); ++i) {
            if (kernel_isspace(static_cast<unsigned char>(args[i])) && !in_quote) {
                break;
            }
            if (equals == 0 && args[i] == '=') {
                equals = i - start;
            }
            if (args[i] == '"') {
                in_quote = !in_quote;
            }
        }
        std::string word = args.substr(start, i - start);
        Parameter p;
        std::size_t end = word.size();  // the kernel writes NULs; this keeps the length instead
        bool last_cut = false;          // the kernel's args[i-1] = '\0' already happened
        if (equals == 0) {
            p.name = word;
        } else {
            std::size_t value_start = equals + 1;
            if (value_start < word.size() && word[value_start] == '"') {
                ++value_start;
                if (end > 0 && word[end - 1] == '"') {
                    --end;
                    last_cut = true;
                }
            }
            p.name = word.substr(0, equals);
            p.value = value_start <= end ? word.substr(value_start, end - value_start) : "";
        }
        if (quoted && !last_cut && i > start && args[i - 1] == '"') {
            // The closing quote of a quoted word ends whichever part it is in.
            std::string& last = p.value ? *p.value : p.name;
            if (!last.empty() && last.back() == '"') {
                last.pop_back();
            }
        }
        out.push_back(std::move(p));
        at = i < args.size() ? i + 1 : i;
        skip_spaces();
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // NUL separates the words, as it does in argv.
    std::vector<std::string> words;
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    while (!rest.empty() && words.size() < 64) {
        const auto nul = rest.find('\0');
        words.emplace_back(rest.substr(0, nul));
        rest.remove_prefix(nul == std::string_view::npos ? rest.size() : nul + 1);
    }
    const std::string joined = modload::join_parameters(words);

    // The promise holds for words a user means as one parameter: not empty, without a '"' of
    // their own (those are passed as written), and with a name before any '=' that holds no white
    // space (kmod passes "a=1 b=2" on as two parameters; here the value is quoted instead, but a
    // space before the '=' still separates words, as it does in kmod).
    std::vector<Parameter> expected;
    for (const std::string& w : words) {
        const auto eq = w.find('=');
        const std::string_view name = std::string_view(w).substr(0, eq);
        if (w.empty() || w.find('"') != std::string::npos || name.empty() ||
            std::any_of(name.begin(), name.end(),
                        [](char c) { return kernel_isspace(static_cast<unsigned char>(c)); })) {
            return 0;
        }
        expected.push_back(eq == std::string::npos ? Parameter{w, std::nullopt}
                                                   : Parameter{w.substr(0, eq), w.substr(eq + 1)});
    }
    const std::vector<Parameter> parsed = kernel_parse_args(joined);
    require(parsed.size() == expected.size(), "the kernel sees one parameter per word");
    require(parsed == expected, "the kernel sees each word's name and value");
    return 0;
}
