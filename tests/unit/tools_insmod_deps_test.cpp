// insmod's explanations (the kernel's log, missing dependencies) and --deps, in-process.
#include <cerrno>
#include <csignal>
#include <fstream>

#include <unistd.h>

#include <catch2/catch.hpp>

#include <modload/kernel_log.hpp>
#include <modload/load_plan.hpp>

#include "fixtures.hpp"
#include "model_kernel.hpp"
#include "tool.hpp"

using modload::testing::FakeKernel;
using modload::testing::fixture_module;
using modload::testing::run_tool;
using modload::testing::ScratchDir;
using modload::testing::write_text;
namespace fs = std::filesystem;

namespace {

// A root with /proc/modules, modules.builtin (ext4), an old kernel log, and the fixture chain
// copied into `modules/`, side by side as out-of-tree modules built together are.
struct ChainRoot {
    ScratchDir dir;
    fs::path root = dir.path();
    fs::path modules = root / "modules";

    explicit ChainRoot(const std::string& loaded = "xfs 16384 0 - Live 0x0\n") {
        write_text(root / "proc/modules", loaded);
        write_text(root / "lib/modules/6.1.0-test/modules.builtin", "kernel/fs/ext4/ext4.ko\n");
        write_text(root / "dev/kmsg", "6,1,100,-;an old record about fixture_consumer: x\n");
        fs::create_directories(modules);
        fs::copy_file(fixture_module("fixture_consumer.ko"), modules / "fixture_consumer.ko");
        fs::copy_file(fixture_module("fixture-provider.ko"), modules / "fixture-provider.ko");
        fs::copy_file(fixture_module("fixture_base.ko"), modules / "fixture_base.ko");
    }
};

std::vector<std::string> loaded_names(const FakeKernel& kernel) {
    std::vector<std::string> out;
    for (const auto& call : kernel.calls()) {
        out.push_back(call.syscall + " " + call.parameters);
    }
    return out;
}

}  // namespace

TEST_CASE("the kernel log reader sees only records logged after it opened", "[insmod]") {
    ScratchDir dir;
    write_text(dir / "dev/kmsg", "6,1,100,-;before\n");
    const modload::testing::FixtureSystem system(dir.path());  // the log reads through it
    auto log = modload::KernelLog::open_at_end(system);
    REQUIRE(log);
    {
        std::ofstream append(dir / "dev/kmsg", std::ios::app);
        append << "3,2,200,-;lab: Unknown symbol x (err -2)\n KEY=value\n4,3,300,c;other: y\n";
    }
    auto messages = log->read_new();
    REQUIRE(messages);
    CHECK(*messages == std::vector<std::string>{"lab: Unknown symbol x (err -2)", "other: y"});
    CHECK(modload::messages_about(*messages, "lab") ==
          std::vector<std::string>{"lab: Unknown symbol x (err -2)"});
    CHECK(modload::messages_about(*messages, "la").empty());
    auto again = log->read_new();
    REQUIRE(again);
    CHECK(again->empty());
}

TEST_CASE("insmod prints what the kernel logged about the module it refused", "[insmod]") {
    ChainRoot r;
    FakeKernel kernel;
    kernel.fail_next("finit_module", ENOENT);
    kernel.log_next_load(r.root / "dev/kmsg",
                         "fixture_consumer: Unknown symbol fixture_provider_value (err -2)");
    const std::string file = (r.modules / "fixture_consumer.ko").string();
    const auto run = run_tool("insmod", kernel, r.root, {file});
    CHECK(run.status == 1);
    CHECK(run.err ==
          "insmod: ERROR: could not insert module " + file +
              ": Unknown symbol in module\n"
              "insmod: kernel: fixture_consumer: Unknown symbol fixture_provider_value (err -2)\n"
              "insmod: missing dependencies: fixture_provider (load them first, or use insmod "
              "--deps)\n");
}

TEST_CASE("insmod names no missing dependency when the failure is not an unknown symbol",
          "[insmod]") {
    ChainRoot r;
    FakeKernel kernel;
    kernel.fail_next("finit_module", EINVAL);
    kernel.log_next_load(r.root / "dev/kmsg", "fixture_consumer: Unknown parameter `bogus'");
    const std::string file = (r.modules / "fixture_consumer.ko").string();
    const auto run = run_tool("insmod", kernel, r.root, {file, "bogus=1"});
    CHECK(run.status == 1);
    CHECK(run.err == "insmod: ERROR: could not insert module " + file +
                         ": Invalid parameters\n"
                         "insmod: kernel: fixture_consumer: Unknown parameter `bogus'\n");
}

