// The kernel's rule is simple: delete_module fails while a module has holders (other modules
// using its symbols) or references. So a plan is a topological order of the holder graph in which
// each module comes after everything that holds it.
#include <modload/removal.hpp>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>

namespace modload {

namespace {

// The modules of `listed` that hold `name`, directly or through other modules.
std::vector<std::string> listed_holders(const Snapshot& snapshot, const std::string& name,
                                        const std::set<std::string>& listed) {
    std::vector<std::string> found;
    std::set<std::string> seen{name};
    std::vector<std::string> todo{name};
    while (!todo.empty()) {
        const LoadedModule* m = snapshot.find(todo.back());
        todo.pop_back();
        for (const std::string& holder : m != nullptr ? m->holders : std::vector<std::string>{}) {
            if (!seen.insert(holder).second) {
                continue;
            }
            if (listed.count(holder) != 0) {
                found.push_back(holder);
            }
            todo.push_back(holder);
        }
    }
    return found;
}

class Planner {
public:
    Planner(const Snapshot& snapshot, const PlanOptions& options)
        : snapshot_(snapshot), options_(options) {}

    Result<RemovalPlan> plan(std::span<const std::string> targets);

private:
    // Adds `name` after its holders (recursively when removing holders). `path` is the chain of
    // modules being visited, to name a cycle.
    Result<void> add(const std::string& name, PlanReason reason, std::vector<std::string>& path);
    Result<void> add_unused_dependencies();
    bool becomes_unused(const LoadedModule& m) const;

    const Snapshot& snapshot_;
    const PlanOptions& options_;
    RemovalPlan plan_;
    std::set<std::string> planned_;
};

Error cycle_error(const std::vector<std::string>& path, const std::string& again) {
    std::string chain;
    for (auto it = std::find(path.begin(), path.end(), again); it != path.end(); ++it) {
        chain += *it + " -> ";
    }
    return make_error(ELOOP, "holders form a cycle: " + chain + again);
}

Result<void> Planner::add(const std::string& name, PlanReason reason,
                          std::vector<std::string>& path) {
    if (planned_.count(name) != 0) {
        return {};
    }
    if (std::find(path.begin(), path.end(), name) != path.end()) {
        return cycle_error(path, name);
    }
    const LoadedModule* m = snapshot_.find(name);
    if (m == nullptr) {
        return make_error(ENOENT, name + " is not loaded");
    }
    if (reason == PlanReason::holder && m->permanent) {
        return make_error(EBUSY, "holder " + name + " is permanent and cannot be removed");
    }
    if (options_.remove_holders) {
        path.push_back(name);
        for (const std::string& holder : m->holders) {
            if (auto r = add(holder, PlanReason::holder, path); !r) {
                return r;
            }
        }
        path.pop_back();
    }
    planned_.insert(name);
    plan_.steps.push_back(PlanStep{name, reason});
    return {};
}

bool Planner::becomes_unused(const LoadedModule& m) const {
    if (m.permanent || m.external_references() > 0 || m.state != ModuleState::live) {
        return false;
    }
    return std::all_of(m.holders.begin(), m.holders.end(),
                       [&](const std::string& h) { return planned_.count(h) != 0; });
}

Result<void> Planner::add_unused_dependencies() {
    // A dependency becomes unused once all of its holders are planned; planning it may free its
    // own dependencies, so repeat until nothing changes. Scanning the snapshot in order keeps the
    // result deterministic.
    for (bool changed = true; changed;) {
        changed = false;
        for (const LoadedModule& m : snapshot_.modules()) {
            if (planned_.count(m.name) != 0 || m.holders.empty() || !becomes_unused(m)) {
                continue;
            }
            planned_.insert(m.name);
            plan_.steps.push_back(PlanStep{m.name, PlanReason::unused_dependency});
            changed = true;
        }
    }
    return {};
}

Result<RemovalPlan> Planner::plan(std::span<const std::string> targets) {
    for (const std::string& target : order_by_holders(snapshot_, targets)) {
        std::vector<std::string> path;
        if (auto r = add(target, PlanReason::target, path); !r) {
            return r.error();
        }
    }
    if (options_.remove_dependencies) {
        if (auto r = add_unused_dependencies(); !r) {
            return r.error();
        }
    }
    // A target can be held by a dependency that becomes unused only once other targets are gone
    // (a holds b, b holds c, with targets c and a): every step goes after all that hold it.
    std::vector<std::string> names;
    std::map<std::string, PlanReason> reasons;
    std::set<std::string> unused;
    for (const PlanStep& step : plan_.steps) {
        names.push_back(step.name);
        reasons[step.name] = step.reason;
        if (step.reason == PlanReason::unused_dependency) {
            unused.insert(step.name);
        }
    }
    // Such a dependency is in a target's way: it is a holder, waited for like one, never kept.
    for (const std::string& target : targets) {
        for (const std::string& holder : listed_holders(snapshot_, target, unused)) {
            reasons[holder] = PlanReason::holder;
        }
    }
    plan_.steps.clear();
    for (const std::string& name : order_by_holders(snapshot_, names)) {
        plan_.steps.push_back(PlanStep{name, reasons[name]});
    }
    return std::move(plan_);
}

}  // namespace

std::vector<std::string> order_by_holders(const Snapshot& snapshot,
                                          std::span<const std::string> names) {
    const std::set<std::string> wanted(names.begin(), names.end());
    std::map<std::string, std::vector<std::string>> held_by;
    for (const std::string& name : names) {
        held_by[name] = listed_holders(snapshot, name, wanted);
    }
    // Each time, the first name (in the given order) whose listed holders are all placed.
    std::vector<std::string> order;
    std::set<std::string> placed;
    std::vector<std::string> rest(names.begin(), names.end());
    while (!rest.empty()) {
        auto ready = std::find_if(rest.begin(), rest.end(), [&](const std::string& name) {
            const std::vector<std::string>& holders = held_by[name];
            return std::all_of(holders.begin(), holders.end(),
                               [&](const std::string& h) { return placed.count(h) != 0; });
        });
        if (ready == rest.end()) {
            ready = rest.begin();  // a cycle, only in a forged snapshot: keep the given order
        }
        if (placed.insert(*ready).second) {
            order.push_back(*ready);
        }
        rest.erase(ready);
    }
    return order;
}

Result<RemovalPlan> plan_removal(const Snapshot& snapshot, std::span<const std::string> targets,
                                 const PlanOptions& options) {
    return Planner(snapshot, options).plan(targets);
}

}  // namespace modload
