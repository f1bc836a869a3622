// rmmod while the kernel changes underneath: waiting, plans, modules that are loading or being
// removed by someone else, signals. Run in-process on the model kernel and its simulated clock, so
// every answer is one the kernel's rules give.
#include <cerrno>
#include <csignal>

#include <catch2/catch.hpp>

#include "basic_world.hpp"
#include "tool.hpp"

using modload::LoadedModule;
using modload::ModuleState;
using modload::testing::BasicWorld;
using modload::testing::Millis;
using modload::testing::ModelClock;
using modload::testing::ModelKernel;
using modload::testing::ModelModule;
using modload::testing::run_tool;
using modload::testing::ScratchDir;
using modload::testing::StepPoint;
using modload::tools::note_stop_signal;
using modload::tools::stop_signal;

TEST_CASE("rmmod --wait removes a module in use once it is free, quietly under a second",
          "[rmmod]") {
    BasicWorld w;
    w.at(Millis{300}, [&] {
        w.kernel.put_reference("lab_dev");
        w.kernel.put_reference("lab_dev");
    });
    const auto run = w.rmmod({"--wait", "lab_dev"});
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    CHECK(w.kernel.find("lab_dev") == nullptr);
    CHECK(w.our_deletes() == std::vector<std::string>{"lab_dev"});  // no attempt while held
}

TEST_CASE("rmmod --wait says once what it waits for after the first second", "[rmmod]") {
    BasicWorld w;
    w.at(Millis{2500}, [&] {
        w.kernel.put_reference("lab_dev");
        w.kernel.put_reference("lab_dev");
    });
    const auto run = w.rmmod({"-w", "lab_dev"});
    CHECK(run.status == 0);
    CHECK(run.err ==
          "rmmod: open files looked for through /proc only, which misses some\n"
          "rmmod: waiting for lab_dev: 2 references not attributed\n");
}

TEST_CASE("rmmod -v --wait says again who holds the module each time a holder goes", "[rmmod]") {
    BasicWorld w;
    int dropped = 0;  // one reference at 1.5 s, the other at 3 s
    w.kernel.on_step([&](StepPoint) {
        if (w.kernel.now() >= Millis{1500} * (dropped + 1) && dropped < 2) {
            ++dropped;
            w.kernel.put_reference("lab_dev");
        }
    });
    const auto run = w.rmmod({"-v", "--wait", "lab_dev"});
    CHECK(run.status == 0);
    CHECK(run.err ==
          "rmmod: open files looked for through /proc only, which misses some\n"
          "rmmod: waiting for lab_dev: 2 references not attributed\n"
          "rmmod: waiting for lab_dev: 1 reference not attributed\n"
          "rmmod: INFO: removed lab_dev\n");
}

TEST_CASE("rmmod --wait names the holders it waits for", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"--wait=3000", "libcrc32c"});
    CHECK(run.status == 1);
    CHECK(run.err ==
          "rmmod: waiting for libcrc32c: held by module nf_nat; module nf_conntrack; module xfs\n"
          "rmmod: ERROR: could not remove module libcrc32c: still in use after 3000 ms: "
          "refcount 3, held by: nf_nat nf_conntrack xfs\n");
    CHECK(w.kernel.calls().empty());
}

TEST_CASE("rmmod --wait=MSEC and -w MSEC time out with the module's users, exit 1", "[rmmod]") {
    const std::vector<std::string> args =
        GENERATE(std::vector<std::string>{"--wait=2000", "lab_dev"},
                 std::vector<std::string>{"-w", "2000", "lab_dev"},
                 std::vector<std::string>{"-v", "-w", "2000", "lab_dev"});
    BasicWorld w;
    const auto run = w.rmmod(args);
    CHECK(run.status == 1);
    CHECK(run.err ==
          "rmmod: open files looked for through /proc only, which misses some\n"
          "rmmod: waiting for lab_dev: 2 references not attributed\n"
          "rmmod: ERROR: could not remove module lab_dev: still in use after 2000 ms: "
          "refcount 2, from outside modules\n"
          "rmmod: lab_dev: 2 references not attributed\n");
    CHECK(w.kernel.now() >= Millis{2000});
    CHECK(w.kernel.now() < Millis{2100});
}

TEST_CASE("-w followed by a word that is not digits waits without limit on that module",
          "[rmmod]") {
    BasicWorld w;
    w.at(Millis{5000}, [&] {
        w.kernel.put_reference("lab_dev");
        w.kernel.put_reference("lab_dev");
    });
    const auto run = w.rmmod({"-w", "lab_dev"});
    CHECK(run.status == 0);
    CHECK(w.kernel.find("lab_dev") == nullptr);
}

