// What insmod and rmmod add after kmod's line when the kernel refuses for a policy reason.
#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "basic_world.hpp"
#include "fixtures.hpp"

using modload::testing::BasicWorld;
using modload::testing::copy_fixture_root;
using modload::testing::FakeKernel;
using modload::testing::fixture_module;
using modload::testing::run_tool;
using modload::testing::ScratchDir;
using modload::testing::write_text;

namespace {

const std::string kRootStatus = "Uid:\t0\t0\t0\t0\nCapEff:\t000001ffffffffff\n";
const std::string kUserStatus = "Uid:\t1000\t1000\t1000\t1000\nCapEff:\t0000000000000000\n";

// The basic root with policy files: root with every capability, nothing disabled, no lockdown,
// signatures not enforced, unless a test writes otherwise.
struct PolicyRoot {
    ScratchDir dir;
    std::filesystem::path root = copy_fixture_root("basic", dir);

    PolicyRoot() {
        write("proc/self/status", kRootStatus);
        write("proc/self/uid_map", "         0          0 4294967295\n");
        write("proc/sys/kernel/modules_disabled", "0\n");
        write("proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/vda1 quiet\n");
        write("sys/kernel/security/lockdown", "[none] integrity confidentiality\n");
        write("sys/module/module/parameters/sig_enforce", "N\n");
    }
    void write(const std::string& file, const std::string& text) { write_text(root / file, text); }

    modload::testing::ToolRun insmod(int kernel_errno, const std::vector<std::string>& args) {
        FakeKernel kernel;
        kernel.fail_next("finit_module", kernel_errno);
        return run_tool("insmod", kernel, root, args);
    }
};

std::string refused(const std::string& file, const std::string& text) {
    return "insmod: ERROR: could not insert module " + file + ": " + text + "\n";
}

}  // namespace

TEST_CASE("insmod says which policy refused a load with EPERM", "[insmod]") {
    const std::string file = fixture_module("fixture_plain.ko");
    const std::string kmod_line = refused(file, "Operation not permitted");
    PolicyRoot p;
    SECTION("nothing to see: kmod's line alone") {
        CHECK(p.insmod(EPERM, {file}).err == kmod_line);
    }
    SECTION("not root") {
        p.write("proc/self/status", kUserStatus);
        CHECK(p.insmod(EPERM, {file}).err ==
              kmod_line +
                  "insmod: this process (uid 1000) lacks CAP_SYS_MODULE: loading modules needs "
                  "root\n");
    }
    SECTION("root without CAP_SYS_MODULE") {
        p.write("proc/self/status", "Uid:\t0\t0\t0\t0\nCapEff:\t000001fffffeffff\n");
        CHECK(p.insmod(EPERM, {file}).err ==
              kmod_line +
                  "insmod: this process runs as root but without CAP_SYS_MODULE, which loading "
                  "modules needs\n");
    }
    SECTION("in a user namespace") {
        p.write("proc/self/uid_map", "0 100000 65536\n");
        CHECK(p.insmod(EPERM, {file}).err ==
              kmod_line +
                  "insmod: this process has CAP_SYS_MODULE only inside a user namespace (a "
                  "container): loading modules needs it on the host\n");
    }
    SECTION("modules_disabled") {
        p.write("proc/sys/kernel/modules_disabled", "1\n");
        CHECK(p.insmod(EPERM, {file}).err ==
              kmod_line +
                  "insmod: /proc/sys/kernel/modules_disabled is 1: module loading and removal are "
                  "disabled until reboot\n");
    }
    SECTION("blacklisted on the kernel command line") {
        p.write("proc/cmdline", "root=/dev/vda1 module_blacklist=dummy,fixture_plain quiet\n");
        CHECK(p.insmod(EPERM, {file}).err ==
              kmod_line +
                  "insmod: fixture_plain is blacklisted on the kernel command line "
                  "(module_blacklist=dummy,fixture_plain)\n");
    }
    SECTION("locked down, unsigned") {
        p.write("sys/kernel/security/lockdown", "none [integrity] confidentiality\n");
        CHECK(p.insmod(EPERM, {file}).err ==
              kmod_line +
                  "insmod: the kernel is locked down (integrity): it loads only modules signed "
                  "with a key it trusts, and " +
                  file + " is not signed\n");
    }
    SECTION("locked down, signed") {
        p.write("sys/kernel/security/lockdown", "none integrity [confidentiality]\n");
        const std::string signed_file = fixture_module("fixture_signed.ko");
        CHECK(p.insmod(EPERM, {signed_file}).err ==
              refused(signed_file, "Operation not permitted") +
                  "insmod: the kernel is locked down (confidentiality): it loads only modules "
                  "signed with a key it trusts, and " +
                  signed_file + " is signed with a key it may not trust\n");
    }
    SECTION("two causes at once, one line each") {
        p.write("proc/self/status", kUserStatus);
        p.write("proc/sys/kernel/modules_disabled", "1\n");
        const std::string err = p.insmod(EPERM, {file}).err;
        CHECK(err.rfind(kmod_line, 0) == 0);
        CHECK(std::count(err.begin(), err.end(), '\n') == 3);
    }
}

