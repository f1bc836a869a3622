// rmmod's waiting and dependency-aware removal, run in-process with a fake kernel and clock.
#include <cerrno>
#include <csignal>

#include <fcntl.h>

#include <catch2/catch.hpp>

#include "fake_clock.hpp"
#include "fixtures.hpp"

using modload::testing::copy_fixture_root;
using modload::testing::FakeClock;
using modload::testing::FakeKernel;
using modload::testing::fixture_root;
using modload::testing::run_tool;
using modload::testing::ScratchDir;

namespace {
modload::testing::ToolRun rmmod(FakeKernel& kernel, FakeClock& clock,
                                const std::vector<std::string>& args,
                                const std::filesystem::path& root = fixture_root("basic")) {
    return run_tool("rmmod", kernel, root, args, "6.1.0-test", 0, &clock);
}
}  // namespace

TEST_CASE("rmmod --wait removes a module in use once it is free, quietly under a second",
          "[rmmod]") {
    FakeKernel kernel;
    FakeClock clock;
    for (int i = 0; i < 5; ++i) {
        kernel.fail_next("delete_module", EWOULDBLOCK);
    }
    const auto run = rmmod(kernel, clock, {"--wait", "lab_dev"});
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    CHECK(kernel.calls().size() == 6);
}

TEST_CASE("rmmod --wait says once what it waits for after the first second", "[rmmod]") {
    FakeKernel kernel;
    FakeClock clock;
    for (int i = 0; i < 14; ++i) {
        kernel.fail_next("delete_module", EWOULDBLOCK);
    }
    const auto run = rmmod(kernel, clock, {"-w", "lab_dev"});
    CHECK(run.status == 0);
    CHECK(run.err == "rmmod: waiting for lab_dev: refcount 2, from outside modules\n");
}

TEST_CASE("rmmod --wait names the holders it waits for", "[rmmod]") {
    FakeKernel kernel;
    FakeClock clock;
    for (int i = 0; i < 10; ++i) {
        kernel.fail_next("delete_module", EWOULDBLOCK);
    }
    const auto run = rmmod(kernel, clock, {"--wait", "libcrc32c"});
    CHECK(run.status == 0);
    CHECK(run.err == "rmmod: waiting for libcrc32c: refcount 3, held by: nf_nat nf_conntrack xfs\n");
}

TEST_CASE("rmmod --wait=MSEC times out with the module's users, exit 1", "[rmmod]") {
    FakeKernel kernel;
    FakeClock clock;
    kernel.fail_delete("lab_dev", EWOULDBLOCK);
    const auto run = rmmod(kernel, clock, {"--wait=2000", "lab_dev"});
    CHECK(run.status == 1);
    CHECK(run.err ==
          "rmmod: waiting for lab_dev: refcount 2, from outside modules\n"
          "rmmod: ERROR: could not remove module lab_dev: still in use after 2000 ms: "
          "refcount 2, from outside modules\n");
}

TEST_CASE("rmmod --wait stops cleanly on SIGINT or SIGTERM", "[rmmod]") {
    const int signal = GENERATE(SIGINT, SIGTERM);
    FakeKernel kernel;
    FakeClock clock;
    kernel.fail_delete("lab_dev", EWOULDBLOCK);
    struct sigaction before {};
    REQUIRE(sigaction(signal, nullptr, &before) == 0);
    int sleeps = 0;
    clock.on_sleep([&] {
        if (++sleeps == 3) {
            (void)std::raise(signal);  // rmmod's handler notes it; the wait ends
        }
    });
    const auto run = rmmod(kernel, clock, {"--wait", "lab_dev", "iptable_nat"});
    CHECK(run.status == 1);
    CHECK(run.err == "rmmod: ERROR: interrupted while waiting for lab_dev: refcount 2, from "
                     "outside modules\n");
    CHECK(kernel.calls().size() == 3);  // and iptable_nat was not touched
    // rmmod's handler is gone again: whatever was there before is back.
    struct sigaction now {};
    REQUIRE(sigaction(signal, nullptr, &now) == 0);
    CHECK(now.sa_handler == before.sa_handler);
}

TEST_CASE("rmmod --wait still refuses what no wait can fix", "[rmmod]") {
    FakeKernel kernel;
    FakeClock clock;
    kernel.fail_next("delete_module", EWOULDBLOCK);
    kernel.fail_next("delete_module", EBUSY);
    const auto run = rmmod(kernel, clock, {"--wait", "ext4", "nonexistent", "lab_permanent"});
    CHECK(run.status == 1);
    CHECK(run.err ==
          "rmmod: ERROR: Module ext4 is builtin.\n"
          "rmmod: ERROR: Module nonexistent is not currently loaded\n"
          "rmmod: ERROR: could not remove module lab_permanent: Device or resource busy\n");
}

TEST_CASE("rmmod --wait with a value that is not milliseconds is a usage error", "[rmmod]") {
    FakeKernel kernel;
    FakeClock clock;
    const auto run = rmmod(kernel, clock, {"--wait=soon", "lab_dev"});
    CHECK(run.status == 1);
    CHECK(run.err == "rmmod: ERROR: --wait takes a number of milliseconds, not 'soon'\n");
    CHECK(kernel.calls().empty());
}

