#include <modload/snapshot.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include <modload/names.hpp>

#include "text.hpp"

namespace modload {

namespace {

// Splits off the next space-separated field of a /proc/modules line.
std::string_view next_field(std::string_view& line) {
    const auto start = line.find_first_not_of(' ');
    if (start == std::string_view::npos) {
        line = {};
        return {};
    }
    line.remove_prefix(start);
    const auto end = line.find(' ');
    const std::string_view field = line.substr(0, end);
    line.remove_prefix(end == std::string_view::npos ? line.size() : end);
    return field;
}

// The kernel prints "name size refcount holders state address [(taints)]"; holders is "-" or a
// list of "name," items, where "[permanent]," marks a module without an exit function. A kernel
// without CONFIG_MODULE_UNLOAD prints "- -" for refcount and holders. Those are the fields every
// kernel has printed; whatever a future kernel appends after them is not ours to judge, and is
// ignored, as kmod does.
bool parse_line(std::string_view line, LoadedModule& m) {
    const std::string_view name = next_field(line);
    const std::string_view size = next_field(line);
    const std::string_view refcount = next_field(line);
    const std::string_view holders = next_field(line);
    const std::string_view state = next_field(line);
    const std::string_view address = next_field(line);
    std::string_view taints = next_field(line);
    if (address.empty() || !is_valid_module_name(name)) {
        return false;
    }
    if (taints.empty() || taints.front() != '(') {
        taints = {};  // no taints; a field a newer kernel appended
    }
    m.name = std::string(name);
    if (!detail::parse_number(size, m.size)) {
        return false;
    }
    if (refcount != "-") {
        int value = 0;
        if (!detail::parse_number(refcount, value)) {
            return false;
        }
        m.refcount = value;
    }
    if (holders != "-") {
        std::string_view rest = holders;
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            const std::string_view item = rest.substr(0, comma);
            rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
            if (item == "[permanent]") {
                m.permanent = true;
            } else if (!item.empty() && item.front() != '[') {
                m.holders.emplace_back(item);
            }
        }
    }
    if (state == "Live") {
        m.state = ModuleState::live;
    } else if (state == "Loading") {
        m.state = ModuleState::loading;
    } else if (state == "Unloading") {
        m.state = ModuleState::unloading;
    } else {
        return false;
    }
    if (!detail::parse_number(address, m.address, 16)) {
        return false;
    }
    if (!taints.empty()) {
        if (taints.size() < 2 || taints.front() != '(' || taints.back() != ')') {
            return false;
        }
        // A module coming or going also gets '+' or '-' inside the parentheses: that is the
        // state again, not a taint.
        for (const char c : taints.substr(1, taints.size() - 2)) {
            if (c != '+' && c != '-') {
                m.taints += c;
            }
        }
    }
    return true;
}

}  // namespace

std::string_view module_state_name(ModuleState state) {
    switch (state) {
        case ModuleState::loading:
            return "Loading";
        case ModuleState::unloading:
            return "Unloading";
        case ModuleState::live:
            break;
    }
    return "Live";
}

int LoadedModule::external_references() const {
    // Each holder took one reference when it started using this module's symbols.
    return std::max(0, refcount.value_or(0) - static_cast<int>(holders.size()));
}

Result<Snapshot> Snapshot::read(System& system) {
    auto text = system.read_text("/proc/modules");
    if (!text) {
        return text.error();
    }
    return parse(*text);
}

Result<Snapshot> Snapshot::parse(std::string_view text) {
    std::vector<LoadedModule> modules;
    modules.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
    std::size_t line_number = 0;
    std::vector<SkippedLine> skipped;
    while (!text.empty()) {
        const auto newline = text.find('\n');
        const std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        ++line_number;
        if (line.empty()) {
            continue;
        }
        LoadedModule m;
        if (!parse_line(line, m)) {
            // One line no tool can understand must not stop them all: it is set aside, and said.
            skipped.push_back(SkippedLine{line_number, std::string(line.substr(0, 200))});
            continue;
        }
        modules.push_back(std::move(m));
    }
    Snapshot snapshot(std::move(modules));
    snapshot.skipped_ = std::move(skipped);
    return snapshot;
}

const LoadedModule* Snapshot::find(std::string_view name) const {
    const auto it = std::find_if(modules_.begin(), modules_.end(),
                                 [&](const LoadedModule& m) { return m.name == name; });
    return it == modules_.end() ? nullptr : &*it;
}

std::vector<std::string_view> Snapshot::dependencies_of(std::string_view name) const {
    std::vector<std::string_view> deps;
    for (const LoadedModule& m : modules_) {
        if (std::find(m.holders.begin(), m.holders.end(), name) != m.holders.end()) {
            deps.emplace_back(m.name);
        }
    }
    return deps;
}

}  // namespace modload
