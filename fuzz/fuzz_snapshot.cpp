// /proc/modules, as a forged or corrupt one might read: parse it, then plan removals on it.
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <modload/removal.hpp>
#include <modload/snapshot.hpp>

#include "check.hpp"

using modload::fuzz::require;

namespace {

// Whether following holders from any module of the snapshot comes back to it.
bool holders_form_a_cycle(const modload::Snapshot& snapshot) {
    std::map<std::string_view, int> state;  // 1: being visited, 2: done
    std::vector<std::pair<std::string_view, std::size_t>> stack;
    for (const modload::LoadedModule& start : snapshot.modules()) {
        if (state[start.name] != 0) {
            continue;
        }
        stack.emplace_back(start.name, 0);
        state[start.name] = 1;
        while (!stack.empty()) {
            auto& [name, next] = stack.back();
            const modload::LoadedModule* m = snapshot.find(name);
            if (m == nullptr || next == m->holders.size()) {
                state[name] = 2;
                stack.pop_back();
                continue;
            }
            const std::string_view holder = m->holders[next++];
            if (state[holder] == 1) {
                return true;
            }
            if (state[holder] == 0) {
                state[holder] = 1;
                stack.emplace_back(holder, 0);
            }
        }
    }
    return false;
}

// Every name of `order` comes after each of its holders that `order` also lists.
bool after_its_holders(const modload::Snapshot& snapshot, const std::vector<std::string>& order) {
    std::map<std::string_view, std::size_t> position;
    for (std::size_t i = 0; i < order.size(); ++i) {
        position.emplace(order[i], i);
    }
    for (std::size_t i = 0; i < order.size(); ++i) {
        const modload::LoadedModule* m = snapshot.find(order[i]);
        for (const std::string& holder : m != nullptr ? m->holders : std::vector<std::string>{}) {
            const auto it = position.find(holder);
            if (it != position.end() && it->second > i) {
                return false;
            }
        }
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // The last byte chooses the plan's options and targets; the rest is the file's text.
    const unsigned control = size > 0 ? data[size - 1] : 0;
    const std::string_view text(reinterpret_cast<const char*>(data), size > 0 ? size - 1 : 0);
    auto snapshot = modload::Snapshot::parse(text);
    if (!snapshot) {
        return 0;
    }

    std::vector<std::string> targets;
    for (std::size_t i = 0; i < snapshot->modules().size(); ++i) {
        const modload::LoadedModule& m = snapshot->modules()[i];
        const modload::LoadedModule* found = snapshot->find(m.name);
        require(found != nullptr && found->name == m.name, "find() finds every listed module");
        require(m.external_references() >= 0, "external references are never negative");
        for (const std::string_view dep : snapshot->dependencies_of(m.name)) {
            // A forged file may list a name twice: any entry of that name will do.
            const auto modules = snapshot->modules();
            require(std::any_of(modules.begin(), modules.end(),
                                [&](const modload::LoadedModule& d) {
                                    return d.name == dep &&
                                           std::count(d.holders.begin(), d.holders.end(), m.name);
                                }),
                    "a dependency lists the module as its holder");
        }
        if (((control >> 2) & (1u << (i % 6))) != 0 && targets.size() < 16) {
            targets.push_back(m.name);
        }
    }
    const bool cycle = holders_form_a_cycle(*snapshot);

    const std::vector<std::string> ordered = modload::order_by_holders(*snapshot, targets);
    require(std::set<std::string>(ordered.begin(), ordered.end()) ==
                    std::set<std::string>(targets.begin(), targets.end()) &&
                std::set<std::string>(ordered.begin(), ordered.end()).size() == ordered.size(),
            "order_by_holders gives each name once");
    require(cycle || after_its_holders(*snapshot, ordered), "order_by_holders puts holders first");

    const modload::PlanOptions options{(control & 1) != 0, (control & 2) != 0};
    auto plan = modload::plan_removal(*snapshot, targets, options);
    if (!plan) {
        const int code = plan.error().code;
        require(code == ENOENT || code == EBUSY || code == ELOOP,
                "plan_removal fails with ENOENT, EBUSY or ELOOP");
        require(code != ELOOP || cycle, "ELOOP only for a cycle");
        return 0;
    }
    std::vector<std::string> steps;
    for (const modload::PlanStep& step : plan->steps) {
        steps.push_back(step.name);
        require(snapshot->find(step.name) != nullptr, "a plan removes only loaded modules");
    }
    require(std::set<std::string>(steps.begin(), steps.end()).size() == steps.size(),
            "a plan removes each module once");
    for (const std::string& target : targets) {
        require(std::count(steps.begin(), steps.end(), target) == 1, "a plan removes each target");
    }
    require(cycle || after_its_holders(*snapshot, steps), "a plan removes holders first");
    return 0;
}