TEST_CASE("insmod says why a module's signature was refused (EKEYREJECTED)", "[insmod]") {
    const std::string plain = fixture_module("fixture_plain.ko");
    const std::string signed_file = fixture_module("fixture_signed.ko");
    PolicyRoot p;
    p.write("sys/module/module/parameters/sig_enforce", "Y\n");
    SECTION("unsigned") {
        const auto run = p.insmod(EKEYREJECTED, {plain});
        CHECK(run.status == 1);
        CHECK(run.err == refused(plain, "Key was rejected by service") +
                             "insmod: this kernel requires signed modules (sig_enforce) and " +
                             plain + " is not signed\n");
    }
    SECTION("signed with a key the kernel does not trust") {
        CHECK(p.insmod(EKEYREJECTED, {signed_file}).err ==
              refused(signed_file, "Key was rejected by service") +
                  "insmod: this kernel requires signed modules (sig_enforce) and " + signed_file +
                  " is signed, but with a key the kernel does not trust, or its signature does "
                  "not match\n");
    }
    SECTION("signed, but forced") {
        CHECK(p.insmod(EKEYREJECTED, {"-f", signed_file}).err ==
              refused(signed_file, "Key was rejected by service") +
                  "insmod: this kernel requires signed modules (sig_enforce) and forcing (-f, "
                  "--force-modversion, --force-vermagic) makes it ignore " +
                  signed_file + "'s signature\n");
    }
    SECTION("not enforced: a signature that does not verify") {
        p.write("sys/module/module/parameters/sig_enforce", "N\n");
        CHECK(p.insmod(EKEYREJECTED, {signed_file}).err ==
              refused(signed_file, "Key was rejected by service") + "insmod: " + signed_file +
                  " is signed, but its signature does not verify (the kernel refuses a bad "
                  "signature even when it does not require one)\n");
        CHECK(p.insmod(EKEYREJECTED, {plain}).err == refused(plain, "Key was rejected by service"));
    }
}

TEST_CASE("rmmod says which policy refused a removal with EPERM", "[rmmod]") {
    BasicWorld w;
    const std::string kmod_line =
        "rmmod: ERROR: could not remove module iptable_nat: Operation not permitted\n";
    SECTION("modules_disabled") {
        write_text(w.root / "proc/sys/kernel/modules_disabled", "1\n");
        w.kernel.set_modules_disabled(true);
        const auto run = w.rmmod({"iptable_nat"});
        CHECK(run.status == 1);
        CHECK(run.err == kmod_line +
                             "rmmod: /proc/sys/kernel/modules_disabled is 1: module loading and "
                             "removal are disabled until reboot\n");
        CHECK(w.kernel.find("iptable_nat") != nullptr);
    }
    SECTION("not root; a blacklist and lockdown do not matter to removals") {
        write_text(w.root / "proc/self/status", kUserStatus);
        write_text(w.root / "proc/cmdline", "module_blacklist=iptable_nat\n");
        write_text(w.root / "sys/kernel/security/lockdown", "none [integrity] confidentiality\n");
        w.kernel.set_modules_disabled(true);  // the model's only EPERM
        CHECK(w.rmmod({"iptable_nat"}).err ==
              kmod_line +
                  "rmmod: this process (uid 1000) lacks CAP_SYS_MODULE: removing modules "
                  "needs root\n");
    }
    SECTION("nothing to see: kmod's line alone") {
        w.kernel.set_modules_disabled(true);
        CHECK(w.rmmod({"iptable_nat"}).err == kmod_line);
    }
}
