#include <cerrno>

#include <catch2/catch.hpp>

#include <modload/snapshot.hpp>

#include "fixtures.hpp"

using namespace modload;
using modload::testing::fixture_root;
using modload::testing::FixtureSystem;

TEST_CASE("one read of /proc/modules gives every module with its facts", "[snapshot]") {
    auto snapshot = Snapshot::read(FixtureSystem(fixture_root("basic")));
    REQUIRE(snapshot);
    REQUIRE(snapshot->modules().size() == 13);

    const LoadedModule* libcrc32c = snapshot->find("libcrc32c");
    REQUIRE(libcrc32c != nullptr);
    CHECK(libcrc32c->size == 16384);
    CHECK(libcrc32c->refcount == 3);
    CHECK(libcrc32c->holders == std::vector<std::string>{"nf_nat", "nf_conntrack", "xfs"});
    CHECK(libcrc32c->state == ModuleState::live);
    CHECK(libcrc32c->address == 0xffffffffc0200000);
    CHECK(libcrc32c->taints.empty());
    CHECK_FALSE(libcrc32c->permanent);
    CHECK(snapshot->find("nonexistent") == nullptr);
}

TEST_CASE("the [permanent] marker is a flag, not a holder", "[snapshot]") {
    auto snapshot = Snapshot::read(FixtureSystem(fixture_root("basic")));
    REQUIRE(snapshot);
    const LoadedModule* m = snapshot->find("lab_permanent");
    REQUIRE(m != nullptr);
    CHECK(m->permanent);
    CHECK(m->holders.empty());
    CHECK(m->taints == "OE");
}

TEST_CASE("a going module's state sign is not taken for a taint", "[snapshot]") {
    auto snapshot =
        Snapshot::parse("a 1 0 - Unloading 0x0 (OE-)\nb 1 0 - Loading 0x0 (+)\nc 1 0 - Live 0x0\n");
    REQUIRE(snapshot);
    CHECK(snapshot->find("a")->state == ModuleState::unloading);
    CHECK(snapshot->find("a")->taints == "OE");
    CHECK(snapshot->find("b")->state == ModuleState::loading);
    CHECK(snapshot->find("b")->taints.empty());
    CHECK(module_state_name(ModuleState::unloading) == "Unloading");
    CHECK(module_state_name(ModuleState::loading) == "Loading");
    CHECK(module_state_name(ModuleState::live) == "Live");
}

TEST_CASE("a kernel without module unloading shows no refcount", "[snapshot]") {
    auto snapshot = Snapshot::read(FixtureSystem(fixture_root("nounload")));
    REQUIRE(snapshot);
    REQUIRE(snapshot->find("xfs") != nullptr);
    CHECK_FALSE(snapshot->find("xfs")->refcount.has_value());
    CHECK(snapshot->find("xfs")->holders.empty());
}

TEST_CASE("references beyond the holders come from outside modules", "[snapshot]") {
    auto snapshot = Snapshot::read(FixtureSystem(fixture_root("basic")));
    REQUIRE(snapshot);
    CHECK(snapshot->find("lab_dev")->external_references() == 2);
    CHECK(snapshot->find("libcrc32c")->external_references() == 0);
    CHECK(snapshot->find("xfs")->external_references() == 1);
}

TEST_CASE("a module's dependencies are the modules that list it as a holder", "[snapshot]") {
    auto snapshot = Snapshot::read(FixtureSystem(fixture_root("basic")));
    REQUIRE(snapshot);
    const auto deps = snapshot->dependencies_of("iptable_nat");
    CHECK(deps == std::vector<std::string_view>{"nf_nat", "ip_tables", "x_tables"});
    CHECK(snapshot->dependencies_of("libcrc32c").empty());
}

TEST_CASE("a /proc/modules line that cannot be understood is left out and named", "[snapshot]") {
    auto snapshot = Snapshot::read(FixtureSystem(fixture_root("corrupt")));
    REQUIRE(snapshot);
    REQUIRE(snapshot->modules().size() == 1);
    CHECK(snapshot->modules()[0].name == "xfs");
    REQUIRE(snapshot->skipped().size() == 1);
    CHECK(snapshot->skipped()[0].number == 2);
    CHECK(snapshot->skipped()[0].text == "this line is not a module");

    for (const char* bad : {"xfs", "xfs x 0 - Live 0x0", "xfs 1 x - Live 0x0", "xfs 1 0 - Dead 0x0",
                            "xfs 1 0 - Live zz", "xfs 1 0 - Live 0x0 (OE", "../x 1 0 - Live 0x0"}) {
        INFO(bad);
        auto parsed = Snapshot::parse(std::string(bad) + "\next4 1 0 - Live 0x0\n");
        REQUIRE(parsed);
        CHECK(parsed->modules().size() == 1);
        CHECK(parsed->skipped().size() == 1);
    }
}

TEST_CASE("fields a later kernel appends are ignored, as kmod ignores them", "[snapshot]") {
    auto snapshot = Snapshot::parse(
        "xfs 2002944 1 - Live 0xffffffffc0300000 (OE) newfield 7\n"
        "ext2 4096 0 - Live 0x0 extra\n");
    REQUIRE(snapshot);
    REQUIRE(snapshot->modules().size() == 2);
    CHECK(snapshot->skipped().empty());
    CHECK(snapshot->modules()[0].taints == "OE");
    CHECK(snapshot->modules()[0].refcount == 1);
    CHECK(snapshot->modules()[1].taints.empty());
}

TEST_CASE("no /proc/modules means no module support: ENOENT", "[snapshot]") {
    testing::ScratchDir dir;
    auto snapshot = Snapshot::read(FixtureSystem(dir.path()));
    REQUIRE_FALSE(snapshot);
    CHECK(snapshot.error().code == ENOENT);
}

TEST_CASE("an empty /proc/modules is an empty snapshot", "[snapshot]") {
    auto snapshot = Snapshot::read(FixtureSystem(fixture_root("empty")));
    REQUIRE(snapshot);
    CHECK(snapshot->modules().empty());
}
