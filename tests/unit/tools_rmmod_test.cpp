#include <cerrno>

#include <fcntl.h>

#include <catch2/catch.hpp>

#include "fixtures.hpp"

using modload::testing::fixture_root;
using modload::testing::FakeKernel;
using modload::testing::run_tool;

namespace {
modload::testing::ToolRun rmmod(FakeKernel& kernel, const std::vector<std::string>& args) {
    return run_tool("rmmod", kernel, fixture_root("basic"), args);
}
}  // namespace

TEST_CASE("rmmod removes an unused module and says nothing", "[rmmod]") {
    FakeKernel kernel;
    const auto run = rmmod(kernel, {"iptable_nat"});
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    CHECK(run.out.empty());
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].name == "iptable_nat");
    CHECK(kernel.calls()[0].flags == O_NONBLOCK);
}

TEST_CASE("rmmod takes a file path or a dashed name for the module", "[rmmod]") {
    FakeKernel kernel;
    const auto run = rmmod(kernel, {"/lib/modules/6.1.0/kernel/iptable-nat.ko.xz", "lab-permanent"});
    CHECK(run.status == 0);
    REQUIRE(kernel.calls().size() == 2);
    CHECK(kernel.calls()[0].name == "iptable_nat");
    CHECK(kernel.calls()[1].name == "lab_permanent");
}

TEST_CASE("rmmod judges each argument after the ones before it are gone", "[rmmod]") {
    // kmod reads each module's holders afresh, so `rmmod iptable_nat ip_tables x_tables` works.
    modload::testing::ScratchDir dir;
    const auto root = modload::testing::copy_fixture_root("basic", dir);
    FakeKernel kernel;
    kernel.maintain_proc_modules(root / "proc/modules");
    const auto run = run_tool("rmmod", kernel, root, {"iptable_nat", "ip_tables", "x_tables"});
    CHECK(run.err.empty());
    CHECK(run.status == 0);
    REQUIRE(kernel.calls().size() == 3);
    CHECK(kernel.calls()[2].name == "x_tables");
}

TEST_CASE("rmmod refuses in kmod's words, and never asks the kernel", "[rmmod]") {
    FakeKernel kernel;
    SECTION("builtin") {
        const auto run = rmmod(kernel, {"ext4"});
        CHECK(run.status == 1);
        CHECK(run.err == "rmmod: ERROR: Module ext4 is builtin.\n");
    }
    SECTION("builtin, seen only in /sys/module") {
        const auto run = rmmod(kernel, {"vt"});
        CHECK(run.status == 1);
        CHECK(run.err == "rmmod: ERROR: Module vt is builtin.\n");
    }
    SECTION("not loaded") {
        const auto run = rmmod(kernel, {"nonexistent"});
        CHECK(run.status == 1);
        CHECK(run.err == "rmmod: ERROR: Module nonexistent is not currently loaded\n");
    }
    SECTION("held by other modules") {
        const auto run = rmmod(kernel, {"libcrc32c"});
        CHECK(run.status == 1);
        CHECK(run.err == "rmmod: ERROR: Module libcrc32c is in use by: nf_nat nf_conntrack xfs\n");
    }
    SECTION("in use from outside modules") {
        const auto run = rmmod(kernel, {"lab_dev"});
        CHECK(run.status == 1);
        CHECK(run.err == "rmmod: ERROR: Module lab_dev is in use\n");
    }
    SECTION("a name with a slash that is no module") {
        const auto run = rmmod(kernel, {"dir/"});
        CHECK(run.status == 1);
        CHECK(run.err == "rmmod: ERROR: could not use module dir/: Invalid argument (not a module name)\n");
    }
    CHECK(kernel.calls().empty());
}

TEST_CASE("rmmod says unloading is unsupported when the kernel cannot unload", "[rmmod]") {
    FakeKernel kernel;
    const auto run = run_tool("rmmod", kernel, fixture_root("nounload"), {"xfs"});
    CHECK(run.status == 1);
    CHECK(run.err == "rmmod: ERROR: Module unloading is not supported\n");
    CHECK(kernel.calls().empty());
}

TEST_CASE("rmmod reports the kernel's refusal with strerror", "[rmmod]") {
    FakeKernel kernel;
    kernel.fail_delete("lab_permanent", EBUSY);
    const auto run = rmmod(kernel, {"lab_permanent"});
    CHECK(run.status == 1);
    CHECK(run.err == "rmmod: ERROR: could not remove module lab_permanent: Device or resource busy\n");
}

TEST_CASE("rmmod goes on after a failed argument and exits 1", "[rmmod]") {
    FakeKernel kernel;
    const auto run = rmmod(kernel, {"nonexistent", "iptable_nat", "libcrc32c", "lab_permanent"});
    CHECK(run.status == 1);
    REQUIRE(kernel.calls().size() == 2);
    CHECK(kernel.calls()[0].name == "iptable_nat");
    CHECK(kernel.calls()[1].name == "lab_permanent");
}

TEST_CASE("rmmod -f skips the checks and forces with O_TRUNC", "[rmmod]") {
    FakeKernel kernel;
    const auto run = rmmod(kernel, {"-f", "lab_dev"});
    CHECK(run.status == 0);
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].flags == (O_NONBLOCK | O_TRUNC));
}

TEST_CASE("rmmod -f on a module that is not loaded reports the kernel's ENOENT", "[rmmod]") {
    FakeKernel kernel;
    kernel.fail_delete("nonexistent", ENOENT);
    const auto run = rmmod(kernel, {"--force", "nonexistent"});
    CHECK(run.status == 1);
    CHECK(run.err == "rmmod: ERROR: could not remove module nonexistent: No such file or directory\n");
}

TEST_CASE("rmmod usage: no module, unknown option, help and version", "[rmmod]") {
    FakeKernel kernel;
    const auto none = rmmod(kernel, {});
    CHECK(none.status == 1);
    CHECK(none.err == "rmmod: ERROR: missing module name.\n");

    const auto bad = rmmod(kernel, {"--bogus", "xfs"});
    CHECK(bad.status == 1);
    CHECK(bad.err.rfind("rmmod: ERROR: ", 0) == 0);

    const auto help = rmmod(kernel, {"--help"});
    CHECK(help.status == 0);
    CHECK(help.out.find("--force") != std::string::npos);

    const auto version = rmmod(kernel, {"-V"});
    CHECK(version.status == 0);
    CHECK(version.out.rfind("modload version ", 0) == 0);
    CHECK(kernel.calls().empty());
}

TEST_CASE("rmmod -v says what it removed", "[rmmod]") {
    FakeKernel kernel;
    const auto run = rmmod(kernel, {"-v", "iptable_nat"});
    CHECK(run.status == 0);
    CHECK(run.err == "rmmod: INFO: removed iptable_nat\n");
}

TEST_CASE("rmmod -s sends its errors to syslog, not stderr", "[rmmod]") {
    FakeKernel kernel;
    const auto run = rmmod(kernel, {"-s", "nonexistent"});
    CHECK(run.status == 1);
    CHECK(run.err.empty());
}

TEST_CASE("rmmod on a kernel without module support says so", "[rmmod]") {
    FakeKernel kernel;
    modload::testing::ScratchDir dir;
    const auto run = run_tool("rmmod", kernel, dir.path(), {"xfs"});
    CHECK(run.status == 1);
    CHECK(run.err.find("this kernel has no loadable module support") != std::string::npos);
}
