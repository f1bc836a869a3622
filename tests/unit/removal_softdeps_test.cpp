// rmmod -r and soft dependencies, and dependencies whose last references the kernel drops a
// moment after their holder: remove_modules() on the model kernel.
#include <algorithm>
#include <map>

#include <catch2/catch.hpp>

#include <modload/removal.hpp>
#include <modload/softdeps.hpp>

#include "fixtures.hpp"
#include "model_kernel.hpp"

using namespace modload;
using modload::testing::FixtureSystem;
using modload::testing::Millis;
using modload::testing::ModelClock;
using modload::testing::ModelKernel;
using modload::testing::ScratchDir;
using modload::testing::StepPoint;

namespace {

// Soft dependencies as a test gives them, already resolved to module names.
class GivenSoftdeps final : public SoftdepLookup {
  public:
    std::map<std::string, Softdeps> of;

    std::optional<Softdeps> softdeps_of(const std::string& module,
                                        const Snapshot& loaded) const override {
        (void)loaded;
        const auto it = of.find(module);
        return it == of.end() ? std::nullopt : std::optional<Softdeps>(it->second);
    }
};

struct World {
    ScratchDir dir;
    ModelKernel kernel{dir.path()};
    ModelClock clock{kernel};
    FixtureSystem system{dir.path(), &kernel, &clock};
    RemovalObserver quiet;
    GivenSoftdeps softdeps;

    RemovalOutcome remove(std::vector<std::string> targets, bool deps = true,
                          bool dry_run = false) {
        RemovalOptions options;
        options.plan.remove_dependencies = deps;
        options.dry_run = dry_run;
        options.softdeps = &softdeps;
        return remove_modules(system, BuiltinModules(), targets, options, quiet);
    }
};

std::vector<std::string> step_names(const RemovalPlan& plan) {
    std::vector<std::string> names;
    for (const PlanStep& step : plan.steps) {
        names.push_back(step.name);
    }
    return names;
}

const PlanStep* step_of(const RemovalPlan& plan, const std::string& name) {
    for (const PlanStep& step : plan.steps) {
        if (step.name == name) {
            return &step;
        }
    }
    return nullptr;
}

// lab_target uses libcrc32c, whose crc32c transform holds a reference on crc32c_intel (its pre
// softdep, as on Linux 6.1); lab_target names lab_post as a post softdep, which uses lab_helper.
void load_crc_world(World& w) {
    w.kernel.add({.name = "crc32c_intel"});
    w.kernel.add({.name = "libcrc32c", .pins = {"crc32c_intel"}});
    w.kernel.add({.name = "lab_target", .uses = {"libcrc32c"}});
    w.kernel.add({.name = "lab_helper"});
    w.kernel.add({.name = "lab_post", .uses = {"lab_helper"}});
    w.softdeps.of["libcrc32c"] = Softdeps{{"crc32c_intel"}, {}, {}};
    w.softdeps.of["lab_target"] = Softdeps{{}, {"lab_post"}, {}};
}

}  // namespace

TEST_CASE("rmmod -r removes soft dependencies: post ones before the module, pre ones after it",
          "[removal]") {
    World w;
    load_crc_world(w);
    const RemovalOutcome out = w.remove({"lab_target"});
    CHECK(out.ok());
    CHECK(out.removed == std::vector<std::string>{"lab_post", "lab_target", "libcrc32c",
                                                  "lab_helper", "crc32c_intel"});
    CHECK(w.kernel.modules().empty());
    REQUIRE(step_of(out.plan, "crc32c_intel") != nullptr);
    CHECK(step_of(out.plan, "crc32c_intel")->reason == PlanReason::softdep);
    CHECK(step_of(out.plan, "crc32c_intel")->of == "libcrc32c");
    CHECK(step_of(out.plan, "lab_post")->reason == PlanReason::softdep);
    CHECK(step_of(out.plan, "lab_post")->of == "lab_target");
    // The soft dependency's own dependency is an unused dependency like any other.
    CHECK(step_of(out.plan, "lab_helper")->reason == PlanReason::unused_dependency);
    CHECK(out.release_waits.empty());
    CHECK(w.clock.sleeps().empty());
}