TEST_CASE("insmod --deps loads the missing dependencies first, from FILE's folder", "[insmod]") {
    ChainRoot r;
    FakeKernel kernel;
    const std::string file = (r.modules / "fixture_consumer.ko").string();
    const auto run = run_tool("insmod", kernel, r.root, {"--deps", file, "count=1"});
    CHECK(run.err.empty());
    CHECK(run.status == 0);
    // base, then provider, then the module with its parameters; ext4 is builtin.
    CHECK(loaded_names(kernel) ==
          std::vector<std::string>{"finit_module ", "finit_module ", "finit_module count=1"});
}

TEST_CASE("insmod --deps --dry-run prints the load plan and loads nothing", "[insmod]") {
    ChainRoot r;
    FakeKernel kernel;
    const std::string file = (r.modules / "fixture_consumer.ko").string();
    const auto run = run_tool("insmod", kernel, r.root, {"-d", "-n", file});
    CHECK(run.status == 0);
    CHECK(run.out == (r.modules / "fixture_base.ko").string() + "\n" +
                         (r.modules / "fixture-provider.ko").string() + "\n" + file + "\n");
    CHECK(kernel.calls().empty());
}

TEST_CASE("insmod --deps skips what is loaded and takes modules.dep first", "[insmod]") {
    ChainRoot r("fixture_base 16384 0 - Live 0x0\n");  // provider is beside FILE too
    write_text(r.root / "lib/modules/6.1.0-test/modules.dep",
               "extra/fixture-provider.ko: extra/fixture_base.ko\nextra/fixture_base.ko:\n");
    fs::create_directories(r.root / "lib/modules/6.1.0-test/extra");
    fs::copy_file(fixture_module("fixture-provider.ko"),
                  r.root / "lib/modules/6.1.0-test/extra/fixture-provider.ko");
    FakeKernel kernel;
    const std::string file = (r.modules / "fixture_consumer.ko").string();
    const auto run = run_tool("insmod", kernel, r.root, {"--deps", "--dry-run", file});
    CHECK(run.status == 0);
    CHECK(run.out == (r.root / "lib/modules/6.1.0-test/extra/fixture-provider.ko").string() + "\n" +
                         file + "\n");
}

TEST_CASE("insmod --deps stops at a failing dependency and removes what it loaded for it",
          "[insmod]") {
    ChainRoot r;
    modload::testing::ModelKernel kernel(r.root, {"ext4"});
    // The provider is refused; its dependency, loaded first, goes.
    kernel.configure("fixture_provider", modload::testing::Millis{0}, modload::testing::Millis{0},
                     ENOEXEC);
    const std::string file = (r.modules / "fixture_consumer.ko").string();
    const std::string provider = (r.modules / "fixture-provider.ko").string();
    const auto run = run_tool("insmod", kernel, r.root, {"--deps", file});
    CHECK(run.status == 1);
    CHECK(run.err == "insmod: ERROR: could not insert module " + provider +
                         ": Invalid module format\n"
                         "insmod: stopped before loading " +
                         file + "; loaded for it and removed again: fixture_base\n");
    REQUIRE(kernel.calls().size() == 3);
    CHECK(kernel.calls()[2].syscall == "delete_module");
    CHECK(kernel.calls()[2].name == "fixture_base");
    CHECK(kernel.find("fixture_base") == nullptr);

    SECTION("--keep-dependencies leaves them loaded") {
        kernel.reset();
        kernel.configure("fixture_provider", modload::testing::Millis{0},
                         modload::testing::Millis{0}, ENOEXEC);
        const auto kept = run_tool("insmod", kernel, r.root, {"-d", "--keep-dependencies", file});
        CHECK(kept.status == 1);
        CHECK(kept.err.find("; loaded for it and still loaded: fixture_base\n") !=
              std::string::npos);
        CHECK(kernel.calls().size() == 2);
        CHECK(kernel.find("fixture_base") != nullptr);
    }
}

TEST_CASE("insmod --deps removes the dependencies when FILE itself fails, newest first",
          "[insmod]") {
    ChainRoot r;
    modload::testing::ModelKernel kernel(r.root, {"ext4"});
    kernel.configure("fixture_consumer", modload::testing::Millis{0}, modload::testing::Millis{0},
                     ENODEV);
    const std::string file = (r.modules / "fixture_consumer.ko").string();
    const auto run = run_tool("insmod", kernel, r.root, {"--deps", file});
    CHECK(run.status == 1);
    CHECK(run.err == "insmod: ERROR: could not insert module " + file +
                         ": No such device\n"
                         "insmod: its dependencies loaded for it and removed again: "
                         "fixture_provider fixture_base\n");
    CHECK(kernel.modules().empty());
}

