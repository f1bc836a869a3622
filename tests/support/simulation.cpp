#include "simulation.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <functional>
#include <set>
#include <sstream>

#include <fcntl.h>

#include <modload/names.hpp>
#include <modload/removal.hpp>
#include <modload/snapshot.hpp>

#include "fixtures.hpp"
#include "model_kernel.hpp"
#include "tool.hpp"

namespace modload::testing {

namespace {

using std::chrono::milliseconds;

// A run that makes more system calls than this, or lasts longer in simulated time, hangs: every
// actor stops by its deadline (at most a few seconds), so every wait has ended long before.
constexpr std::size_t kMaxSystemCalls = 2000;
constexpr Millis kMaxSimulatedTime{2 * 60 * 1000};
constexpr Millis kMaxInit{300};
constexpr Millis kMaxExit{300};

struct Hang {
    std::string why;
};

std::string errno_text(int code) {
    const char* name = ::strerrorname_np(code);
    return name != nullptr ? name : std::to_string(code);
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

std::string joined(const std::vector<std::string>& names) {
    std::string text;
    for (const std::string& name : names) {
        text += (text.empty() ? "" : " ") + name;
    }
    return text.empty() ? "-" : text;
}

// One module of a seed's world: how it is loaded again (its uses) and how it behaves.
struct Spec {
    std::string name;
    std::vector<std::string> uses;
    bool permanent = false;
};

Millis random_time(Prng& prng, Millis max) {
    // Mostly quick, sometimes slow, sometimes instant: the slow ones are where races live.
    switch (prng.below(4)) {
        case 0:
            return Millis{0};
        case 1:
            return Millis{prng.below(20)};
        default:
            return Millis{prng.below(static_cast<int>(max.count()) + 1)};
    }
}

// A random small module graph, each module listed after the modules it uses.
std::vector<Spec> random_graph(Prng& prng) {
    std::vector<Spec> graph;
    switch (prng.below(4)) {
        case 0: {  // a chain
            const int length = 2 + prng.below(3);
            for (int i = 0; i < length; ++i) {
                Spec s{"chain" + std::to_string(i), {}, false};
                if (i > 0) {
                    s.uses.push_back("chain" + std::to_string(i - 1));
                }
                graph.push_back(s);
            }
            break;
        }
        case 1:  // a diamond
            graph = {{"bottom", {}, false},
                     {"left", {"bottom"}, false},
                     {"right", {"bottom"}, false},
                     {"top", {"left", "right"}, false}};
            break;
        case 2:  // shared dependencies, as on a real system
            graph = {{"libcrc32c", {}, false},
                     {"xfs", {"libcrc32c"}, false},
                     {"nf_conntrack", {"libcrc32c"}, false},
                     {"nf_nat", {"nf_conntrack", "libcrc32c"}, false},
                     {"iptable_nat", {"nf_nat"}, false}};
            break;
        default: {  // a random DAG, sometimes on a builtin module
            const int n = 3 + prng.below(4);
            for (int i = 0; i < n; ++i) {
                Spec s{"m" + std::to_string(i), {}, false};
                for (int j = 0; j < i; ++j) {
                    if (prng.percent(40)) {
                        s.uses.push_back("m" + std::to_string(j));
                    }
                }
                if (prng.percent(10)) {
                    s.uses.push_back("ext4");
                }
                graph.push_back(s);
            }
            break;
        }
    }
    // Permanent modules (an init but no exit) hold nothing, so a wait for holders can end.
    for (Spec& s : graph) {
        s.permanent = s.uses.empty() && prng.percent(5);
    }
    return graph;
}

// The world one seed runs in: the model, the clock, the actors, the signal, and the checks'
// records.
class World {
  public:
    World(const std::filesystem::path& root, std::uint64_t seed)
        : kernel(root, {"ext4"}), clock(kernel), prng(seed) {
        kernel.on_step([this](StepPoint point) { step(point); });
        clock.interrupt_when([this] { return signaled; });
    }

    // Loads the graph (each module after its uses), then unloads a few and hands out references.
    void populate(const std::vector<Spec>& specs) {
        graph = specs;
        for (const Spec& s : graph) {
            ModelModule m;
            m.name = s.name;
            m.uses = s.uses;
            m.permanent = s.permanent;
            m.init_time = random_time(prng, kMaxInit);
            m.exit_time = random_time(prng, kMaxExit);
            m.init_errno = prng.percent(10) ? ENODEV : 0;
            m.taints = prng.percent(20) ? "OE" : "";
            // Only Live modules can be used (lifecycle.hpp): a module whose dependency is not
            // Live at the start is not loaded either.
            bool deps_loaded = true;
            for (const std::string& d : s.uses) {
                const ModelModule* used = kernel.find(d);
                deps_loaded =
                    deps_loaded &&
                    (d == "ext4" || (used != nullptr && used->state == ModuleState::live));
            }
            if (!deps_loaded || prng.percent(10)) {
                kernel.configure(m.name, m.init_time, m.exit_time, m.init_errno);
                kernel.set_permanent(m.name, m.permanent);
                continue;  // not loaded at the start
            }
            const int start = prng.below(20);
            m.state = start == 0 ? ModuleState::loading : ModuleState::live;
            if (start == 1) {
                m.state = ModuleState::unloading;
            }
            m.references = prng.percent(20) ? 1 + prng.below(2) : 0;
            m.references = m.state == ModuleState::unloading ? 0 : m.references;
            // Sometimes it pins a module it uses, as a configfs subsystem pins configfs's mount,
            // and the kernel drops that reference a moment after the module is freed.
            if (m.state == ModuleState::live && !s.uses.empty() && prng.percent(15)) {
                const std::string& pinned = s.uses[prng.below(static_cast<int>(s.uses.size()))];
                const ModelModule* used = kernel.find(pinned);
                if (used != nullptr && used->state == ModuleState::live) {
                    m.pins.push_back(pinned);
                    m.pin_release = Millis{prng.below(40)};
                }
            }
            const int init_errno = m.init_errno;
            m.init_errno = 0;  // a module loading at the start comes up; later loads may fail
            kernel.add(m);
            kernel.configure(m.name, m.init_time, m.exit_time, init_errno);
        }
        for (const ModelModule& m : kernel.modules()) {
            loaded_at_start.push_back(m.name);
        }
        // The references handed out at the start belong to the referencing process: it drops
        // them by its deadline.
        for (const ModelModule& m : kernel.modules()) {
            for (int i = 0; i < m.references; ++i) {
                held.push_back(m.name);
            }
        }
    }

    // The actors' bounds and the signal's moment.
    void choose_actors(bool allow_signal) {
        actors_until = Millis{200 + prng.below(2800)};
        loader_left = prng.below(6);
        remover_left = prng.below(6);
        referencer_left = prng.below(8);
        if (allow_signal && prng.percent(25)) {
            signal_at_step = 1 + prng.below(120);
        }
    }

    std::string describe_actors() const {
        std::ostringstream text;
        text << "actors until " << actors_until.count() << " ms: loader " << loader_left
             << ", remover " << remover_left << ", referencer " << referencer_left
             << " actions; signal "
             << (signal_at_step > 0 ? "at step " + std::to_string(signal_at_step) : "never");
        return text.str();
    }

    std::string describe_graph() const {
        std::string text = "graph:";
        for (const Spec& s : graph) {
            text += " " + s.name + (s.uses.empty() ? "" : "(uses " + joined(s.uses) + ")") +
                    (s.permanent ? "[permanent]" : "");
        }
        return text;
    }

    void step(StepPoint point) {
        ++steps;
        if (kernel.calls().size() > kMaxSystemCalls) {
            throw Hang{"more than " + std::to_string(kMaxSystemCalls) + " system calls"};
        }
        if (kernel.now() > kMaxSimulatedTime) {
            throw Hang{"more than " + std::to_string(kMaxSimulatedTime.count() / 60000) +
                       " simulated minutes"};
        }
        if (!signaled && steps == signal_at_step) {
            signaled = true;
            signal_time = kernel.now();
            // A call whose entry or inside runs this hook is already made; only later ones count.
            calls_at_signal = kernel.calls().size() + (point == StepPoint::clock ? 0 : 1);
            kernel.annotate("signal SIGINT (at " + std::string(step_point_name(point)) + ")");
            if (tool) {
                tools::note_stop_signal(SIGINT);
            }
        }
        if (kernel.now() < actors_until) {
            act();
        } else {
            settle();
        }
    }

    // Another loader, another remover and a referencing process, each now and then.
    void act() {
        if (graph.empty()) {
            return;
        }
        if (loader_left > 0 && prng.percent(loader_percent)) {
            --loader_left;
            const Spec& s =
                graph[static_cast<std::size_t>(prng.below(static_cast<int>(graph.size())))];
            const int answer = kernel.other_load(s.name, s.uses);
            kernel.annotate("other load " + s.name + " = " + errno_text(answer));
        }
        if (remover_left > 0 && prng.percent(4)) {
            --remover_left;
            const Spec& s =
                graph[static_cast<std::size_t>(prng.below(static_cast<int>(graph.size())))];
            const int answer = kernel.other_remove(s.name);
            kernel.annotate("other remove " + s.name + " = " + errno_text(answer));
        }
        if (referencer_left > 0 && prng.percent(5)) {
            --referencer_left;
            if (!held.empty() && prng.percent(50)) {
                const std::size_t i =
                    static_cast<std::size_t>(prng.below(static_cast<int>(held.size())));
                (void)kernel.put_reference(held[i]);
                held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
            } else {
                const Spec& s =
                    graph[static_cast<std::size_t>(prng.below(static_cast<int>(graph.size())))];
                if (kernel.get_reference(s.name)) {
                    held.push_back(s.name);
                }
            }
        }
    }

    // After the deadline: the references are dropped, and a janitor removes whatever holds the
    // modules we remove, so that a wait without limit ends.
    void settle() {
        for (const std::string& name : held) {
            (void)kernel.put_reference(name);
        }
        held.clear();
        // A module of ours that was removed once and loaded again by another process is no
        // longer ours: its step is done, and a wait for what it holds would never end.
        std::vector<std::string> in_the_way;
        for (const ModelModule& m : kernel.modules()) {
            if (m.state == ModuleState::live &&
                (!contains(ours, m.name) || unloaded_once(m.name) ||
                 !contains(loaded_at_start, m.name)) &&
                holds_ours(m.name)) {
                in_the_way.push_back(m.name);
            }
        }
        for (const std::string& name : in_the_way) {
            if (kernel.other_remove(name) == 0) {
                kernel.annotate("janitor removed " + name);
            }
        }
    }

    bool unloaded_once(const std::string& name) const {
        return std::any_of(kernel.events().begin(), kernel.events().end(),
                           [&](const ModelEvent& e) {
                               return e.name == name && e.kind == ModelEvent::Kind::removed;
                           });
    }

    // Whether `name` uses, directly or not, a module we remove.
    bool holds_ours(const std::string& name) const {
        const ModelModule* m = kernel.find(name);
        if (m == nullptr) {
            return false;
        }
        for (const std::string& used : m->uses) {
            if (contains(ours, used) || holds_ours(used)) {
                return true;
            }
        }
        return false;
    }

    // Our calls after the signal: none may follow it.
    void check_signal(std::vector<std::string>& violations) const {
        if (!signaled) {
            return;
        }
        const std::vector<ModelCall>& calls = kernel.calls();
        for (std::size_t i = calls_at_signal; i < calls.size(); ++i) {
            violations.push_back("system call after the signal: " + calls[i].syscall + "(" +
                                 calls[i].name + ") at " + std::to_string(calls[i].at.count()) +
                                 " ms, signal at " + std::to_string(signal_time.count()) + " ms");
        }
    }

    // Names our successful delete_module calls removed.
    std::vector<std::string> removed_by_us() const {
        std::vector<std::string> names;
        for (const ModelCall& c : kernel.calls()) {
            if (c.syscall == "delete_module" && c.answer == 0) {
                names.push_back(c.name);
            }
        }
        return names;
    }

    ModelKernel kernel;
    ModelClock clock;
    Prng prng;
    std::vector<Spec> graph;
    std::vector<std::string> ours;  // what we remove: the janitor leaves these alone
    // A module of ours that was not loaded at the start fails its step ("not loaded"), so the
    // janitor may remove it once another process has loaded it.
    std::vector<std::string> loaded_at_start;
    std::vector<std::string> held;
    Millis actors_until{0};
    int loader_left = 0;
    int loader_percent = 4;  // the chance that the loader acts at one step
    int remover_left = 0;
    int referencer_left = 0;
    int signal_at_step = -1;
    int steps = 0;
    bool tool = false;
    bool signaled = false;
    Millis signal_time{0};
    std::size_t calls_at_signal = 0;
};

// The observer of the library path: stops at the signal and records every wait.
class Watcher final : public RemovalObserver {
  public:
    struct Waited {
        std::string name;
        Obstacle obstacle;
        Millis waited;
        Millis at;
    };

    explicit Watcher(World& world) : world_(world) {}
    bool keep_going() override { return !world_.signaled; }
    void waiting(const LoadedModule& module, Obstacle obstacle, milliseconds waited) override {
        waits.push_back(Waited{module.name, obstacle, waited, world_.kernel.now()});
        world_.kernel.annotate("us    waiting for " + module.name + " (" +
                               std::string(obstacle_name(obstacle)) + ", " +
                               std::to_string(waited.count()) + " ms so far)");
    }

    std::vector<Waited> waits;

  private:
    World& world_;
};

std::vector<std::string> random_targets(World& world) {
    std::vector<std::string> targets;
    const int roll = world.prng.below(100);
    if (roll < 4) {
        targets.push_back("ghost");  // never loaded
    } else if (roll < 7) {
        targets.push_back("ext4");  // builtin
    }
    if (world.prng.percent(20)) {
        // A set: a module and everything that uses it, directly or not, named innermost first
        // (the wrong order: each is held by ones named after it), so that it goes only as a set.
        std::vector<std::string> set{world
                                         .graph[static_cast<std::size_t>(world.prng.below(
                                             static_cast<int>(world.graph.size())))]
                                         .name};
        for (std::size_t i = 0; i < set.size(); ++i) {
            for (const Spec& spec : world.graph) {
                if (contains(spec.uses, set[i]) && !contains(set, spec.name)) {
                    set.push_back(spec.name);
                }
            }
        }
        for (const std::string& name : set) {
            if (!contains(targets, name)) {
                targets.push_back(name);
            }
        }
        return targets;
    }
    const int count = 1 + (world.prng.percent(25) ? 1 : 0);
    for (int i = 0; i < count; ++i) {
        const std::string& name = world
                                      .graph[static_cast<std::size_t>(
                                          world.prng.below(static_cast<int>(world.graph.size())))]
                                      .name;
        if (!contains(targets, name)) {
            targets.push_back(name);
        }
    }
    return targets;
}

// The plan the library will make: its first read happens before any hook, so it sees this.
std::vector<PlanStep> expected_plan(const std::filesystem::path& root,
                                    const std::vector<std::string>& targets,
                                    const PlanOptions& options) {
    auto snapshot = Snapshot::read(FixtureSystem(root));
    if (!snapshot) {
        return {};
    }
    std::vector<std::string> listed;
    for (const std::string& t : targets) {
        if (snapshot->find(t) != nullptr) {
            listed.push_back(t);
        }
    }
    auto plan = plan_removal(*snapshot, listed, options);
    return plan ? plan->steps : std::vector<PlanStep>{};
}

// A plan removes every module after all the modules that hold it (removal.hpp): otherwise a
// wait for the earlier one never ends, as its holder is removed only after it.
void check_plan_order(const std::filesystem::path& root, const std::vector<PlanStep>& plan,
                      std::vector<std::string>& violations) {
    auto snapshot = Snapshot::read(FixtureSystem(root));
    if (!snapshot) {
        return;
    }
    // Holders, directly or through modules outside the plan: either way the later step must go
    // first.
    std::function<bool(const std::string&, const std::string&, int)> held_by =
        [&](const std::string& name, const std::string& holder, int depth) {
            const LoadedModule* m = snapshot->find(name);
            if (m == nullptr || depth > 16) {
                return false;
            }
            return std::any_of(m->holders.begin(), m->holders.end(), [&](const std::string& h) {
                return h == holder || held_by(h, holder, depth + 1);
            });
        };
    for (std::size_t i = 0; i < plan.size(); ++i) {
        for (std::size_t j = i + 1; j < plan.size(); ++j) {
            if (held_by(plan[i].name, plan[j].name, 0)) {
                violations.push_back("plan order: " + plan[i].name + " comes before " +
                                     plan[j].name + ", which holds it");
            }
        }
    }
}

// Invariants shared by both removal paths, on the model's log.
void check_removals(const World& world, const std::vector<std::string>& may_remove,
                    const std::vector<std::string>& unused_dependencies,
                    std::vector<std::string>& violations) {
    for (const ModelCall& c : world.kernel.calls()) {
        if (c.syscall != "delete_module" || c.answer != 0) {
            continue;
        }
        if (!contains(may_remove, c.name)) {
            violations.push_back("removed " + c.name + ", which the plan did not name");
        }
        if (contains(unused_dependencies, c.name) && (!c.holders.empty() || c.references > 0)) {
            violations.push_back("removed the unused dependency " + c.name + " while it had " +
                                 (c.holders.empty() ? std::to_string(c.references) + " references"
                                                    : "holders " + joined(c.holders)) +
                                 " (flags " + std::to_string(c.flags) + ")");
        }
    }
    world.check_signal(violations);
}

}  // namespace

std::uint64_t Prng::next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int Prng::below(int n) {
    return n <= 0 ? 0 : static_cast<int>(next() % static_cast<std::uint64_t>(n));
}

// ---- the library: remove_modules() -------------------------------------------------------------

SeedResult simulate_removal(const std::filesystem::path& root, std::uint64_t seed) {
    SeedResult result;
    result.seed = seed;
    World world(root, seed);
    world.populate(random_graph(world.prng));
    const std::vector<std::string> targets = random_targets(world);

    RemovalOptions options;
    options.plan.remove_holders = world.prng.percent(40);
    options.plan.remove_dependencies = world.prng.percent(40);
    options.force = world.prng.percent(12);
    switch (world.prng.below(3)) {
        case 0:
            break;
        case 1:
            options.wait = WaitPolicy{};
            break;
        default:
            options.wait = WaitPolicy{milliseconds(world.prng.below(2500)), milliseconds(4),
                                      milliseconds(1000)};
            break;
    }
    world.choose_actors(true);
    const std::vector<PlanStep> plan = expected_plan(root, targets, options.plan);
    for (const PlanStep& s : plan) {
        world.ours.push_back(s.name);
    }
    check_plan_order(root, plan, result.violations);
    for (const std::string& t : targets) {
        world.ours.push_back(t);
    }

    std::ostringstream setup;
    setup << world.describe_graph() << "\nremove_modules(" << joined(targets) << ") wait="
          << (!options.wait           ? std::string("no")
              : options.wait->timeout ? std::to_string(options.wait->timeout->count()) + "ms"
                                      : std::string("unlimited"))
          << " remove_holders=" << options.plan.remove_holders
          << " remove_dependencies=" << options.plan.remove_dependencies
          << " force=" << options.force << "\n"
          << world.describe_actors() << "\nstart:\n"
          << world.kernel.proc_modules_text();
    result.setup = setup.str();

    Watcher watcher(world);
    RemovalOutcome outcome;
    std::vector<std::string>& violations = result.violations;
    const std::size_t violations_before = violations.size();
    try {
        outcome = remove_modules(FixtureSystem(root, &world.kernel, &world.clock),
                                 BuiltinModules({"ext4"}), targets, options, watcher);
    } catch (const Hang& hang) {
        violations.push_back("hang: " + hang.why);
    }
    const Millis end = world.kernel.now();
    result.trace = world.kernel.trace();
    result.system_calls = world.kernel.calls().size();
    if (violations.size() > violations_before) {
        return result;  // it hung: there is no outcome to check
    }

    // Nothing outside the plan; forced targets that were not listed go to the kernel anyway
    // (kmod's rmmod -f), so they count as named.
    std::vector<std::string> may_remove;
    std::vector<std::string> unused;
    for (const PlanStep& s : outcome.plan.steps) {
        may_remove.push_back(s.name);
        if (s.reason == PlanReason::unused_dependency) {
            unused.push_back(s.name);
        }
    }
    if (options.force) {
        may_remove.insert(may_remove.end(), targets.begin(), targets.end());
    }
    check_removals(world, may_remove, unused, violations);
    for (const Watcher::Waited& w : watcher.waits) {
        // A going dependency is waited for until it is gone (someone else removes it); one
        // that gained a holder or a reference is kept, never waited on.
        if (contains(unused, w.name) && w.obstacle != Obstacle::unloading) {
            violations.push_back("waited on the unused dependency " + w.name + " (" +
                                 std::string(obstacle_name(w.obstacle)) + ")");
        }
        if (options.wait && options.wait->timeout &&
            w.waited > *options.wait->timeout + options.wait->max_delay) {
            violations.push_back("waited " + std::to_string(w.waited.count()) + " ms for " +
                                 w.name + ", past its limit");
        }
    }

    // A wait for references that go after a holder follows the removal of one of its holders by
    // this call, and ends within its bound.
    for (const ReleaseWait& w : outcome.release_waits) {
        if (w.after.empty() || !std::all_of(w.after.begin(), w.after.end(), [&](const auto& h) {
                return contains(outcome.removed, h);
            })) {
            violations.push_back("waited for the references of " + w.name +
                                 " after modules this call did not remove");
        }
        if (w.waited > kReleaseWait) {
            violations.push_back("waited " + std::to_string(w.waited.count()) + " ms for " +
                                 w.name + "'s references to go, past the bound");
        }
    }

    // Success only when it is really gone: the log shows our successful call.
    const std::vector<std::string> removed = world.removed_by_us();
    for (const std::string& name : outcome.removed) {
        if (!contains(removed, name)) {
            violations.push_back("reported " + name + " removed without a successful call");
        }
    }
    for (const std::string& name : removed) {
        if (!contains(outcome.removed, name)) {
            violations.push_back("removed " + name + " without reporting it");
        }
    }
    for (const std::string& name : outcome.gone) {
        if (contains(removed, name)) {
            violations.push_back("reported " + name + " gone, but it was removed by us");
        }
    }
    if (outcome.ok()) {
        for (const PlanStep& s : outcome.plan.steps) {
            const bool kept = std::any_of(outcome.kept.begin(), outcome.kept.end(),
                                          [&](const LoadedModule& m) { return m.name == s.name; });
            if (!contains(outcome.removed, s.name) && !contains(outcome.gone, s.name) && !kept) {
                violations.push_back("success, but " + s.name +
                                     " was neither removed, gone nor kept");
            }
        }
        if (!outcome.left.empty()) {
            violations.push_back("success with steps left: " + joined(outcome.left));
        }
    }
    // Every failure in words: a module, and an errno with its meaning.
    for (const RemovalFailure& f : outcome.failures) {
        if (f.error.code == 0) {
            violations.push_back("a failure of " + f.name + " without an errno");
        }
        if (f.name.empty() && f.stage != RemovalStage::listing &&
            f.stage != RemovalStage::planning) {
            violations.push_back("a failure naming no module (" + errno_text(f.error.code) + ")");
        }
        // A wait that timed out must have lasted no longer than its limit and one delay.
        if (f.error.code == ETIMEDOUT && options.wait && options.wait->timeout) {
            // (Each module has its own limit: measure from its first wait to its last.)
            const auto named = [&](const Watcher::Waited& w) { return w.name == f.name; };
            const auto first = std::find_if(watcher.waits.begin(), watcher.waits.end(), named);
            const auto last = std::find_if(watcher.waits.rbegin(), watcher.waits.rend(), named);
            if (first != watcher.waits.end()) {
                const Millis lasted = last->at - (first->at - first->waited);
                if (lasted > *options.wait->timeout + options.wait->max_delay) {
                    violations.push_back("the wait for " + f.name + " lasted " +
                                         std::to_string(lasted.count()) + " ms, limit " +
                                         std::to_string(options.wait->timeout->count()) + " ms");
                }
            }
        }
    }
    // A wait without limit ends soon after the world settles; a signal ends it at once (but a
    // delete_module of ours already inside the module's exit finishes first).
    const Millis settle_bound =
        world.actors_until +
        Millis{static_cast<long>(outcome.plan.steps.size() + targets.size() + 1) * 2000};
    if (end > settle_bound) {
        violations.push_back("the run ended at " + std::to_string(end.count()) +
                             " ms, long after the world settled (" +
                             std::to_string(world.actors_until.count()) + " ms)");
    }
    if (world.signaled && end - world.signal_time > kMaxExit + Millis{2 * 5}) {
        violations.push_back("the run went on " +
                             std::to_string((end - world.signal_time).count()) +
                             " ms after the signal");
    }
    return result;
}

// ---- the tools: rmmod --------------------------------------------------------------------------

SeedResult simulate_rmmod(const std::filesystem::path& root, std::uint64_t seed) {
    SeedResult result;
    result.seed = seed;
    World world(root, seed);
    world.tool = true;
    world.populate(random_graph(world.prng));
    const std::vector<std::string> targets = random_targets(world);

    std::vector<std::string> args;
    PlanOptions plan_options;
    bool waits = false;
    std::optional<Millis> limit;
    switch (world.prng.below(5)) {
        case 0:
            break;
        case 1:
            args.push_back("--wait");
            waits = true;
            break;
        case 2:
            args.push_back("-w");
            waits = true;
            break;
        case 3:
            limit = Millis{world.prng.below(2500)};
            args.push_back("-w");
            args.push_back(std::to_string(limit->count()));
            waits = true;
            break;
        default:
            limit = Millis{world.prng.below(2500)};
            args.push_back("--wait=" + std::to_string(limit->count()));
            waits = true;
            break;
    }
    if (world.prng.percent(40)) {
        args.push_back("-r");
        plan_options.remove_dependencies = true;
    }
    if (world.prng.percent(40)) {
        args.push_back("--remove-holders");
        plan_options.remove_holders = true;
    }
    const bool force = world.prng.percent(10);
    if (force) {
        args.push_back("-f");
    }
    if (world.prng.percent(20)) {
        args.push_back("-v");
    }
    args.insert(args.end(), targets.begin(), targets.end());
    world.choose_actors(true);

    const bool planned = plan_options.remove_holders || plan_options.remove_dependencies;
    const std::vector<PlanStep> plan = expected_plan(root, targets, plan_options);
    if (planned) {
        check_plan_order(root, plan, result.violations);
    } else if (waits) {
        // One argument at a time, in the library's order: a wait for one that a later argument
        // holds would never end.
        std::vector<PlanStep> order;
        if (auto snapshot = Snapshot::read(FixtureSystem(root))) {
            std::vector<std::string> listed;
            for (const std::string& t : targets) {
                if (snapshot->find(t) != nullptr) {
                    listed.push_back(t);
                }
            }
            for (const std::string& t : order_by_holders(*snapshot, listed)) {
                order.push_back(PlanStep{t, PlanReason::target, {}});
            }
        }
        check_plan_order(root, order, result.violations);
    }
    std::vector<std::string> may_remove = targets;
    std::vector<std::string> unused;
    if (planned) {
        for (const PlanStep& s : plan) {
            may_remove.push_back(s.name);
            if (s.reason == PlanReason::unused_dependency) {
                unused.push_back(s.name);
            }
        }
    }
    world.ours = may_remove;

    result.setup = world.describe_graph() + "\nrmmod " + joined(args) + "\n" +
                   world.describe_actors() + "\nstart:\n" + world.kernel.proc_modules_text();
    std::vector<std::string>& violations = result.violations;
    const std::size_t violations_before = violations.size();
    ToolRun run;
    try {
        run = run_tool("rmmod", world.kernel, root, args, "6.1.0-test", 0, &world.clock);
    } catch (const Hang& hang) {
        violations.push_back("hang: " + hang.why);
    }
    tools::clear_stop_signal();
    result.trace =
        world.kernel.trace() + "stderr:\n" + run.err + "exit " + std::to_string(run.status) + "\n";
    result.system_calls = world.kernel.calls().size();
    if (violations.size() > violations_before) {
        return result;  // it hung: there is no exit status to check
    }

    check_removals(world, may_remove, unused, violations);
    if (run.status != 0 && run.status != 1) {
        violations.push_back("exit status " + std::to_string(run.status));
    }
    // Exit 0 only when every target went: by our call, or by another process.
    const std::vector<std::string> removed = world.removed_by_us();
    // After a signal main() dies of it (exit_status_or_reraise): the status is not seen.
    if (run.status == 0 && !world.signaled) {
        for (const std::string& t : targets) {
            const bool by_other =
                std::any_of(world.kernel.events().begin(), world.kernel.events().end(),
                            [&](const ModelEvent& e) {
                                return e.name == t && e.who == Actor::other &&
                                       (e.kind == ModelEvent::Kind::removed ||
                                        e.kind == ModelEvent::Kind::load_failed);
                            });
            if (!contains(removed, t) && !by_other) {
                violations.push_back("exit 0, but " + t + " was removed by no one");
            }
        }
    }
    // Exit 1 says why in words, naming the module; no line is a bare errno.
    std::vector<std::string> names = targets;
    for (const Spec& s : world.graph) {
        names.push_back(s.name);
    }
    std::istringstream lines(run.err);
    std::string line;
    bool error_line = false;
    while (std::getline(lines, line)) {
        if (line.rfind("rmmod: ERROR: ", 0) != 0) {
            continue;
        }
        error_line = true;
        const bool names_one = std::any_of(names.begin(), names.end(), [&](const std::string& n) {
            return line.find(n) != std::string::npos;
        });
        if (!names_one) {
            violations.push_back("an error line names no module: " + line);
        }
    }
    if (run.status == 1 && !error_line) {
        violations.push_back("exit 1 without an error line");
    }
    if (run.status == 0 && error_line && !world.signaled) {
        violations.push_back("exit 0 with an error line");
    }
    (void)force;
    return result;
}

// ---- the tools: insmod --deps ------------------------------------------------------------------

void prepare_insmod_root(const std::filesystem::path& root) {
    namespace fs = std::filesystem;
    fs::create_directories(root / "modules" / "sub");
    fs::copy_file(fixture_module("fixture_consumer.ko"), root / "modules/fixture_consumer.ko",
                  fs::copy_options::overwrite_existing);
    fs::copy_file(fixture_module("fixture-provider.ko"), root / "modules/fixture-provider.ko",
                  fs::copy_options::overwrite_existing);
    fs::copy_file(fixture_module("fixture_base.ko"), root / "modules/sub/fixture_base.ko",
                  fs::copy_options::overwrite_existing);
    write_text(root / "lib/modules/6.1.0-test/modules.builtin", "kernel/fs/ext4/ext4.ko\n");
}

SeedResult simulate_insmod(const std::filesystem::path& root, std::uint64_t seed) {
    SeedResult result;
    result.seed = seed;
    World world(root, seed);
    world.tool = true;
    const std::vector<Spec> chain = {{"fixture_base", {}, false},
                                     {"fixture_provider", {"fixture_base"}, false},
                                     {"fixture_consumer", {"fixture_provider", "ext4"}, false}};
    world.graph = chain;
    // Some of the chain is loaded at the start, each after its dependency.
    const int loaded = world.prng.below(3);
    for (int i = 0; i < 3; ++i) {
        const Spec& s = chain[static_cast<std::size_t>(i)];
        const Millis init = random_time(world.prng, kMaxInit);
        const Millis exit = random_time(world.prng, kMaxExit);
        const int init_errno = world.prng.percent(8) ? ENODEV : 0;
        if (i < loaded) {
            ModelModule m;
            m.name = s.name;
            m.uses = s.uses;
            world.kernel.add(m);
        }
        world.kernel.configure(s.name, init, exit, init_errno);
    }
    // The other processes only touch the dependencies, most of the time.
    if (world.prng.percent(85)) {
        world.graph.pop_back();
    }
    world.choose_actors(true);
    // Insmod makes few system calls, so few steps: the loader races it at most of them.
    world.loader_percent = 35;
    const std::string file = (root / "modules" / "fixture_consumer.ko").string();
    result.setup = "insmod --deps fixture_consumer.ko\n" + world.describe_actors() + "\nstart:\n" +
                   world.kernel.proc_modules_text();

    std::vector<std::string>& violations = result.violations;
    ToolRun run;
    try {
        run =
            run_tool("insmod", world.kernel, root, {"--deps", file}, "6.1.0-test", 0, &world.clock);
    } catch (const Hang& hang) {
        violations.push_back("hang: " + hang.why);
    }
    tools::clear_stop_signal();
    result.trace =
        world.kernel.trace() + "stderr:\n" + run.err + "exit " + std::to_string(run.status) + "\n";
    result.system_calls = world.kernel.calls().size();
    if (!violations.empty()) {
        return result;
    }
    world.check_signal(violations);

    const std::vector<ModelCall>& calls = world.kernel.calls();
    const bool consumer_loaded = std::any_of(calls.begin(), calls.end(), [](const ModelCall& c) {
        return c.name == "fixture_consumer" && c.answer == 0;
    });
    if (run.status == 0) {
        if (!consumer_loaded) {
            violations.push_back(
                "exit 0, but our log shows no successful load of fixture_consumer");
        }
        const ModelModule* m = world.kernel.find("fixture_consumer");
        if (m == nullptr || m->state != ModuleState::live) {
            violations.push_back("exit 0, but fixture_consumer is not Live");
        }
    } else if (run.status == 1) {
        if (run.err.find("insmod: ERROR: ") == std::string::npos ||
            run.err.find("fixture") == std::string::npos) {
            violations.push_back("exit 1 without an error line naming the module");
        }
        // Someone else loading a dependency is what was wanted: EEXIST is carried on.
        for (std::size_t i = 0; i < calls.size(); ++i) {
            if (calls[i].answer == EEXIST && calls[i].name != "fixture_consumer" &&
                i + 1 == calls.size() && !world.signaled) {
                violations.push_back("stopped at EEXIST from " + calls[i].name +
                                     ", which another process had loaded");
            }
        }
        const bool refused = std::any_of(calls.begin(), calls.end(), [](const ModelCall& c) {
            return c.answer != 0 && !(c.answer == EEXIST && c.name != "fixture_consumer");
        });
        if (!refused && !world.signaled && run.err.find("could not resolve") == std::string::npos) {
            violations.push_back("exit 1, though the kernel refused nothing");
        }
    } else {
        violations.push_back("exit status " + std::to_string(run.status));
    }
    return result;
}

}  // namespace modload::testing
