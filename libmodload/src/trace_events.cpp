// Reading the kernel's module_get, module_put and module_free trace events: one line of
// trace_pipe into a ModuleEvent, and the filter that limits the events to some modules. Pure:
// text in, values out; the session that reads them from tracefs is trace.cpp.
#include <modload/trace.hpp>

#include <algorithm>
#include <cerrno>

#include <modload/names.hpp>

#include "text.hpp"

namespace modload {

namespace {

// A live module's counter starts at MODULE_REF_BASE (kernel/module/main.c), and the events
// record the counter itself: module_get after atomic_inc_not_zero, module_put after
// atomic_dec_if_positive.
constexpr int kModuleRefBase = 1;

bool all_digits(std::string_view text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "12.345678" (the kernel prints "%5llu.%06lu"), or plain digits for a counter clock.
std::optional<std::chrono::microseconds> parse_time(std::string_view text) {
    const auto dot = text.find('.');
    std::uint64_t seconds = 0;
    if (!detail::parse_number(text.substr(0, dot), seconds)) {
        return std::nullopt;
    }
    std::uint64_t micros = 0;
    if (dot != std::string_view::npos) {
        std::string_view fraction = text.substr(dot + 1);
        if (!all_digits(fraction)) {
            return std::nullopt;
        }
        fraction = fraction.substr(0, 6);
        (void)detail::parse_number(fraction, micros);
        for (std::size_t i = fraction.size(); i < 6; ++i) {
            micros *= 10;
        }
    }
    return std::chrono::microseconds(seconds * 1000000 + micros);
}

// What follows "<comm>-<pid> " in a trace line, from its [cpu] field at `rest`:
// "[001] d..1. 12.345678: module_get: NAME ...". The flags column is there only with the
// irq-info option (on by default).
bool parse_after_task(std::string_view rest, ModuleEvent& event) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos ||
        !detail::parse_number(rest.substr(1, close - 1), event.cpu)) {
        return false;
    }
    rest = rest.substr(close + 1);
    if (rest.empty() || rest.front() != ' ') {
        return false;
    }
    rest = detail::trimmed_left(rest, " ");
    // The time ends in ": "; a flags column before it has no ':'.
    const auto colon = rest.find(": ");
    if (colon == std::string_view::npos) {
        return false;
    }
    std::string_view time = rest.substr(0, colon);
    if (const auto space = time.rfind(' '); space != std::string_view::npos) {
        if (detail::trimmed_right(time.substr(0, space), " ").find(' ') != std::string_view::npos) {
            return false;  // more than one column between [cpu] and the time
        }
        time = time.substr(space + 1);
    }
    const auto parsed_time = parse_time(time);
    if (!parsed_time) {
        return false;
    }
    event.time = *parsed_time;
    rest = rest.substr(colon + 2);

    const auto name_end = rest.find(": ");
    if (name_end == std::string_view::npos) {
        return false;
    }
    const std::string_view name = rest.substr(0, name_end);
    std::string_view body = detail::trimmed_right(rest.substr(name_end + 2), " ");
    if (name == "module_free") {
        if (!is_valid_module_name(body) || body.find(' ') != std::string_view::npos) {
            return false;
        }
        event.kind = ModuleEventKind::free;
        event.module = std::string(body);
        return true;
    }
    if (name != "module_get" && name != "module_put") {
        return false;
    }
    event.kind = name == "module_get" ? ModuleEventKind::get : ModuleEventKind::put;
    // "NAME call_site=SITE refcnt=N"; SITE is %ps, "function [module]" inside a module.
    const auto module_end = body.find(' ');
    if (module_end == std::string_view::npos) {
        return false;
    }
    event.module = std::string(body.substr(0, module_end));
    body = body.substr(module_end + 1);
    constexpr std::string_view kCallSite = "call_site=";
    constexpr std::string_view kRefcnt = " refcnt=";
    const auto refcnt = body.rfind(kRefcnt);
    int counter = 0;
    if (!is_valid_module_name(event.module) || body.substr(0, kCallSite.size()) != kCallSite ||
        refcnt == std::string_view::npos || refcnt < kCallSite.size() ||
        !detail::parse_number(body.substr(refcnt + kRefcnt.size()), counter)) {
        return false;
    }
    event.call_site = std::string(body.substr(kCallSite.size(), refcnt - kCallSite.size()));
    event.refcount = counter - kModuleRefBase;
    return true;
}

// "<comm>-<pid>", right-aligned, maybe followed by "(tgid)" (the record-tgid option).
bool parse_task(std::string_view task, ModuleEvent& event) {
    task = detail::trimmed_right(task, " ");
    if (!task.empty() && task.back() == ')') {
        const auto open = task.rfind('(');
        if (open == std::string_view::npos ||
            !all_digits(detail::trimmed_left(task.substr(open + 1, task.size() - open - 2), " "))) {
            return false;
        }
        task = detail::trimmed_right(task.substr(0, open), " ");
    }
    const auto dash = task.rfind('-');
    if (dash == std::string_view::npos || !detail::parse_number(task.substr(dash + 1), event.pid)) {
        return false;
    }
    event.command = std::string(detail::trimmed_left(task.substr(0, dash), " "));
    return true;
}

}  // namespace

std::optional<ModuleEvent> parse_module_event(std::string_view line) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
        line.remove_suffix(1);
    }
    // The comm comes first and may hold anything, '[' too; the [cpu] field is the first '['
    // after which the rest of the line reads as an event and before which "-<pid>" ends.
    for (auto open = line.find('['); open != std::string_view::npos;
         open = line.find('[', open + 1)) {
        ModuleEvent event;
        if (open > 0 && line[open - 1] == ' ' && parse_after_task(line.substr(open), event) &&
            parse_task(line.substr(0, open), event)) {
            return event;
        }
    }
    return std::nullopt;
}

Result<std::string> module_event_filter(std::span<const std::string> modules) {
    if (modules.empty()) {
        return make_error(EINVAL, "no module to trace");
    }
    std::string filter;
    for (const std::string& name : modules) {
        if (!is_valid_module_name(name) || name.find_first_of("\"'\\") != std::string::npos ||
            std::any_of(name.begin(), name.end(),
                        [](char c) { return static_cast<unsigned char>(c) < 0x21; })) {
            return make_error(EINVAL, "no module name: " + name);
        }
        filter += (filter.empty() ? "" : " || ") + std::string("name == \"") + name + "\"";
    }
    return filter;
}

}  // namespace modload