TEST_CASE("rmmod -r removes the module and the dependencies it leaves unused", "[rmmod]") {
    FakeKernel kernel;
    FakeClock clock;
    const auto run = rmmod(kernel, clock, {"-r", "iptable_nat"});
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    std::vector<std::string> removed;
    for (const auto& call : kernel.calls()) {
        removed.push_back(call.name);
    }
    CHECK(removed == std::vector<std::string>{"iptable_nat", "nf_nat", "ip_tables", "x_tables",
                                              "nf_conntrack", "nf_defrag_ipv6", "nf_defrag_ipv4"});
}

TEST_CASE("rmmod --dry-run prints the plan and touches nothing", "[rmmod]") {
    FakeKernel kernel;
    FakeClock clock;
    const auto run = rmmod(kernel, clock, {"-n", "--remove-holders", "-r", "nf_conntrack"});
    CHECK(run.status == 0);
    CHECK(run.out == "iptable_nat\nnf_nat\nnf_conntrack\nip_tables\nx_tables\nnf_defrag_ipv6\n"
                     "nf_defrag_ipv4\n");
    CHECK(kernel.calls().empty());

    const auto plain = rmmod(kernel, clock, {"--dry-run", "iptable_nat", "libcrc32c"});
    CHECK(plain.status == 1);
    CHECK(plain.out == "iptable_nat\n");
    CHECK(plain.err == "rmmod: ERROR: Module libcrc32c is in use by: nf_nat nf_conntrack xfs\n");
    CHECK(kernel.calls().empty());
}

TEST_CASE("rmmod --remove-holders removes the holders first, each after its own", "[rmmod]") {
    FakeKernel kernel;
    FakeClock clock;
    const auto run = rmmod(kernel, clock, {"--remove-holders", "nf_conntrack"});
    CHECK(run.status == 0);
    std::vector<std::string> removed;
    for (const auto& call : kernel.calls()) {
        removed.push_back(call.name);
    }
    CHECK(removed == std::vector<std::string>{"iptable_nat", "nf_nat", "nf_conntrack"});
}

TEST_CASE("a plan stops at the first failure and says what was removed and what is left",
          "[rmmod]") {
    FakeKernel kernel;
    FakeClock clock;
    kernel.fail_delete("x_tables", EBUSY);
    const auto run = rmmod(kernel, clock, {"-r", "iptable_nat"});
    CHECK(run.status == 1);
    CHECK(run.err ==
          "rmmod: ERROR: could not remove module x_tables: Device or resource busy\n"
          "rmmod: ERROR: stopped: removed iptable_nat nf_nat ip_tables; left x_tables "
          "nf_conntrack nf_defrag_ipv6 nf_defrag_ipv4\n");
}

TEST_CASE("a plan refuses up front when a target cannot go", "[rmmod]") {
    FakeKernel kernel;
    FakeClock clock;
    const auto run = rmmod(kernel, clock, {"-r", "iptable_nat", "nonexistent"});
    CHECK(run.status == 1);
    CHECK(run.err == "rmmod: ERROR: Module nonexistent is not currently loaded\n");
    CHECK(kernel.calls().empty());
}

TEST_CASE("a plan with a permanent holder is refused before anything is removed", "[rmmod]") {
    ScratchDir dir;
    const auto root = dir.path();
    modload::testing::write_text(root / "proc/modules",
                                 "perm 16384 0 [permanent], Live 0x0\n"
                                 "base 16384 1 perm, Live 0x0\n");
    FakeKernel kernel;
    FakeClock clock;
    const auto run = rmmod(kernel, clock, {"--remove-holders", "base"}, root);
    CHECK(run.status == 1);
    CHECK(run.err == "rmmod: ERROR: cannot plan the removal: Device or resource busy (holder perm "
                     "is permanent and cannot be removed)\n");
    CHECK(kernel.calls().empty());
}

TEST_CASE("rmmod -w --remove-holders -r combine: the plan waits for each step", "[rmmod]") {
    ScratchDir dir;
    const auto root = copy_fixture_root("basic", dir);
    FakeKernel kernel;
    kernel.maintain_proc_modules(root / "proc/modules");
    FakeClock clock;
    kernel.fail_next("delete_module", 0);
    kernel.fail_next("delete_module", EWOULDBLOCK);
    kernel.fail_next("delete_module", EWOULDBLOCK);
    const auto run = rmmod(kernel, clock, {"-w", "--remove-holders", "-r", "nf_nat"}, root);
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    CHECK(clock.sleeps().size() == 2);
    const std::string left = modload::testing::read_text(root / "proc/modules");
    CHECK(left.find("iptable_nat") == std::string::npos);
    CHECK(left.find("nf_conntrack") == std::string::npos);
    CHECK(left.find("libcrc32c") != std::string::npos);  // xfs still uses it
    CHECK(left.find("xfs") != std::string::npos);
}