TEST_CASE("rmmod --wait stops on SIGINT or SIGTERM before its next system call", "[rmmod]") {
    const int signal = GENERATE(SIGINT, SIGTERM);
    BasicWorld w;
    struct sigaction before {};
    REQUIRE(sigaction(signal, nullptr, &before) == 0);
    w.at(Millis{1500}, [&] { note_stop_signal(signal); });
    const auto run = w.rmmod({"--wait", "lab_dev", "iptable_nat"});
    CHECK(run.status == 1);
    CHECK(run.err ==
          "rmmod: open files looked for through /proc only, which misses some\n"
          "rmmod: waiting for lab_dev: 2 references not attributed\n"
          "rmmod: ERROR: interrupted while waiting for lab_dev: refcount 2, from outside modules\n"
          "rmmod: ERROR: stopped: removed nothing; left lab_dev iptable_nat\n");
    CHECK(w.kernel.calls().empty());  // iptable_nat was not touched
    CHECK(stop_signal() == signal);   // main() raises it again
    // rmmod's handler is gone again: whatever was there before is back.
    struct sigaction now {};
    REQUIRE(sigaction(signal, nullptr, &now) == 0);
    CHECK(now.sa_handler == before.sa_handler);
}

TEST_CASE("a signal between two steps of a plan stops it and says what was removed", "[rmmod]") {
    BasicWorld w;
    w.kernel.on_step([&](StepPoint point) {
        if (point == StepPoint::syscall_entry && w.kernel.calls().size() == 1) {
            note_stop_signal(SIGINT);  // arrives as the second delete_module begins
        }
    });
    const auto run = w.rmmod({"-r", "iptable_nat"});
    CHECK(run.status == 1);
    CHECK(w.our_deletes() == std::vector<std::string>{"iptable_nat", "nf_nat"});
    CHECK(run.err ==
          "rmmod: ERROR: interrupted before removing ip_tables\n"
          "rmmod: ERROR: stopped: removed iptable_nat nf_nat; left ip_tables x_tables "
          "nf_conntrack nf_defrag_ipv6 nf_defrag_ipv4\n");
}

TEST_CASE("rmmod --wait still refuses what no wait can fix", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"--wait", "ext4", "nonexistent", "lab_permanent"});
    CHECK(run.status == 1);
    CHECK(run.err ==
          "rmmod: ERROR: Module ext4 is builtin.\n"
          "rmmod: ERROR: Module nonexistent is not currently loaded\n"
          "rmmod: ERROR: could not remove module lab_permanent: Device or resource busy\n");
}

TEST_CASE("rmmod --wait with a value that is not milliseconds is a usage error", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"--wait=soon", "lab_dev"});
    CHECK(run.status == 1);
    CHECK(run.err == "rmmod: ERROR: --wait takes a number of milliseconds, not 'soon'\n");
    CHECK(w.kernel.calls().empty());
}

TEST_CASE("rmmod of a Loading module says kmod's words, then why", "[rmmod]") {
    BasicWorld w;
    w.kernel.configure("slow", Millis{3000});
    REQUIRE(w.kernel.other_load("slow", {}) == 0);
    const auto run = w.rmmod({"slow"});
    CHECK(run.status == 1);
    CHECK(run.err ==
          "rmmod: ERROR: Module slow is in use\n"
          "rmmod: slow is still initializing: its init function has not returned "
          "(--wait waits for it)\n");
    CHECK(w.kernel.calls().empty());
}

TEST_CASE("rmmod --wait of a Loading module waits until it is Live, then removes it", "[rmmod]") {
    BasicWorld w;
    w.kernel.configure("slow", Millis{3000});
    REQUIRE(w.kernel.other_load("slow", {}) == 0);
    const auto run = w.rmmod({"--wait=10000", "slow"});
    CHECK(run.status == 0);
    CHECK(run.err == "rmmod: waiting for slow: still initializing\n");
    CHECK(w.kernel.find("slow") == nullptr);
    REQUIRE(w.kernel.calls().size() == 1);
    CHECK(w.kernel.calls()[0].at >= Millis{3000});
}

TEST_CASE("rmmod --wait of a Loading module whose init fails ends when it is gone", "[rmmod]") {
    BasicWorld w;
    w.kernel.configure("failing", Millis{500}, Millis{0}, ENODEV);
    REQUIRE(w.kernel.other_load("failing", {}) == 0);
    const auto run = w.rmmod({"-v", "--wait", "failing"});
    CHECK(run.status == 0);
    CHECK(run.err == "rmmod: INFO: failing was already gone: removed by another process\n");
    CHECK(w.kernel.calls().empty());
}

