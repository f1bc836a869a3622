// remove_modules(): the library's removal, judged step by step against the model kernel.
#include <cerrno>

#include <fcntl.h>

#include <catch2/catch.hpp>

#include <modload/removal.hpp>

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

// a <- b <- c (c uses b, b uses a), and d also uses a.
struct Chain {
    ScratchDir dir;
    ModelKernel kernel{dir.path()};
    ModelClock clock{kernel};
    FixtureSystem root{dir.path(), &kernel, &clock};
    RemovalObserver quiet;

    Chain() {
        kernel.add({.name = "a"});
        kernel.add({.name = "b", .uses = {"a"}});
        kernel.add({.name = "c", .uses = {"b"}});
    }

    RemovalOutcome remove(std::vector<std::string> targets, const RemovalOptions& options,
                          RemovalObserver* observer = nullptr) {
        return remove_modules(root, BuiltinModules(), targets, options,
                              observer != nullptr ? *observer : quiet);
    }
};

RemovalOptions with_deps() {
    RemovalOptions options;
    options.plan.remove_dependencies = true;
    return options;
}

}  // namespace

TEST_CASE("remove_modules removes a target and the dependencies it leaves unused", "[removal]") {
    Chain c;
    const RemovalOutcome out = c.remove({"c"}, with_deps());
    CHECK(out.ok());
    CHECK(out.removed == std::vector<std::string>{"c", "b", "a"});
    CHECK(out.plan.steps.size() == 3);
    CHECK(c.kernel.modules().empty());
}

TEST_CASE("a dependency that gained a holder before its turn is kept", "[removal]") {
    Chain c;
    // Another process loads d, which uses a, while c is being removed.
    c.kernel.on_step([&, done = false](StepPoint point) mutable {
        if (!done && point == StepPoint::syscall_entry) {
            done = true;
            REQUIRE(c.kernel.other_load("d", {"a"}) == 0);
        }
    });
    const RemovalOutcome out = c.remove({"c"}, with_deps());
    CHECK(out.ok());
    CHECK(out.removed == std::vector<std::string>{"c", "b"});
    REQUIRE(out.kept.size() == 1);
    CHECK(out.kept[0].name == "a");
    CHECK(out.kept[0].holders == std::vector<std::string>{"d"});
    CHECK(c.kernel.find("a") != nullptr);
}

TEST_CASE(
    "a dependency that gained a reference between the read and the call is kept, not "
    "waited for",
    "[removal]") {
    Chain c;
    // The reference comes at the entry of delete_module(a): the read said a was free.
    c.kernel.on_step([&](StepPoint point) {
        if (point == StepPoint::syscall_entry && c.kernel.calls().size() == 2) {
            REQUIRE(c.kernel.get_reference("a"));
        }
    });
    RemovalOptions options = with_deps();
    options.wait = WaitPolicy{};
    const RemovalOutcome out = c.remove({"c"}, options);
    CHECK(out.ok());
    CHECK(out.removed == std::vector<std::string>{"c", "b"});
    REQUIRE(out.kept.size() == 1);
    CHECK(c.kernel.calls().back().answer == EWOULDBLOCK);
    CHECK(c.clock.sleeps().empty());
}

TEST_CASE("a dependency another process is removing is waited for until it is gone", "[removal]") {
    Chain c;
    c.kernel.configure("a", Millis{0}, Millis{300});
    // Once b is freed, another rmmod takes a, whose exit takes 300 ms.
    c.kernel.on_step([&, done = false](StepPoint) mutable {
        if (!done && c.kernel.find("b") == nullptr) {
            done = c.kernel.other_remove("a") == 0;
        }
    });
    const RemovalOutcome out = c.remove({"c"}, with_deps());
    CHECK(out.ok());
    CHECK(out.removed == std::vector<std::string>{"c", "b"});
    CHECK(out.gone == std::vector<std::string>{"a"});
    CHECK(c.kernel.find("a") == nullptr);
}

TEST_CASE("a wait ends at its limit, within one backoff step", "[removal]") {
    Chain c;
    REQUIRE(c.kernel.get_reference("c"));
    RemovalOptions options;
    options.wait = WaitPolicy{Millis{2500}};
    const RemovalOutcome out = c.remove({"c"}, options);
    REQUIRE(out.failures.size() == 1);
    CHECK(out.failures[0].error.code == ETIMEDOUT);
    CHECK(out.failures[0].obstacle == Obstacle::in_use);
    CHECK(out.left == std::vector<std::string>{"c"});
    CHECK(c.kernel.now() >= Millis{2500});
    CHECK(c.kernel.now() < Millis{2500} + options.wait->max_delay);
    CHECK(c.kernel.calls().empty());
}

