// The kernel's rule is simple: delete_module fails while a module has holders (other modules
// using its symbols) or references. So a plan is a topological order of the holder graph in which
// each module comes after everything that holds it.
#include <modload/removal.hpp>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>

namespace modload {

namespace {

// The snapshot's modules by name: a plan of hundreds of targets looks modules up many times, and
// Snapshot::find() walks the whole list each time.
class ModuleIndex {
  public:
    explicit ModuleIndex(const Snapshot& snapshot) {
        for (const LoadedModule& m : snapshot.modules()) {
            by_name_.emplace(m.name, &m);
        }
    }

    const LoadedModule* find(std::string_view name) const {
        const auto it = by_name_.find(name);
        return it == by_name_.end() ? nullptr : it->second;
    }

    const std::vector<std::string>& holders_of(std::string_view name) const {
        static const std::vector<std::string> none;
        const LoadedModule* m = find(name);
        return m != nullptr ? m->holders : none;
    }

  private:
    std::unordered_map<std::string_view, const LoadedModule*> by_name_;
};

// The modules of `listed` that hold any of `names`, directly or through other modules: one walk up
// the holder graph from all of them.
std::set<std::string> listed_holders(const ModuleIndex& index, std::span<const std::string> names,
                                     const std::set<std::string>& listed) {
    std::set<std::string> found;
    std::set<std::string_view> seen(names.begin(), names.end());
    std::vector<std::string_view> todo(names.begin(), names.end());
    while (!todo.empty()) {
        const std::string_view name = todo.back();
        todo.pop_back();
        for (const std::string& holder : index.holders_of(name)) {
            if (!seen.insert(holder).second) {
                continue;
            }
            if (listed.count(holder) != 0) {
                found.insert(holder);
            }
            todo.push_back(holder);
        }
    }
    return found;
}

// The modules of `listed` nearest above `name` in the holder graph: those that hold it directly,
// or through modules that are not listed. The listed ones further up hold one of these, so an
// order that puts each module after these puts it after all of them.
std::vector<std::string> nearest_listed_holders(
    const ModuleIndex& index, const std::string& name,
    const std::map<std::string_view, std::size_t>& listed) {
    std::vector<std::string> found;
    std::set<std::string_view> seen{name};
    std::vector<std::string_view> todo{name};
    while (!todo.empty()) {
        const std::string_view at = todo.back();
        todo.pop_back();
        for (const std::string& holder : index.holders_of(at)) {
            if (!seen.insert(holder).second) {
                continue;
            }
            if (listed.count(holder) != 0) {
                found.push_back(holder);
            } else {
                todo.push_back(holder);
            }
        }
    }
    return found;
}

class Planner {
  public:
    Planner(const Snapshot& snapshot, const PlanOptions& options, const SoftdepLookup* softdeps)
        : snapshot_(snapshot), index_(snapshot), options_(options), softdeps_(softdeps) {}

    Result<RemovalPlan> plan(std::span<const std::string> targets);

  private:
    // Adds `name` after its holders (recursively when removing holders). `path` is the chain of
    // modules being visited, to name a cycle.
    Result<void> add(const std::string& name, PlanReason reason, std::vector<std::string>& path);
    Result<void> add_unused_dependencies();
    // Adds the soft dependencies of `of` (a module of the plan) that are loaded and left unused.
    void add_softdeps(const std::string& of);
    bool becomes_unused(const LoadedModule& m) const;
    bool freed_by_its_post_softdeps(const LoadedModule& m) const;
    // Puts `name` in `order`, after the post soft dependencies of it the plan removes.
    void place(const std::string& name, std::vector<std::string>& order,
               std::set<std::string>& placed) const;