TEST_CASE("rmmod of a module another process is removing waits for it to be gone, exit 0",
          "[rmmod]") {
    const bool with_wait = GENERATE(false, true);
    BasicWorld w;
    w.kernel.configure("lab_dev", Millis{0}, Millis{1200});
    w.kernel.put_reference("lab_dev");
    w.kernel.put_reference("lab_dev");
    REQUIRE(w.kernel.other_remove("lab_dev") == 0);
    std::vector<std::string> args{"-v", "lab_dev"};
    if (with_wait) {
        args.insert(args.begin(), "--wait");
    }
    const auto run = w.rmmod(args);
    CHECK(run.status == 0);
    CHECK(run.err ==
          "rmmod: waiting for lab_dev: another process is removing it\n"
          "rmmod: INFO: lab_dev was already gone: removed by another process\n");
    CHECK(w.kernel.calls().empty());
    CHECK(w.kernel.find("lab_dev") == nullptr);
}

TEST_CASE("rmmod says a module is being removed when its exit outlasts the bound", "[rmmod]") {
    const std::vector<std::string> args = GENERATE(
        std::vector<std::string>{"lab_dev"}, std::vector<std::string>{"--wait=500", "lab_dev"});
    BasicWorld w;
    w.kernel.configure("lab_dev", Millis{0}, Millis{60000});
    w.kernel.put_reference("lab_dev");
    w.kernel.put_reference("lab_dev");
    REQUIRE(w.kernel.other_remove("lab_dev") == 0);
    const auto run = w.rmmod(args);
    CHECK(run.status == 1);
    const std::string limit = args.size() == 1 ? "5000" : "500";
    CHECK(run.err.find("rmmod: ERROR: Module lab_dev is being removed\n"
                       "rmmod: another process is removing lab_dev (still being removed after " +
                       limit + " ms)\n") != std::string::npos);
    CHECK(w.kernel.calls().empty());
}

TEST_CASE("two rmmods at once: the one that loses the race waits and exits 0", "[rmmod]") {
    BasicWorld w;
    w.kernel.configure("iptable_nat", Millis{0}, Millis{800});
    // The other rmmod wins between our read of /proc/modules and our delete_module.
    w.kernel.on_step([&, done = false](StepPoint point) mutable {
        if (!done && point == StepPoint::syscall_entry) {
            done = true;
            REQUIRE(w.kernel.other_remove("iptable_nat") == 0);
        }
    });
    const auto run = w.rmmod({"-v", "iptable_nat"});
    CHECK(run.status == 0);
    CHECK(run.err == "rmmod: INFO: iptable_nat was already gone: removed by another process\n");
    REQUIRE(w.kernel.calls().size() == 1);
    CHECK(w.kernel.calls()[0].answer == EBUSY);  // the kernel's answer for a going module
}

TEST_CASE("rmmod -w -r keeps a dependency that gained a user during the wait, never waiting on it",
          "[rmmod]") {
    BasicWorld w;
    w.kernel.add({.name = "lab_waiter", .references = 1, .uses = {"lab_dev"}});
    w.kernel.put_reference("lab_dev");
    w.kernel.put_reference("lab_dev");  // lab_dev: only lab_waiter holds it
    // While we wait for lab_waiter, someone opens /dev/lab_dev; later lab_waiter lets go.
    w.kernel.on_step([&, opened = false, released = false](StepPoint) mutable {
        if (!opened && w.kernel.now() >= Millis{500}) {
            opened = w.kernel.get_reference("lab_dev");
        }
        if (!released && w.kernel.now() >= Millis{2000}) {
            released = w.kernel.put_reference("lab_waiter");
        }
    });
    const auto run = w.rmmod({"-v", "-w", "-r", "lab_waiter"});
    CHECK(run.status == 0);
    CHECK(run.err ==
          "rmmod: open files looked for through /proc only, which misses some\n"
          "rmmod: waiting for lab_waiter: 1 reference not attributed\n"
          "rmmod: INFO: removed lab_waiter\n"
          "rmmod: INFO: kept lab_dev: it is in use (refcount 1, from outside "
          "modules)\n");
    CHECK(w.our_deletes() == std::vector<std::string>{"lab_waiter"});
    CHECK(w.kernel.find("lab_dev") != nullptr);
    CHECK(w.kernel.now() < Millis{3200});  // ended once lab_waiter was free
}

TEST_CASE("rmmod -r removes the module and the dependencies it leaves unused", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"-r", "iptable_nat"});
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    CHECK(w.our_deletes() == std::vector<std::string>{"iptable_nat", "nf_nat", "ip_tables",
                                                      "x_tables", "nf_conntrack", "nf_defrag_ipv6",
                                                      "nf_defrag_ipv4"});
    CHECK(w.kernel.find("libcrc32c") != nullptr);  // xfs still uses it
}