TEST_CASE("an observer that says stop ends the removal before any system call", "[removal]") {
    struct Stop final : RemovalObserver {
        bool keep_going() override { return false; }
    } stop;
    Chain c;
    const RemovalOutcome out = c.remove({"c"}, with_deps(), &stop);
    REQUIRE(out.failures.size() == 1);
    CHECK(out.failures[0].error.code == ECANCELED);
    CHECK(out.left == std::vector<std::string>{"c", "b", "a"});
    CHECK(c.kernel.calls().empty());
}

TEST_CASE("the observer hears of each wait with the module's entry", "[removal]") {
    struct Listen final : RemovalObserver {
        std::vector<Obstacle> heard;
        void waiting(const LoadedModule& m, Obstacle obstacle, std::chrono::milliseconds) override {
            CHECK(m.name == "c");
            heard.push_back(obstacle);
        }
    } listen;
    Chain c;
    REQUIRE(c.kernel.get_reference("c"));
    c.kernel.on_step([&, done = false](StepPoint) mutable {
        if (!done && c.kernel.now() >= Millis{50}) {
            done = c.kernel.put_reference("c");
        }
    });
    RemovalOptions options;
    options.wait = WaitPolicy{};
    const RemovalOutcome out = c.remove({"c"}, options, &listen);
    CHECK(out.ok());
    REQUIRE_FALSE(listen.heard.empty());
    CHECK(listen.heard.front() == Obstacle::in_use);
}

TEST_CASE("first checks fail every bad target and do nothing", "[removal]") {
    Chain c;
    // a is held only by b, another target: it would go with the set. b is held by c, which is
    // not in it; zz is not loaded.
    const RemovalOutcome out = c.remove({"a", "zz", "b"}, with_deps());
    REQUIRE(out.failures.size() == 2);
    CHECK(out.failures[0].name == "zz");
    CHECK(out.failures[0].obstacle == Obstacle::not_loaded);
    CHECK(out.failures[1].name == "b");
    CHECK(out.failures[1].obstacle == Obstacle::has_holders);
    CHECK(out.failures[1].stage == RemovalStage::checking);
    REQUIRE(out.failures[1].module);
    CHECK(out.failures[1].module->holders == std::vector<std::string>{"c"});
    CHECK(out.plan.steps.empty());
    CHECK(c.kernel.calls().empty());
}

TEST_CASE("targets held only by other targets go as a set, holders first", "[removal]") {
    for (const bool deps : {false, true}) {
        for (const bool wait : {false, true}) {
            INFO("-r " << deps << ", --wait " << wait);
            Chain c;
            RemovalOptions options;
            options.plan.remove_dependencies = deps;
            if (wait) {
                options.wait = WaitPolicy{};
            }
            const RemovalOutcome out = c.remove({"a", "b", "c"}, options);  // the wrong order
            CHECK(out.ok());
            CHECK(out.removed == std::vector<std::string>{"c", "b", "a"});
            CHECK(c.kernel.modules().empty());
            CHECK(c.clock.sleeps().empty());  // nothing waited for: each went in its turn
        }
    }
}

TEST_CASE("a target held from outside the set fails in kmod's words; the set waits for it",
          "[removal]") {
    SECTION("with -r: nothing of the set is removed") {
        Chain c;
        const RemovalOutcome out = c.remove({"a", "b"}, with_deps());
        REQUIRE(out.failures.size() == 1);
        CHECK(out.failures[0].name == "b");
        CHECK(out.failures[0].obstacle == Obstacle::has_holders);
        CHECK(c.kernel.calls().empty());
    }
    SECTION("plain: each judged alone, holders first; a, still held by b, fails too") {
        Chain c;
        const RemovalOutcome out = c.remove({"a", "b"}, RemovalOptions());
        REQUIRE(out.failures.size() == 2);
        CHECK(out.failures[0].name == "b");
        CHECK(out.failures[1].name == "a");
        REQUIRE(out.failures[1].module);
        CHECK(out.failures[1].module->holders == std::vector<std::string>{"b"});
        CHECK(c.kernel.calls().empty());
        CHECK(c.kernel.modules().size() == 3);
    }
}

TEST_CASE("plain targets that do not hold each other keep their order and their independence",
          "[removal]") {
    Chain c;
    c.kernel.add({.name = "d", .references = 1});
    c.kernel.add({.name = "e"});
    const RemovalOutcome out = c.remove({"e", "d", "c"}, RemovalOptions());
    REQUIRE(out.failures.size() == 1);
    CHECK(out.failures[0].name == "d");
    CHECK(out.removed == std::vector<std::string>{"e", "c"});
}