TEST_CASE("soft dependencies go only with -r", "[removal]") {
    World w;
    load_crc_world(w);
    w.kernel.add({.name = "lab_user", .uses = {"lab_target"}});
    const RemovalOutcome out = w.remove({"lab_user"}, false);
    CHECK(out.ok());
    CHECK(out.removed == std::vector<std::string>{"lab_user"});
    CHECK(w.kernel.find("lab_post") != nullptr);
}

TEST_CASE("a soft dependency in use at its turn is kept, never waited for", "[removal]") {
    World w;
    load_crc_world(w);
    REQUIRE(w.kernel.get_reference("crc32c_intel"));  // another user's transform
    const RemovalOutcome out = w.remove({"lab_target"});
    CHECK(out.ok());
    CHECK(out.removed ==
          std::vector<std::string>{"lab_post", "lab_target", "libcrc32c", "lab_helper"});
    REQUIRE(out.kept.size() == 1);
    CHECK(out.kept[0].name == "crc32c_intel");
    CHECK(out.kept[0].refcount == 1);
    CHECK(w.kernel.find("crc32c_intel") != nullptr);
    CHECK(out.release_waits.empty());
    CHECK(w.clock.sleeps().empty());
}

TEST_CASE("a soft dependency that a module left loaded uses is not in the plan", "[removal]") {
    World w;
    load_crc_world(w);
    w.kernel.add({.name = "btrfs", .uses = {"crc32c_intel", "lab_post"}});
    const RemovalOutcome out = w.remove({"lab_target"});
    CHECK(out.ok());
    CHECK(out.removed == std::vector<std::string>{"lab_target", "libcrc32c"});
    CHECK(step_of(out.plan, "crc32c_intel") == nullptr);
    CHECK(step_of(out.plan, "lab_post") == nullptr);
    CHECK(out.kept.empty());
}

TEST_CASE("a soft dependency that is not loaded, or is the module itself, is no step",
          "[removal]") {
    World w;
    w.kernel.add({.name = "lab_a"});
    w.softdeps.of["lab_a"] = Softdeps{{"lab_absent", "lab_a"}, {"lab_a"}, {}};
    const RemovalOutcome out = w.remove({"lab_a"});
    CHECK(out.ok());
    CHECK(step_names(out.plan) == std::vector<std::string>{"lab_a"});
}

TEST_CASE("a set's targets share a soft dependency: it goes once, after both", "[removal]") {
    World w;
    w.kernel.add({.name = "lab_shared"});
    w.kernel.add({.name = "lab_a"});
    w.kernel.add({.name = "lab_b", .uses = {"lab_a"}});
    w.softdeps.of["lab_a"] = Softdeps{{"lab_shared"}, {}, {}};
    w.softdeps.of["lab_b"] = Softdeps{{"lab_shared"}, {}, {}};
    const RemovalOutcome out = w.remove({"lab_a", "lab_b"});
    CHECK(out.ok());
    CHECK(out.removed == std::vector<std::string>{"lab_b", "lab_a", "lab_shared"});
}

TEST_CASE("a dry run lists the soft dependencies and removes nothing", "[removal]") {
    World w;
    load_crc_world(w);
    const RemovalOutcome out = w.remove({"lab_target"}, true, true);
    CHECK(out.ok());
    CHECK(step_names(out.plan) == std::vector<std::string>{"lab_post", "lab_target", "libcrc32c",
                                                           "lab_helper", "crc32c_intel"});
    CHECK(w.kernel.calls().empty());
}

