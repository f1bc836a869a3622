#include <cerrno>

#include <fcntl.h>

#include <catch2/catch.hpp>

#include <modload/removal.hpp>

#include "fixtures.hpp"
#include "model_kernel.hpp"

using namespace modload;
using modload::testing::fixture_root;
using modload::testing::FixtureSystem;

namespace {

struct Basic {
    FixtureSystem root{fixture_root("basic")};
    Snapshot snapshot = *Snapshot::read(root);
    BuiltinModules builtin = *BuiltinModules::read(root, "6.1.0-test");

    Obstacle check(std::string_view name) const {
        return check_removal(snapshot, builtin, root, name);
    }
};

}  // namespace

TEST_CASE("modules.builtin lists the builtin modules by normalized name", "[removal]") {
    auto builtin = BuiltinModules::read(FixtureSystem(fixture_root("basic")), "6.1.0-test");
    REQUIRE(builtin);
    CHECK(builtin->contains("ext4"));
    CHECK(builtin->contains("crc_itu_t"));
    CHECK_FALSE(builtin->contains("xfs"));
}

TEST_CASE("a missing modules.builtin is an empty list; a bad release is refused", "[removal]") {
    auto builtin = BuiltinModules::read(FixtureSystem(fixture_root("basic")), "5.0.0-other");
    REQUIRE(builtin);
    CHECK_FALSE(builtin->contains("ext4"));
    CHECK_FALSE(BuiltinModules::read(FixtureSystem(fixture_root("basic")), "../../etc"));
    CHECK_FALSE(BuiltinModules::read(FixtureSystem(fixture_root("basic")), ""));
}

TEST_CASE("removal checks follow kmod's order", "[removal]") {
    const Basic b;
    CHECK(b.check("ext4") == Obstacle::builtin);
    CHECK(b.check("vt") == Obstacle::builtin);  // in /sys/module but not loaded
    CHECK(b.check("nonexistent") == Obstacle::not_loaded);
    CHECK(b.check("libcrc32c") == Obstacle::has_holders);
    CHECK(b.check("lab_dev") == Obstacle::in_use);
    CHECK(b.check("iptable_nat") == Obstacle::none);
    CHECK(b.check("lab_permanent") == Obstacle::none);  // the kernel refuses it: EBUSY
    CHECK(b.check("lab_going") == Obstacle::unloading);
}

TEST_CASE("a module's state comes before its users", "[removal]") {
    LoadedModule m{"m", 4096, 1, {"h"}, ModuleState::loading, 0, "", false};
    CHECK(obstacle_of(m) == Obstacle::loading);
    m.state = ModuleState::unloading;
    m.refcount = -1;
    CHECK(obstacle_of(m) == Obstacle::unloading);
    m.state = ModuleState::live;
    m.refcount = 1;
    CHECK(obstacle_of(m) == Obstacle::has_holders);
    m.holders.clear();
    CHECK(obstacle_of(m) == Obstacle::in_use);
    m.refcount = 0;
    CHECK(obstacle_of(m) == Obstacle::none);
    m.refcount.reset();
    CHECK(obstacle_of(m) == Obstacle::unload_unsupported);
}

TEST_CASE("a name that would leave /sys/module is never looked up there", "[removal]") {
    const Basic b;
    // "../module/vt" would reach the vt folder through the parent.
    CHECK(b.check("../module/vt") == Obstacle::not_loaded);
}

TEST_CASE("without module unloading in the kernel, removal is unsupported", "[removal]") {
    const FixtureSystem root(fixture_root("nounload"));
    const auto snapshot = Snapshot::read(root);
    REQUIRE(snapshot);
    CHECK(check_removal(*snapshot, BuiltinModules(), root, "xfs") == Obstacle::unload_unsupported);
}

TEST_CASE("removal asks the kernel without blocking, and O_TRUNC when forced", "[removal]") {
    testing::ScratchDir dir;
    testing::ModelKernel kernel(dir.path());
    kernel.add({.name = "xfs"});
    kernel.add({.name = "ext2"});
    REQUIRE(remove_module(kernel, "xfs", false));
    REQUIRE(remove_module(kernel, "ext2", true));
    REQUIRE(kernel.calls().size() == 2);
    CHECK(kernel.calls()[0].syscall == "delete_module");
    CHECK(kernel.calls()[0].name == "xfs");
    CHECK(kernel.calls()[0].flags == O_NONBLOCK);
    CHECK(kernel.calls()[1].flags == (O_NONBLOCK | O_TRUNC));
}

TEST_CASE("the kernel's refusal to remove comes back as its errno", "[removal]") {
    testing::ScratchDir dir;
    testing::ModelKernel kernel(dir.path());
    kernel.add({.name = "xfs", .references = 1});
    auto r = remove_module(kernel, "xfs", false);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == EWOULDBLOCK);
    auto bad = remove_module(kernel, "a/b", false);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == EINVAL);
    CHECK(kernel.calls().size() == 1);  // the bad name never reached the kernel
}