TEST_CASE("a dependency whose extra reference its holder drops in its exit goes too (configfs)",
          "[removal]") {
    ScratchDir dir;
    ModelKernel kernel{dir.path()};
    ModelClock clock{kernel};
    RemovalObserver quiet;
    kernel.add({.name = "configfs"});
    kernel.add({.name = "netconsole", .uses = {"configfs"}, .pins = {"configfs"}});
    kernel.add({.name = "dev"});
    kernel.add({.name = "user", .uses = {"dev"}});
    REQUIRE(kernel.get_reference("dev"));  // an open file: stays
    // On the first read configfs has a reference besides its holder, as on Linux 6.1 and 6.12.
    REQUIRE(kernel.refcount_of(*kernel.find("configfs")) == 2);
    const std::vector<std::string> targets{"netconsole", "user"};
    const RemovalOutcome out = remove_modules(FixtureSystem(dir.path(), &kernel, &clock),
                                              BuiltinModules(), targets, with_deps(), quiet);
    CHECK(out.ok());
    CHECK(out.removed == std::vector<std::string>{"netconsole", "user", "configfs"});
    REQUIRE(out.kept.size() == 1);
    CHECK(out.kept[0].name == "dev");
    CHECK(kernel.find("configfs") == nullptr);
    CHECK(kernel.find("dev") != nullptr);
}

TEST_CASE("a set of a hundred and fifty targets named innermost first is removed in one call",
          "[removal]") {
    for (const bool deps : {false, true}) {
        INFO("-r " << deps);
        ScratchDir dir;
        ModelKernel kernel{dir.path()};
        ModelClock clock{kernel};
        RemovalObserver quiet;
        std::vector<std::string> targets;
        kernel.add({.name = "core"});
        targets.push_back("core");
        for (int i = 0; i < 50; ++i) {  // a chain of 50 over core
            const std::string name = "chain" + std::to_string(i);
            kernel.add({.name = name, .uses = {i == 0 ? "core" : "chain" + std::to_string(i - 1)}});
            targets.push_back(name);
        }
        for (int i = 0; i < 99; ++i) {  // and 99 drivers on core and the chain's top
            const std::string name = "drv" + std::to_string(i);
            kernel.add({.name = name, .uses = {"core", "chain49"}});
            targets.push_back(name);
        }
        kernel.add({.name = "outside"});  // not named: stays
        RemovalOptions options;
        options.plan.remove_dependencies = deps;
        const RemovalOutcome out = remove_modules(FixtureSystem(dir.path(), &kernel, &clock),
                                                  BuiltinModules(), targets, options, quiet);
        CHECK(out.ok());
        CHECK(out.removed.size() == 150);
        CHECK(out.removed.back() == "core");
        CHECK(kernel.calls().size() == 150);  // one delete_module each, none refused
        REQUIRE(kernel.modules().size() == 1);
        CHECK(kernel.modules()[0].name == "outside");
    }
}

TEST_CASE("a dry run plans and judges but removes nothing", "[removal]") {
    Chain c;
    RemovalOptions options = with_deps();
    options.dry_run = true;
    const RemovalOutcome out = c.remove({"c"}, options);
    CHECK(out.ok());
    REQUIRE(out.plan.steps.size() == 3);
    CHECK(out.plan.steps[2].reason == PlanReason::unused_dependency);
    CHECK(out.removed.empty());
    CHECK(c.kernel.calls().empty());
}

TEST_CASE("force asks the kernel even for a module that is not listed, as kmod does", "[removal]") {
    Chain c;
    RemovalOptions options;
    options.force = true;
    const RemovalOutcome out = c.remove({"zz"}, options);
    REQUIRE(out.failures.size() == 1);
    CHECK(out.failures[0].error.code == ENOENT);
    REQUIRE(c.kernel.calls().size() == 1);
    CHECK(c.kernel.calls()[0].flags == (O_NONBLOCK | O_TRUNC));
}

TEST_CASE("force removes a module in use without waiting", "[removal]") {
    Chain c;
    REQUIRE(c.kernel.get_reference("c"));
    RemovalOptions options;
    options.force = true;
    const RemovalOutcome out = c.remove({"c"}, options);
    CHECK(out.ok());
    CHECK(out.removed == std::vector<std::string>{"c"});
}

TEST_CASE("an unreadable /proc/modules fails at the listing stage", "[removal]") {
    ScratchDir dir;  // no proc/modules in it
    testing::FakeKernel kernel;
    ModelKernel unused(dir / "model");
    ModelClock clock(unused);
    RemovalObserver quiet;
    const std::vector<std::string> targets{"a"};
    const RemovalOutcome out = remove_modules(FixtureSystem(dir.path(), &kernel, &clock),
                                              BuiltinModules(), targets, RemovalOptions(), quiet);
    REQUIRE(out.failures.size() == 1);
    CHECK(out.failures[0].stage == RemovalStage::listing);
    CHECK(out.failures[0].error.code == ENOENT);
    CHECK(kernel.calls().empty());
}