TEST_CASE("insmod --deps keeps a dependency someone started to use before it fails", "[insmod]") {
    ChainRoot r;
    modload::testing::ModelKernel kernel(r.root, {"ext4"});
    kernel.configure("fixture_consumer", modload::testing::Millis{0}, modload::testing::Millis{0},
                     ENODEV);
    // While FILE loads, another process opens a device of fixture_base.
    kernel.on_step([&, calls = 0](modload::testing::StepPoint point) mutable {
        if (point == modload::testing::StepPoint::syscall_entry && ++calls == 3) {
            REQUIRE(kernel.get_reference("fixture_base"));
        }
    });
    const std::string file = (r.modules / "fixture_consumer.ko").string();
    const auto run = run_tool("insmod", kernel, r.root, {"--deps", file});
    CHECK(run.status == 1);
    CHECK(run.err.find("insmod: its dependencies loaded for it and removed again: "
                       "fixture_provider; loaded for it and still loaded: fixture_base (now in "
                       "use)\n") != std::string::npos);
    CHECK(kernel.find("fixture_base") != nullptr);
    CHECK(kernel.find("fixture_provider") == nullptr);
}

TEST_CASE("insmod --deps names a dependency it cannot find, and loads nothing", "[insmod]") {
    ChainRoot r;
    fs::remove(r.modules / "fixture_base.ko");
    FakeKernel kernel;
    const std::string file = (r.modules / "fixture_consumer.ko").string();
    const auto run = run_tool("insmod", kernel, r.root, {"--deps", file});
    CHECK(run.status == 1);
    CHECK(run.err == "insmod: ERROR: could not resolve the dependencies of " + file +
                         ": No such file or directory (dependency fixture_base not found in "
                         "modules.dep and " +
                         r.modules.string() + ")\n");
    CHECK(kernel.calls().empty());
}

TEST_CASE("insmod --deps refuses a dependency cycle", "[insmod]") {
    ScratchDir dir;
    write_text(dir / "proc/modules", "");
    fs::copy_file(fixture_module("fixture_cycle_a.ko"), dir / "fixture_cycle_a.ko");
    fs::copy_file(fixture_module("fixture_cycle_b.ko"), dir / "fixture_cycle_b.ko");
    FakeKernel kernel;
    const std::string file = (dir / "fixture_cycle_a.ko").string();
    const auto run = run_tool("insmod", kernel, dir.path(), {"--deps", file});
    CHECK(run.status == 1);
    CHECK(run.err.find("dependencies form a cycle: fixture_cycle_a -> fixture_cycle_b -> "
                       "fixture_cycle_a") != std::string::npos);
    CHECK(kernel.calls().empty());
}

TEST_CASE("insmod --deps with standard input is a usage error", "[insmod]") {
    ScratchDir dir;
    FakeKernel kernel;
    const auto run = run_tool("insmod", kernel, dir.path(), {"--deps", "-"});
    CHECK(run.status == 1);
    CHECK(run.err == "insmod: ERROR: --deps needs a module file, not standard input\n");
}

TEST_CASE("insmod --deps carries on when someone else loads a dependency first", "[insmod]") {
    ChainRoot r;
    modload::testing::ModelKernel kernel(r.root, {"ext4"});
    // udev loads fixture_base between our read of /proc/modules and our finit_module of it.
    kernel.on_step([&, done = false](modload::testing::StepPoint point) mutable {
        if (!done && point == modload::testing::StepPoint::syscall_entry) {
            done = true;
            REQUIRE(kernel.other_load("fixture_base", {}) == 0);
        }
    });
    const std::string file = (r.modules / "fixture_consumer.ko").string();
    const auto run = run_tool("insmod", kernel, r.root, {"-v", "--deps", file});
    CHECK(run.status == 0);
    CHECK(run.err.find("insmod: INFO: fixture_base was loaded meanwhile by another process\n") !=
          std::string::npos);
    REQUIRE(kernel.calls().size() == 3);
    CHECK(kernel.calls()[0].answer == EEXIST);
    CHECK(kernel.find("fixture_consumer") != nullptr);
    CHECK(kernel.find("fixture_provider") != nullptr);
}

