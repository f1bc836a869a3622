// The model kernel answers as kernel/module/main.c does (modload/lifecycle.hpp), and its
// /proc/modules says what its table holds.
#include "model_kernel.hpp"

#include <cerrno>

#include <fcntl.h>

#include <catch2/catch.hpp>

#include <modload/snapshot.hpp>
#include <modload/unique_fd.hpp>

#include "fixtures.hpp"

using modload::LoadedModule;
using modload::ModuleState;
using modload::Snapshot;
using modload::testing::Actor;
using modload::testing::FixtureSystem;
using modload::testing::Millis;
using modload::testing::ModelClock;
using modload::testing::ModelEvent;
using modload::testing::ModelKernel;
using modload::testing::ModelModule;
using modload::testing::ScratchDir;
using modload::testing::StepPoint;

namespace {

ModelModule module(const std::string& name, std::vector<std::string> uses = {}) {
    ModelModule m;
    m.name = name;
    m.uses = std::move(uses);
    return m;
}

int errno_of(const modload::Result<void>& result) {
    return result ? 0 : result.error().code;
}

// Loads a fixture module through finit_module, as the library does: the descriptor of the file.
int load_fixture(ModelKernel& kernel, const std::string& file) {
    const modload::UniqueFd fd(
        ::open(modload::testing::fixture_module(file).c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd.valid());
    return errno_of(kernel.finit_module(fd.get(), "", 0));
}

const LoadedModule& listed(const ModelKernel& kernel, const std::string& name) {
    static Snapshot snapshot;
    auto read =
        Snapshot::read(FixtureSystem(kernel.proc_modules_path().parent_path().parent_path()));
    REQUIRE(read);
    snapshot = std::move(*read);
    const LoadedModule* m = snapshot.find(name);
    REQUIRE(m != nullptr);
    return *m;
}

// iptable_nat -> nf_nat -> nf_conntrack -> libcrc32c, and xfs shares libcrc32c.
void add_netfilter(ModelKernel& kernel) {
    kernel.add(module("libcrc32c"));
    kernel.add(module("xfs", {"libcrc32c"}));
    kernel.add(module("nf_conntrack", {"libcrc32c"}));
    kernel.add(module("nf_nat", {"nf_conntrack", "libcrc32c"}));
    kernel.add(module("iptable_nat", {"nf_nat"}));
}

}  // namespace

TEST_CASE("the model prints /proc/modules as the kernel does", "[model]") {
    ScratchDir dir;
    ModelKernel kernel(dir.path());
    add_netfilter(kernel);
    ModelModule dev = module("lab_dev");
    dev.references = 2;
    dev.taints = "OE";
    kernel.add(dev);
    ModelModule permanent = module("lab_permanent");
    permanent.permanent = true;
    kernel.add(permanent);
    ModelModule going = module("lab_going");
    going.state = ModuleState::unloading;
    going.exit_time = Millis{100};
    going.taints = "O";
    kernel.add(going);

    CHECK(modload::testing::read_text(kernel.proc_modules_path()).empty() == false);
    CHECK(kernel.proc_modules_text() ==
          "lab_going 16384 -1 - Unloading 0xffffffffc0700000 (O-)\n"
          "lab_permanent 16384 0 [permanent], Live 0xffffffffc0600000\n"
          "lab_dev 16384 2 - Live 0xffffffffc0500000 (OE)\n"
          "iptable_nat 16384 0 - Live 0xffffffffc0400000\n"
          "nf_nat 16384 1 iptable_nat, Live 0xffffffffc0300000\n"
          "nf_conntrack 16384 1 nf_nat, Live 0xffffffffc0200000\n"
          "xfs 16384 0 - Live 0xffffffffc0100000\n"
          "libcrc32c 16384 3 nf_nat,nf_conntrack,xfs, Live 0xffffffffc0000000\n");

    SECTION("and the library parses it back to the model's state") {
        auto snapshot = Snapshot::read(FixtureSystem(dir.path()));
        REQUIRE(snapshot);
        REQUIRE(snapshot->modules().size() == kernel.modules().size());
        for (const ModelModule& m : kernel.modules()) {
            const LoadedModule* seen = snapshot->find(m.name);
            REQUIRE(seen != nullptr);
            CHECK(seen->state == m.state);
            CHECK(seen->refcount == kernel.refcount_of(m));
            CHECK(seen->holders == kernel.holders_of(m.name));
            CHECK(seen->permanent == m.permanent);
            CHECK(seen->taints == m.taints);
            CHECK(seen->address == m.address);
            if (m.state == ModuleState::live) {
                CHECK(seen->external_references() == m.references);
            }
        }
        CHECK(snapshot->dependencies_of("nf_nat") ==
              std::vector<std::string_view>{"nf_conntrack", "libcrc32c"});
    }
}

TEST_CASE("model delete_module refuses in the kernel's order", "[model]") {
    ScratchDir dir;
    ModelKernel kernel(dir.path(), {"ext4"});
    add_netfilter(kernel);

    SECTION("ENOENT for a module that is not loaded, or built in") {
        CHECK(errno_of(kernel.delete_module("nope", O_NONBLOCK)) == ENOENT);
        CHECK(errno_of(kernel.delete_module("ext4", O_NONBLOCK)) == ENOENT);
    }
    SECTION("EWOULDBLOCK while other modules hold it, even forced") {
        CHECK(errno_of(kernel.delete_module("nf_nat", O_NONBLOCK)) == EWOULDBLOCK);
        CHECK(errno_of(kernel.delete_module("nf_nat", O_NONBLOCK | O_TRUNC)) == EWOULDBLOCK);
        CHECK(kernel.find("nf_nat") != nullptr);
    }
    SECTION("EWOULDBLOCK while references remain; O_TRUNC removes it anyway") {
        REQUIRE(kernel.get_reference("iptable_nat"));
        CHECK(errno_of(kernel.delete_module("iptable_nat", O_NONBLOCK)) == EWOULDBLOCK);
        kernel.set_force_unload(false);
        CHECK(errno_of(kernel.delete_module("iptable_nat", O_NONBLOCK | O_TRUNC)) == EWOULDBLOCK);
        kernel.set_force_unload(true);
        CHECK(errno_of(kernel.delete_module("iptable_nat", O_NONBLOCK | O_TRUNC)) == 0);
        CHECK(kernel.find("iptable_nat") == nullptr);
    }
    SECTION("EBUSY for a permanent module unless forced") {
        kernel.set_permanent("iptable_nat", true);
        CHECK(errno_of(kernel.delete_module("iptable_nat", O_NONBLOCK)) == EBUSY);
        CHECK(errno_of(kernel.delete_module("iptable_nat", O_NONBLOCK | O_TRUNC)) == 0);
    }
    SECTION("EBUSY while it is loading or unloading") {
        kernel.configure("loading", Millis{50});
        REQUIRE(kernel.other_load("loading", {}) == 0);
        CHECK(errno_of(kernel.delete_module("loading", O_NONBLOCK)) == EBUSY);
        kernel.configure("iptable_nat", Millis{0}, Millis{50});
        REQUIRE(kernel.other_remove("iptable_nat") == 0);
        CHECK(errno_of(kernel.delete_module("iptable_nat", O_NONBLOCK)) == EBUSY);
        CHECK(listed(kernel, "iptable_nat").refcount == -1);
    }
    SECTION("EPERM once modules are disabled") {
        kernel.set_modules_disabled(true);
        CHECK(errno_of(kernel.delete_module("iptable_nat", O_NONBLOCK)) == EPERM);
        CHECK(kernel.other_remove("iptable_nat") == EPERM);
    }
    CHECK(kernel.calls().back().syscall == "delete_module");
    CHECK(kernel.proc_modules_text() == modload::testing::read_text(kernel.proc_modules_path()));
}

TEST_CASE("model delete_module frees the module and drops its references on its dependencies",
          "[model]") {
    ScratchDir dir;
    ModelKernel kernel(dir.path());
    add_netfilter(kernel);
    CHECK(errno_of(kernel.delete_module("iptable_nat", O_NONBLOCK)) == 0);
    CHECK(kernel.find("iptable_nat") == nullptr);
    CHECK(listed(kernel, "nf_nat").refcount == 0);
    CHECK(listed(kernel, "nf_nat").holders.empty());
    CHECK(errno_of(kernel.delete_module("nf_nat", O_NONBLOCK)) == 0);
    CHECK(listed(kernel, "libcrc32c").holders == std::vector<std::string>{"nf_conntrack", "xfs"});
    CHECK(listed(kernel, "libcrc32c").refcount == 2);
    REQUIRE(kernel.events().size() == 4);
    CHECK(kernel.events()[1].kind == ModelEvent::Kind::removed);
    CHECK(kernel.events()[1].who == Actor::us);
    CHECK(kernel.calls().size() == 2);
}

TEST_CASE("a slow exit leaves the module Unloading while other processes act", "[model]") {
    ScratchDir dir;
    ModelKernel kernel(dir.path());
    add_netfilter(kernel);
    kernel.configure("iptable_nat", Millis{0}, Millis{40});
    std::vector<int> refcounts;
    std::vector<Millis> times;
    kernel.on_step([&](StepPoint point) {
        if (point == StepPoint::inside_exit) {
            refcounts.push_back(*listed(kernel, "iptable_nat").refcount);
            times.push_back(kernel.now());
            // Another process: the module is going, so neither call gets through.
            CHECK_FALSE(kernel.get_reference("iptable_nat"));
            CHECK(kernel.other_remove("iptable_nat") == EBUSY);
            CHECK(kernel.other_load("iptable_nat", {"nf_nat"}) == EBUSY);
        }
    });
    CHECK(errno_of(kernel.delete_module("iptable_nat", O_NONBLOCK)) == 0);
    CHECK(kernel.now() == Millis{40});
    CHECK(times == std::vector<Millis>{Millis{0}, Millis{5}, Millis{10}, Millis{15}, Millis{20},
                                       Millis{25}, Millis{30}, Millis{35}});
    CHECK(refcounts == std::vector<int>(8, -1));
    CHECK(kernel.find("iptable_nat") == nullptr);
}

TEST_CASE("model loads read the name and depends= from the image", "[model]") {
    ScratchDir dir;
    ModelKernel kernel(dir.path(), {"ext4"});
    SECTION("a missing dependency is an unknown symbol") {
        CHECK(load_fixture(kernel, "fixture-provider.ko") == ENOENT);
        CHECK(kernel.calls().back().name == "fixture_provider");
        CHECK(kernel.modules().empty());
    }
    SECTION("the chain loads in order; builtin ext4 counts as present") {
        CHECK(load_fixture(kernel, "fixture_base.ko") == 0);
        CHECK(load_fixture(kernel, "fixture-provider.ko") == 0);
        CHECK(load_fixture(kernel, "fixture_consumer.ko") == 0);
        CHECK(listed(kernel, "fixture_base").holders ==
              std::vector<std::string>{"fixture_provider"});
        CHECK(listed(kernel, "fixture_provider").refcount == 1);
        CHECK(listed(kernel, "fixture_consumer").state == ModuleState::live);
        SECTION("and a second load of a Live module is EEXIST") {
            CHECK(load_fixture(kernel, "fixture_base.ko") == EEXIST);
        }
        SECTION("init_module takes the image from memory") {
            const auto image =
                modload::testing::read_bytes(modload::testing::fixture_module("fixture_base.ko"));
            CHECK(errno_of(kernel.init_module(image, "")) == EEXIST);
            CHECK(kernel.calls().back().syscall == "init_module");
        }
    }
    SECTION("a dependency that is going is an unknown symbol too") {
        ModelModule base = module("fixture_base");
        base.state = ModuleState::unloading;
        base.exit_time = Millis{10};
        kernel.add(base);
        CHECK(load_fixture(kernel, "fixture-provider.ko") == ENOENT);
    }
    SECTION("a load of a module that is going is EBUSY") {
        ModelModule base = module("fixture_base");
        base.state = ModuleState::unloading;
        base.exit_time = Millis{10};
        kernel.add(base);
        CHECK(load_fixture(kernel, "fixture_base.ko") == EBUSY);
    }
    SECTION("a file that is not a module is ENOEXEC") {
        const modload::UniqueFd fd(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
        CHECK(errno_of(kernel.finit_module(fd.get(), "", 0)) == ENOEXEC);
    }
    SECTION("an unknown flag is EINVAL") {
        const modload::UniqueFd fd(
            ::open(modload::testing::fixture_module("fixture_base.ko").c_str(), O_RDONLY));
        CHECK(errno_of(kernel.finit_module(fd.get(), "", 64)) == EINVAL);
    }
}

TEST_CASE("a load waits for a module of the same name that is still loading", "[model]") {
    ScratchDir dir;
    ModelKernel kernel(dir.path());
    SECTION("it went Live: EEXIST") {
        kernel.configure("fixture_base", Millis{30});
        REQUIRE(kernel.other_load("fixture_base", {}) == 0);
        CHECK(kernel.other_load("fixture_base", {}) == EINPROGRESS);
        CHECK(listed(kernel, "fixture_base").state == ModuleState::loading);
        CHECK(load_fixture(kernel, "fixture_base.ko") == EEXIST);
        CHECK(kernel.now() == Millis{30});
        CHECK(kernel.events().back().kind == ModelEvent::Kind::loaded);
        CHECK(kernel.events().back().who == Actor::other);
    }
    SECTION("its init failed: EBUSY") {
        kernel.configure("fixture_base", Millis{30}, Millis{0}, ENODEV);
        REQUIRE(kernel.other_load("fixture_base", {}) == 0);
        CHECK(load_fixture(kernel, "fixture_base.ko") == EBUSY);
        CHECK(kernel.find("fixture_base") == nullptr);
        CHECK(kernel.events().back().kind == ModelEvent::Kind::load_failed);
    }
}

TEST_CASE("a load waits for a dependency that is still loading", "[model]") {
    ScratchDir dir;
    ModelKernel kernel(dir.path());
    kernel.configure("fixture_base", Millis{20});
    REQUIRE(kernel.other_load("fixture_base", {}) == 0);
    CHECK(kernel.other_load("fixture_provider", {"fixture_base"}) == EINPROGRESS);
    CHECK(load_fixture(kernel, "fixture-provider.ko") == 0);
    CHECK(kernel.now() == Millis{20});
    CHECK(listed(kernel, "fixture_base").holders == std::vector<std::string>{"fixture_provider"});
}

TEST_CASE("our slow init is Loading meanwhile, then Live or freed with its errno", "[model]") {
    ScratchDir dir;
    ModelKernel kernel(dir.path());
    std::vector<ModuleState> seen;
    kernel.on_step([&](StepPoint point) {
        if (point == StepPoint::inside_init) {
            seen.push_back(listed(kernel, "fixture_base").state);
            CHECK(kernel.other_remove("fixture_base") == EBUSY);
        }
    });
    SECTION("Live") {
        kernel.configure("fixture_base", Millis{12});
        CHECK(load_fixture(kernel, "fixture_base.ko") == 0);
        CHECK(seen == std::vector<ModuleState>(3, ModuleState::loading));
        CHECK(kernel.find("fixture_base")->state == ModuleState::live);
    }
    SECTION("its init fails") {
        kernel.configure("fixture_base", Millis{12}, Millis{0}, ENODEV);
        CHECK(load_fixture(kernel, "fixture_base.ko") == ENODEV);
        CHECK(kernel.find("fixture_base") == nullptr);
        CHECK(kernel.events().back().kind == ModelEvent::Kind::load_failed);
        CHECK(kernel.events().back().who == Actor::us);
    }
    CHECK(kernel.now() == Millis{12});
}

TEST_CASE("a queued errno answers the next call once, with no effect", "[model]") {
    ScratchDir dir;
    ModelKernel kernel(dir.path());
    kernel.add(module("a"));
    kernel.fail_next("delete_module", EINTR);
    CHECK(errno_of(kernel.delete_module("a", O_NONBLOCK)) == EINTR);
    CHECK(kernel.find("a") != nullptr);
    CHECK(errno_of(kernel.delete_module("a", O_NONBLOCK)) == 0);
    kernel.fail_next("finit_module", ENOMEM);
    CHECK(load_fixture(kernel, "fixture_base.ko") == ENOMEM);
    CHECK(kernel.find("fixture_base") == nullptr);
    CHECK(load_fixture(kernel, "fixture_base.ko") == 0);
    CHECK_THROWS_AS(kernel.fail_next("delete_module", EXDEV), std::invalid_argument);
    CHECK_THROWS_AS(kernel.fail_next("finit_module", ETIMEDOUT), std::invalid_argument);
}

TEST_CASE("references from other processes count in the refcount", "[model]") {
    ScratchDir dir;
    ModelKernel kernel(dir.path());
    add_netfilter(kernel);
    CHECK(kernel.get_reference("nf_nat"));
    CHECK(kernel.get_reference("nf_nat"));
    CHECK(listed(kernel, "nf_nat").refcount == 3);
    CHECK(listed(kernel, "nf_nat").external_references() == 2);
    CHECK(kernel.put_reference("nf_nat"));
    CHECK(kernel.put_reference("nf_nat"));
    CHECK_FALSE(kernel.put_reference("nf_nat"));
    CHECK_FALSE(kernel.get_reference("nope"));
    CHECK(listed(kernel, "nf_nat").refcount == 1);
}

TEST_CASE("the model clock lets simulated time pass and others finish meanwhile", "[model]") {
    ScratchDir dir;
    ModelKernel kernel(dir.path());
    ModelModule going = module("going");
    going.state = ModuleState::unloading;
    going.exit_time = Millis{25};
    kernel.add(going);
    ModelClock clock(kernel);
    int steps = 0;
    kernel.on_step([&](StepPoint point) { steps += point == StepPoint::clock ? 1 : 0; });
    clock.sleep_for(Millis{20});
    CHECK(kernel.find("going") != nullptr);
    clock.sleep_for(Millis{20});
    CHECK(kernel.find("going") == nullptr);
    CHECK(clock.now() - std::chrono::steady_clock::time_point{} == Millis{40});
    CHECK(steps == 1 + 4 + 1 + 4 + 1);
    CHECK(kernel.events().back().who == Actor::other);
    SECTION("a sleep returns early once interrupted") {
        clock.interrupt_when([&] { return kernel.now() >= Millis{50}; });
        clock.sleep_for(Millis{1000});
        CHECK(kernel.now() == Millis{50});
    }
}