TEST_CASE("rmmod --dry-run prints the plan and touches nothing", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"-n", "--remove-holders", "-r", "nf_conntrack"});
    CHECK(run.status == 0);
    CHECK(run.out ==
          "iptable_nat\nnf_nat\nnf_conntrack\nip_tables\nx_tables\nnf_defrag_ipv6\n"
          "nf_defrag_ipv4\n");
    CHECK(w.kernel.calls().empty());

    const auto plain = w.rmmod({"--dry-run", "iptable_nat", "libcrc32c"});
    CHECK(plain.status == 1);
    CHECK(plain.out == "iptable_nat\n");
    CHECK(plain.err == "rmmod: ERROR: Module libcrc32c is in use by: nf_nat nf_conntrack xfs\n");
    CHECK(w.kernel.calls().empty());
}

TEST_CASE("rmmod --remove-holders removes the holders first, each after its own", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"--remove-holders", "nf_conntrack"});
    CHECK(run.status == 0);
    CHECK(w.our_deletes() == std::vector<std::string>{"iptable_nat", "nf_nat", "nf_conntrack"});
}

TEST_CASE("a plan stops at the first failure and says what was removed and what is left",
          "[rmmod]") {
    BasicWorld w;
    // Someone sets /proc/sys/kernel/modules_disabled during the plan.
    w.kernel.on_step([&](StepPoint point) {
        if (point == StepPoint::syscall_entry && w.kernel.calls().size() == 3) {
            w.kernel.set_modules_disabled(true);
        }
    });
    const auto run = w.rmmod({"-r", "iptable_nat"});
    CHECK(run.status == 1);
    CHECK(run.err ==
          "rmmod: ERROR: could not remove module x_tables: Operation not permitted\n"
          "rmmod: ERROR: stopped: removed iptable_nat nf_nat ip_tables; left x_tables "
          "nf_conntrack nf_defrag_ipv6 nf_defrag_ipv4\n");
}

TEST_CASE("a plan refuses up front when a target cannot go", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"-r", "iptable_nat", "nonexistent"});
    CHECK(run.status == 1);
    CHECK(run.err == "rmmod: ERROR: Module nonexistent is not currently loaded\n");
    CHECK(w.kernel.calls().empty());
}

TEST_CASE("a plan with a permanent holder is refused before anything is removed", "[rmmod]") {
    BasicWorld w;
    w.kernel.add({.name = "perm", .uses = {"lab_dev"}, .permanent = true});
    const auto run = w.rmmod({"--remove-holders", "lab_dev"});
    CHECK(run.status == 1);
    CHECK(run.err ==
          "rmmod: ERROR: cannot plan the removal: Device or resource busy (holder perm "
          "is permanent and cannot be removed)\n");
    CHECK(w.kernel.calls().empty());
}

TEST_CASE("rmmod -w --remove-holders -r combine: the plan waits for each target and holder",
          "[rmmod]") {
    BasicWorld w;
    w.kernel.get_reference("iptable_nat");  // a holder in use for a while
    w.at(Millis{700}, [&] { w.kernel.put_reference("iptable_nat"); });
    const auto run = w.rmmod({"-w", "--remove-holders", "-r", "nf_nat"});
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    CHECK_FALSE(w.clock.sleeps().empty());
    CHECK(w.kernel.find("iptable_nat") == nullptr);
    CHECK(w.kernel.find("nf_conntrack") == nullptr);
    CHECK(w.kernel.find("libcrc32c") != nullptr);  // xfs still uses it
    CHECK(w.kernel.find("xfs") != nullptr);
}

TEST_CASE("each module a plan waits for over a second is said once", "[rmmod]") {
    BasicWorld w;
    REQUIRE(w.kernel.get_reference("iptable_nat"));
    w.kernel.on_step([&, first = false, second = false](StepPoint) mutable {
        if (!first && w.kernel.now() >= Millis{1500}) {
            first = w.kernel.put_reference("iptable_nat");
            second = !w.kernel.get_reference("nf_nat");  // nf_nat is held once iptable_nat goes
        }
        if (first && !second && w.kernel.now() >= Millis{4000}) {
            second = w.kernel.put_reference("nf_nat");
        }
    });
    const auto run = w.rmmod({"-w", "--remove-holders", "nf_nat"});
    CHECK(run.status == 0);
    CHECK(run.err ==
          "rmmod: open files looked for through /proc only, which misses some\n"
          "rmmod: waiting for iptable_nat: 1 reference not attributed\n"
          "rmmod: waiting for nf_nat: 1 reference not attributed\n");
}