TEST_CASE("insmod says File exists when the module it was asked for is already loaded",
          "[insmod]") {
    ChainRoot r;
    modload::testing::ModelKernel kernel(r.root, {"ext4"});
    kernel.add({.name = "fixture_base"});
    kernel.add({.name = "fixture_provider", .uses = {"fixture_base"}});
    kernel.on_step([&, done = false](modload::testing::StepPoint point) mutable {
        if (!done && point == modload::testing::StepPoint::syscall_entry) {
            done = true;
            REQUIRE(kernel.other_load("fixture_consumer", {"fixture_provider"}) == 0);
        }
    });
    const std::string file = (r.modules / "fixture_consumer.ko").string();
    const auto run = run_tool("insmod", kernel, r.root, {"--deps", file});
    CHECK(run.status == 1);
    CHECK(run.err == "insmod: ERROR: could not insert module " + file + ": File exists\n");
}

TEST_CASE("insmod --deps stops before the next load once a signal arrived", "[insmod]") {
    ChainRoot r;
    modload::testing::ModelKernel kernel(r.root, {"ext4"});
    kernel.on_step([&](modload::testing::StepPoint point) {
        if (point == modload::testing::StepPoint::syscall_entry) {
            modload::tools::note_stop_signal(SIGINT);  // during the first load
        }
    });
    const std::string file = (r.modules / "fixture_consumer.ko").string();
    const auto run = run_tool("insmod", kernel, r.root, {"--deps", file});
    CHECK(run.status == 1);
    CHECK(run.err == "insmod: ERROR: interrupted before loading " +
                         (r.modules / "fixture-provider.ko").string() +
                         "\ninsmod: stopped before loading " + file +
                         "; loaded before the failure, and still loaded: fixture_base\n");
    CHECK(kernel.calls().size() == 1);
    CHECK(modload::tools::stop_signal() == SIGINT);
    modload::tools::clear_stop_signal();
}

namespace {

std::string plan_of(ChainRoot& r, const std::vector<std::string>& flags) {
    FakeKernel kernel;
    std::vector<std::string> args = flags;
    args.push_back((r.modules / "fixture_consumer.ko").string());
    const auto run = run_tool("insmod", kernel, r.root, args);
    CHECK(kernel.calls().empty());
    return run.out + run.err;
}

}  // namespace

TEST_CASE("insmod --deps never looks below FILE's folder", "[insmod]") {
    ChainRoot r;
    fs::create_directories(r.modules / "sub");
    fs::rename(r.modules / "fixture_base.ko", r.modules / "sub/fixture_base.ko");
    CHECK(plan_of(r, {"-d", "-n"}).find("dependency fixture_base not found") != std::string::npos);
}

TEST_CASE("insmod --deps -v says where each dependency came from", "[insmod]") {
    ChainRoot r("fixture_base 16384 0 - Live 0x0\n");
    fs::remove(r.modules / "fixture_base.ko");
    write_text(r.root / "lib/modules/6.1.0-test/modules.dep", "extra/fixture-provider.ko:\n");
    fs::create_directories(r.root / "lib/modules/6.1.0-test/extra");
    fs::copy_file(fixture_module("fixture-provider.ko"),
                  r.root / "lib/modules/6.1.0-test/extra/fixture-provider.ko");
    const std::string out = plan_of(r, {"-d", "-n", "-v"});
    CHECK(out.find("insmod: INFO: dependency fixture_provider: " +
                   (r.root / "lib/modules/6.1.0-test/extra/fixture-provider.ko").string() +
                   " (modules.dep)\n") != std::string::npos);

    ChainRoot beside("fixture_base 16384 0 - Live 0x0\n");
    CHECK(plan_of(beside, {"-d", "-n", "-v"})
              .find("insmod: INFO: dependency fixture_provider: " +
                    (beside.modules / "fixture-provider.ko").string() + " (beside the module)\n") !=
          std::string::npos);
}