TEST_CASE("a dependency whose last reference goes a moment after its holder is waited for",
          "[removal]") {
    World w;
    // target_core_mod registers a configfs subsystem: configfs pins its internal mount, and the
    // kernel releases that mount one jiffy after target_core_mod's exit.
    w.kernel.add({.name = "configfs"});
    w.kernel.add({.name = "target_core_mod",
                  .uses = {"configfs"},
                  .pins = {"configfs"},
                  .pin_release = Millis{6}});
    REQUIRE(w.kernel.refcount_of(*w.kernel.find("configfs")) == 2);
    const RemovalOutcome out = w.remove({"target_core_mod"});
    CHECK(out.ok());
    CHECK(out.removed == std::vector<std::string>{"target_core_mod", "configfs"});
    CHECK(out.kept.empty());
    REQUIRE(out.release_waits.size() == 1);
    const ReleaseWait& wait = out.release_waits[0];
    CHECK(wait.name == "configfs");
    CHECK(wait.after == std::vector<std::string>{"target_core_mod"});
    CHECK(wait.released);
    CHECK(wait.waited >= Millis{6});
    CHECK(wait.waited < kReleaseWait);
    CHECK(w.kernel.modules().empty());
}

TEST_CASE("a dependency whose other references stay is kept after a bounded wait", "[removal]") {
    World w;
    w.kernel.add({.name = "lab_dev"});
    w.kernel.add({.name = "lab_user", .uses = {"lab_dev"}});
    REQUIRE(w.kernel.get_reference("lab_dev"));  // an open file, there before and after
    const RemovalOutcome out = w.remove({"lab_user"});
    CHECK(out.ok());
    CHECK(out.removed == std::vector<std::string>{"lab_user"});
    REQUIRE(out.kept.size() == 1);
    CHECK(out.kept[0].name == "lab_dev");
    REQUIRE(out.release_waits.size() == 1);
    CHECK_FALSE(out.release_waits[0].released);
    CHECK(out.release_waits[0].waited == kReleaseWait);
    // Bounded by the library's clock: slept, never past the bound.
    Millis slept{0};
    for (const Millis sleep : w.clock.sleeps()) {
        slept += sleep;
    }
    CHECK(slept == kReleaseWait);
    CHECK(w.kernel.find("lab_dev") != nullptr);
}

TEST_CASE("a dependency that gains a reference while its holder's are going is kept at once",
          "[removal]") {
    World w;
    w.kernel.add({.name = "configfs"});
    w.kernel.add({.name = "target_core_mod",
                  .uses = {"configfs"},
                  .pins = {"configfs"},
                  .pin_release = Millis{50}});
    // Someone mounts configfs 10 ms into the wait.
    w.kernel.on_step([&, done = false](StepPoint point) mutable {
        if (!done && point == StepPoint::clock && w.kernel.now() >= Millis{10}) {
            done = true;
            REQUIRE(w.kernel.get_reference("configfs"));
        }
    });
    const RemovalOutcome out = w.remove({"target_core_mod"});
    CHECK(out.ok());
    CHECK(out.removed == std::vector<std::string>{"target_core_mod"});
    REQUIRE(out.kept.size() == 1);
    CHECK(out.kept[0].name == "configfs");
    REQUIRE(out.release_waits.size() == 1);
    CHECK_FALSE(out.release_waits[0].released);
    CHECK(out.release_waits[0].waited < Millis{50});
    CHECK(w.kernel.find("configfs") != nullptr);
}

TEST_CASE("a dependency with a new reference at its turn is not waited for", "[removal]") {
    World w;
    w.kernel.add({.name = "lab_dev"});
    w.kernel.add({.name = "lab_user", .uses = {"lab_dev"}});
    // An open file on lab_dev as lab_user goes: one reference more than the first read showed
    // besides lab_user's.
    w.kernel.on_step([&, done = false](StepPoint point) mutable {
        if (!done && point == StepPoint::syscall_entry) {
            done = true;
            REQUIRE(w.kernel.get_reference("lab_dev"));
        }
    });
    const RemovalOutcome out = w.remove({"lab_user"});
    CHECK(out.ok());
    REQUIRE(out.kept.size() == 1);
    CHECK(out.release_waits.empty());
    CHECK(w.clock.sleeps().empty());
}