    const Snapshot& snapshot_;
    const ModuleIndex index_;
    const PlanOptions& options_;
    const SoftdepLookup* softdeps_;
    RemovalPlan plan_;
    std::set<std::string> planned_;
    // The soft dependencies among the plan's modules: which module names each, each module's post
    // ones (placed before it), and the pre ones (placed after everything else).
    std::map<std::string, std::string> softdep_of_;
    std::map<std::string, std::vector<std::string>> posts_of_;
    std::set<std::string> pre_;
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
    const LoadedModule* m = index_.find(name);
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
    plan_.steps.push_back(PlanStep{name, reason, {}});
    return {};
}

// References from outside modules on the first read do not keep a dependency out of the plan:
// some are its holders' own, dropped only once they are gone (netconsole and tsm register with
// configfs, which pins its internal mount: configfs's refcount is one above its holders until
// their exit unregisters them). Its step judges it on the read just before its turn, when its
// holders are gone, and keeps it if it is still in use then, as kmod's modprobe -r does.
bool Planner::becomes_unused(const LoadedModule& m) const {
    if (m.permanent || m.state != ModuleState::live) {
        return false;
    }
    return std::all_of(m.holders.begin(), m.holders.end(),
                       [&](const std::string& h) { return planned_.count(h) != 0; });
}

// A dependency held only by planned modules and by its own post soft dependencies, which nothing
// else holds, goes too: they go before it (kmod's modprobe -r removes a module's post soft
// dependencies first). vfio names vfio_iommu_type1 `softdep post:`, which then holds vfio.
bool Planner::freed_by_its_post_softdeps(const LoadedModule& m) const {
    if (softdeps_ == nullptr || m.permanent || m.state != ModuleState::live) {
        return false;
    }
    const std::optional<Softdeps> soft = softdeps_->softdeps_of(m.name, snapshot_);
    if (!soft) {
        return false;
    }
    return std::all_of(m.holders.begin(), m.holders.end(), [&](const std::string& h) {
        if (planned_.count(h) != 0) {
            return true;
        }
        const LoadedModule* holder = index_.find(h);
        return holder != nullptr &&
               std::find(soft->post.begin(), soft->post.end(), h) != soft->post.end() &&
               becomes_unused(*holder);
    });
}

Result<void> Planner::add_unused_dependencies() {
    // A dependency becomes unused once all of its holders are planned; planning it may free its
    // own dependencies. Each planned module is looked at once, with what it holds in snapshot
    // order, which keeps the result deterministic and linear in the holder graph.
    std::unordered_map<std::string_view, std::vector<const LoadedModule*>> held_by;
    for (const LoadedModule& m : snapshot_.modules()) {
        for (const std::string& holder : m.holders) {
            held_by[holder].push_back(&m);
        }
    }
    for (std::size_t next = 0; next < plan_.steps.size(); ++next) {
        if (softdeps_ != nullptr) {
            add_softdeps(std::string(plan_.steps[next].name));
        }
        const auto it = held_by.find(plan_.steps[next].name);
        if (it == held_by.end()) {
            continue;
        }
        for (const LoadedModule* m : it->second) {
            if (planned_.count(m->name) != 0 ||
                (!becomes_unused(*m) && !freed_by_its_post_softdeps(*m))) {
                continue;
            }
            planned_.insert(m->name);
            plan_.steps.push_back(PlanStep{m->name, PlanReason::unused_dependency, {}});
        }
    }
    return {};
}

// As kmod's modprobe -r (rmmod_do_module()): the post soft dependencies go before the module, the
// pre ones after it, each only when nothing else uses it. A soft dependency that a module the plan
// keeps holds is in use: it stays out, as a dependency that module holds does.
void Planner::add_softdeps(const std::string& of) {
    const std::optional<Softdeps> soft = softdeps_->softdeps_of(of, snapshot_);
    if (!soft) {
        return;
    }
    const auto add = [&](const std::string& name, bool post) {
        const LoadedModule* m = index_.find(name);
        if (m == nullptr || name == of) {
            return;
        }
        const bool planned = planned_.count(name) != 0;
        if (!planned && !becomes_unused(*m)) {
            return;
        }
        // One the plan removes anyway (a target, say) goes in the soft dependency's place too:
        // it may be in use by `of` until `of` is gone.
        if (softdep_of_.emplace(name, of).second) {
            if (post) {
                posts_of_[of].push_back(name);
            } else {
                pre_.insert(name);
            }
        }
        if (!planned) {
            planned_.insert(name);
            plan_.steps.push_back(PlanStep{name, PlanReason::softdep, of});
        }
    };
    for (const std::string& name : soft->post) {
        add(name, true);
    }
    for (const std::string& name : soft->pre) {
        add(name, false);
    }
}

void Planner::place(const std::string& name, std::vector<std::string>& order,
                    std::set<std::string>& placed) const {
    if (!placed.insert(name).second) {
        return;
    }
    if (const auto posts = posts_of_.find(name); posts != posts_of_.end()) {
        for (const std::string& post : posts->second) {
            place(post, order, placed);
        }
    }
    order.push_back(name);
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
    // The order to start from: each module after its post soft dependencies, the pre ones after
    // everything else (a module's exit drops what it took from them: libcrc32c's crc32c
    // transform holds a reference on crc32c_intel); holders still come first.
    std::vector<std::string> names;
    std::set<std::string> placed;
    std::map<std::string, PlanReason> reasons;
    std::set<std::string> unused;
    for (const PlanStep& step : plan_.steps) {
        reasons[step.name] = step.reason;
        if (step.reason == PlanReason::unused_dependency || step.reason == PlanReason::softdep) {
            unused.insert(step.name);
        }
        if (pre_.count(step.name) == 0) {
            place(step.name, names, placed);
        }
    }
    for (const PlanStep& step : plan_.steps) {
        place(step.name, names, placed);
    }
    // Such a dependency is in a target's way: it is a holder, waited for like one, never kept.
    for (const std::string& holder : listed_holders(index_, targets, unused)) {
        reasons[holder] = PlanReason::holder;
    }
    plan_.steps.clear();
    for (const std::string& name : order_by_holders(snapshot_, names)) {
        const PlanReason reason = reasons[name];
        const auto of = softdep_of_.find(name);
        plan_.steps.push_back(PlanStep{name, reason, of != softdep_of_.end() ? of->second : ""});
    }
    return std::move(plan_);
}

}  // namespace

std::vector<std::string> order_by_holders(const Snapshot& snapshot,
                                          std::span<const std::string> names) {
    // Kahn's topological sort: each time, the first name (in the given order) whose listed
    // holders are all placed. Linear in the names and the holder graph above them, so that a
    // hundred targets cost little more than one.
    const ModuleIndex index(snapshot);
    std::map<std::string_view, std::size_t> position;  // the first place a name is given
    std::vector<std::string> unique;
    for (const std::string& name : names) {
        if (position.emplace(name, unique.size()).second) {
            unique.push_back(name);
        }
    }
    std::vector<std::size_t> unplaced_holders(unique.size(), 0);
    std::vector<std::vector<std::size_t>> held(unique.size());  // what each name holds, listed
    for (std::size_t i = 0; i < unique.size(); ++i) {
        for (const std::string& holder : nearest_listed_holders(index, unique[i], position)) {
            held[position.at(holder)].push_back(i);
            ++unplaced_holders[i];
        }
    }
    std::set<std::size_t> ready;
    for (std::size_t i = 0; i < unique.size(); ++i) {
        if (unplaced_holders[i] == 0) {
            ready.insert(i);
        }
    }
    std::vector<bool> placed(unique.size(), false);
    std::vector<std::string> order;
    std::size_t next_unplaced = 0;  // for a cycle, only in a forged snapshot: the given order
    while (order.size() < unique.size()) {
        std::size_t i = 0;
        if (!ready.empty()) {
            i = *ready.begin();
            ready.erase(ready.begin());
        } else {
            while (placed[next_unplaced]) {
                ++next_unplaced;
            }
            i = next_unplaced;
        }
        if (placed[i]) {
            continue;
        }
        placed[i] = true;
        order.push_back(unique[i]);
        for (const std::size_t below : held[i]) {
            if (--unplaced_holders[below] == 0 && !placed[below]) {
                ready.insert(below);
            }
        }
    }
    return order;
}

Result<RemovalPlan> plan_removal(const Snapshot& snapshot, std::span<const std::string> targets,
                                 const PlanOptions& options, const SoftdepLookup& softdeps) {
    return Planner(snapshot, options, &softdeps).plan(targets);
}

std::optional<Softdeps> NoSoftdeps::softdeps_of(const std::string& module,
                                                const Snapshot& loaded) const {
    (void)module, (void)loaded;
    return std::nullopt;
}

}  // namespace modload