TEST_CASE("insmod --deps refuses a dependency another user could have written", "[insmod]") {
    SECTION("a world-writable folder") {
        ChainRoot r;
        fs::permissions(r.modules, fs::perms::others_write | fs::perms::group_write,
                        fs::perm_options::add);
        CHECK(plan_of(r, {"-d", "-n"})
                  .find("Operation not permitted (folder " + r.modules.string() +
                        " is writable by others (mode 0777); not trusted)") != std::string::npos);
    }
    SECTION("a sticky folder, as /tmp") {
        ChainRoot r;
        fs::permissions(r.modules, fs::perms::sticky_bit, fs::perm_options::add);
        CHECK(plan_of(r, {"-d", "-n"}).find("is sticky") != std::string::npos);
    }
    SECTION("a group-writable file") {
        ChainRoot r;
        fs::permissions(r.modules / "fixture_base.ko", fs::perms::group_write,
                        fs::perm_options::add);
        CHECK(plan_of(r, {"-d", "-n"})
                  .find((r.modules / "fixture_base.ko").string() + " is writable by others") !=
              std::string::npos);
    }
    SECTION("a file owned by another user") {
        ChainRoot r;
        if (::geteuid() == 0) {  // only root can give a file away
            REQUIRE(::chown((r.modules / "fixture_base.ko").c_str(), 65534, 65534) == 0);
            CHECK(plan_of(r, {"-d", "-n"}).find("is owned by uid 65534; not trusted") !=
                  std::string::npos);
        }
        CHECK(modload::untrusted_because(0100644, 65534, 0) == "owned by uid 65534");
        CHECK(modload::untrusted_because(0100644, 1000, 1000) == std::nullopt);
        CHECK(modload::untrusted_because(0100644, 0, 1000) == std::nullopt);
        CHECK(modload::untrusted_because(040777, 0, 0) == "writable by others (mode 0777)");
    }
}

TEST_CASE("insmod --deps loads the very file it inspected, even if the path is replaced",
          "[insmod]") {
    ChainRoot r;
    modload::testing::ModelKernel kernel(r.root, {"ext4"});
    // As the first dependency loads, someone puts another module at the provider's path.
    kernel.on_step([&, done = false](modload::testing::StepPoint point) mutable {
        if (!done && point == modload::testing::StepPoint::syscall_entry) {
            done = true;
            fs::copy_file(fixture_module("fixture_cycle_a.ko"), r.modules / "swapped.ko");
            fs::rename(r.modules / "swapped.ko", r.modules / "fixture-provider.ko");
        }
    });
    const std::string file = (r.modules / "fixture_consumer.ko").string();
    const auto run = run_tool("insmod", kernel, r.root, {"--deps", file});
    CHECK(run.status == 0);
    REQUIRE(kernel.calls().size() == 3);
    CHECK(kernel.calls()[1].name == "fixture_provider");  // what the plan read, not the new file
    CHECK(kernel.find("fixture_cycle_a") == nullptr);
}

TEST_CASE(
    "insmod --deps plans modules.dep's modules without opening them, and opens each at its "
    "turn",
    "[insmod]") {
    ChainRoot r;
    fs::remove(r.modules / "fixture_base.ko");
    fs::remove(r.modules / "fixture-provider.ko");
    const fs::path kernel_dir = r.root / "lib/modules/6.1.0-test";
    write_text(kernel_dir / "modules.dep",
               "extra/fixture-provider.ko: extra/fixture_base.ko\nextra/fixture_base.ko:\n");
    fs::create_directories(kernel_dir / "extra");
    // Not a module at all: planning does not read it, loading it fails at its turn.
    write_text(kernel_dir / "extra/fixture_base.ko", "not an ELF file\n");
    fs::copy_file(fixture_module("fixture-provider.ko"), kernel_dir / "extra/fixture-provider.ko");
    const std::string file = (r.modules / "fixture_consumer.ko").string();
    const std::string base = (kernel_dir / "extra/fixture_base.ko").string();

    CHECK(plan_of(r, {"-d", "-n"}) ==
          base + "\n" + (kernel_dir / "extra/fixture-provider.ko").string() + "\n" + file + "\n");

    modload::testing::ModelKernel kernel(r.root, {"ext4"});
    const auto run = run_tool("insmod", kernel, r.root, {"--deps", file});
    CHECK(run.status == 1);
    CHECK(run.err.find("insmod: ERROR: could not insert module " + base +
                       ": Invalid module format") == 0);
    // A module modules.dep lists goes to the kernel as it is (depmod has read it, the kernel
    // checks what it reads), as with kmod's modprobe: refused there, and nothing is loaded.
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].syscall == "finit_module");
    CHECK(kernel.find("fixture_base") == nullptr);

    SECTION("and still refuses one another user could have written, before loading anything") {
        fs::permissions(kernel_dir / "extra/fixture-provider.ko", fs::perms::others_write,
                        fs::perm_options::add);
        CHECK(plan_of(r, {"-d", "-n"}).find("fixture-provider.ko is writable by others") !=
              std::string::npos);
    }
}