TEST_CASE("a target in use by the module that names it as a soft dependency goes after it",
          "[removal]") {
    World w;
    load_crc_world(w);
    // Both named, crc32c_intel first: libcrc32c's transform holds it until libcrc32c goes.
    const RemovalOutcome out = w.remove({"crc32c_intel", "lab_target"});
    CHECK(out.ok());
    CHECK(out.removed == std::vector<std::string>{"lab_post", "lab_target", "libcrc32c",
                                                  "lab_helper", "crc32c_intel"});
    REQUIRE(step_of(out.plan, "crc32c_intel") != nullptr);
    CHECK(step_of(out.plan, "crc32c_intel")->reason == PlanReason::target);
    CHECK(step_of(out.plan, "crc32c_intel")->of == "libcrc32c");
    CHECK(w.kernel.modules().empty());
}

TEST_CASE("a target in use that no module of the plan names stops the plan before it starts",
          "[removal]") {
    World w;
    load_crc_world(w);
    w.kernel.add({.name = "lab_busy", .references = 1});
    const RemovalOutcome out = w.remove({"lab_busy", "lab_target"});
    REQUIRE(out.failures.size() == 1);
    CHECK(out.failures[0].name == "lab_busy");
    CHECK(out.failures[0].obstacle == Obstacle::in_use);
    CHECK(out.failures[0].stage == RemovalStage::checking);
    CHECK(w.kernel.calls().empty());
}

TEST_CASE("a soft dependency named in use by other users fails as a target", "[removal]") {
    World w;
    load_crc_world(w);
    REQUIRE(w.kernel.get_reference("crc32c_intel"));  // someone else's transform too
    const RemovalOutcome out = w.remove({"crc32c_intel", "lab_target"});
    REQUIRE(out.failures.size() == 1);
    CHECK(out.failures[0].name == "crc32c_intel");
    CHECK(out.failures[0].obstacle == Obstacle::in_use);
    // The plan stopped at its last step.
    CHECK(out.removed ==
          std::vector<std::string>{"lab_post", "lab_target", "libcrc32c", "lab_helper"});
    CHECK(out.left == std::vector<std::string>{"crc32c_intel"});
    CHECK(w.kernel.find("crc32c_intel") != nullptr);
}

TEST_CASE("a dependency held by its own post soft dependency goes after it, as vfio does",
          "[removal]") {
    // vfio names vfio_iommu_type1 `softdep post:`, and vfio_iommu_type1 uses vfio's symbols: once
    // vfio_pci_core is gone, vfio is held only by its own post soft dependency.
    World w;
    w.kernel.add({.name = "vfio"});
    w.kernel.add({.name = "vfio_iommu_type1", .uses = {"vfio"}});
    w.kernel.add({.name = "vfio_pci_core", .uses = {"vfio"}});
    w.softdeps.of["vfio"] = Softdeps{{}, {"vfio_iommu_type1"}, {}};
    const RemovalOutcome out = w.remove({"vfio_pci_core"});
    CHECK(out.ok());
    CHECK(out.removed == std::vector<std::string>{"vfio_pci_core", "vfio_iommu_type1", "vfio"});
    CHECK(w.kernel.modules().empty());
    REQUIRE(step_of(out.plan, "vfio_iommu_type1") != nullptr);
    CHECK(step_of(out.plan, "vfio_iommu_type1")->reason == PlanReason::softdep);
    CHECK(step_of(out.plan, "vfio_iommu_type1")->of == "vfio");
    CHECK(step_of(out.plan, "vfio")->reason == PlanReason::unused_dependency);
}

TEST_CASE("a dependency its post soft dependency holds stays while something else holds that",
          "[removal]") {
    World w;
    w.kernel.add({.name = "vfio"});
    w.kernel.add({.name = "vfio_iommu_type1", .uses = {"vfio"}});
    w.kernel.add({.name = "kvm_user", .uses = {"vfio_iommu_type1"}});
    w.kernel.add({.name = "vfio_pci_core", .uses = {"vfio"}});
    w.softdeps.of["vfio"] = Softdeps{{}, {"vfio_iommu_type1"}, {}};
    const RemovalOutcome out = w.remove({"vfio_pci_core"});
    CHECK(out.ok());
    CHECK(out.removed == std::vector<std::string>{"vfio_pci_core"});
    CHECK(step_of(out.plan, "vfio") == nullptr);
    CHECK(step_of(out.plan, "vfio_iommu_type1") == nullptr);
}
