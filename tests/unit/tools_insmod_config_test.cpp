// insmod --deps and the administrator's configuration: install commands, options and the kernel
// command line, soft dependencies, blacklists, untrusted files. In-process, on fixture roots.
#include <cerrno>

#include <catch2/catch.hpp>

#include "fixtures.hpp"
#include "model_kernel.hpp"

using modload::testing::FakeKernel;
using modload::testing::fixture_module;
using modload::testing::Millis;
using modload::testing::ModelKernel;
using modload::testing::run_tool;
using modload::testing::ScratchDir;
using modload::testing::write_text;
namespace fs = std::filesystem;

namespace {

// The fixture chain consumer -> provider -> base side by side in modules/, fixture_soft (pre:
// fixture-dash missing_mod, post: fixture:one) and fixture_32 (which modules.alias names
// fixture:one), nothing loaded but xfs, ext4 built in.
struct ConfigRoot {
    ScratchDir dir;
    fs::path root = dir.path();
    fs::path modules = root / "modules";
    fs::path conf = root / "etc/modprobe.d";

    ConfigRoot() {
        write_text(root / "proc/modules", "xfs 16384 0 - Live 0x0\n");
        write_text(root / "lib/modules/6.1.0-test/modules.builtin", "kernel/fs/ext4/ext4.ko\n");
        write_text(root / "lib/modules/6.1.0-test/modules.alias",
                   "alias fixture:one fixture_32\nalias pci:v00008086d* other\n");
        fs::create_directories(modules);
        for (const char* name : {"fixture_consumer.ko", "fixture-provider.ko", "fixture_base.ko",
                                 "fixture_soft.ko", "fixture-dash.ko", "fixture_32.ko"}) {
            fs::copy_file(fixture_module(name), modules / name);
        }
    }

    std::string file(const char* name) const { return (modules / name).string(); }
    std::string lines(std::initializer_list<const char*> names) const {
        std::string text;
        for (const char* name : names) {
            text += file(name) + "\n";
        }
        return text;
    }
};

std::vector<std::string> calls_of(const ModelKernel& kernel) {
    std::vector<std::string> out;
    for (const auto& call : kernel.calls()) {
        out.push_back(call.syscall + " " + call.name + (call.answer ? " failed" : ""));
    }
    return out;
}

}  // namespace

TEST_CASE("insmod --deps never loads a module the configuration gives an install command",
          "[insmod][config]") {
    ConfigRoot r;
    write_text(r.conf / "harden.conf", "# CIS\ninstall fixture_base /bin/false\n");
    const std::string where = (r.conf / "harden.conf").string() + ":2";

    SECTION("a dependency: nothing is loaded, the file and line are named") {
        FakeKernel kernel;
        const std::string file = r.file("fixture_consumer.ko");
        for (const char* dry : {"", "-n"}) {
            std::vector<std::string> args{"--deps", file};
            if (*dry != 0) {
                args.insert(args.begin(), dry);
            }
            const auto run = run_tool("insmod", kernel, r.root, args);
            CHECK(run.status == 1);
            CHECK(run.out.empty());
            CHECK(run.err == "insmod: ERROR: could not insert module " + file +
                                 ": fixture_base is disabled by " + where +
                                 ": install fixture_base /bin/false\n"
                                 "insmod: nothing was loaded; insmod --deps never runs install "
                                 "commands (plain insmod loads FILE alone)\n");
        }
        CHECK(kernel.calls().empty());
    }
    SECTION("FILE itself under --deps; plain insmod loads what it is given, as kmod's does") {
        FakeKernel kernel;
        const std::string file = r.file("fixture_base.ko");
        const auto refused = run_tool("insmod", kernel, r.root, {"-d", file});
        CHECK(refused.status == 1);
        CHECK(refused.err.find("fixture_base is disabled by " + where) != std::string::npos);
        CHECK(kernel.calls().empty());
        const auto plain = run_tool("insmod", kernel, r.root, {file});
        CHECK(plain.status == 0);
        CHECK(kernel.calls().size() == 1);
    }
    SECTION("a pattern, as modprobe matches it") {
        write_text(r.conf / "harden.conf", "install fixture_b* /bin/true\n");
        FakeKernel kernel;
        const auto run = run_tool("insmod", kernel, r.root, {"-d", r.file("fixture_consumer.ko")});
        CHECK(run.status == 1);
        CHECK(run.err.find("fixture_base is disabled by") != std::string::npos);
    }
}

TEST_CASE("insmod --deps gives each module the configuration's options, then the command line's",
          "[insmod][config]") {
    ConfigRoot r;
    write_text(r.conf / "a.conf",
               "options fixture_base count=3\noptions fixture_consumer count=4\n");
    write_text(r.root / "proc/cmdline",
               "quiet fixture_provider.count=5 fixture-consumer.name=\"two words\"\n");
    FakeKernel kernel;
    const auto run =
        run_tool("insmod", kernel, r.root, {"-d", "-v", r.file("fixture_consumer.ko"), "count=6"});
    CHECK(run.status == 0);
    REQUIRE(kernel.calls().size() == 3);
    CHECK(kernel.calls()[0].parameters == "count=3");
    CHECK(kernel.calls()[1].parameters == "count=5");
    CHECK(kernel.calls()[2].parameters == "count=4 name=\"two words\" count=6");
    CHECK(run.err.find("insmod: INFO: options for fixture_base from " +
                       (r.conf / "a.conf").string() + ":1: options fixture_base count=3\n") !=
          std::string::npos);

    SECTION("plain insmod reads no configuration") {
        FakeKernel plain;
        const auto alone = run_tool("insmod", plain, r.root, {r.file("fixture_base.ko")});
        CHECK(alone.status == 0);
        REQUIRE(plain.calls().size() == 1);
        CHECK(plain.calls()[0].parameters.empty());
    }
}

TEST_CASE("insmod --deps loads soft dependencies around the module that names them",
          "[insmod][config]") {
    ConfigRoot r;
    SECTION("from the module's own softdep=: pre before, post after, by name or alias") {
        FakeKernel kernel;
        const std::string file = r.file("fixture_soft.ko");
        const auto plan = run_tool("insmod", kernel, r.root, {"-d", "-n", file});
        CHECK(plan.status == 0);
        CHECK(plan.out ==
              r.lines({"fixture_base.ko", "fixture-dash.ko", "fixture_soft.ko", "fixture_32.ko"}));
        CHECK(plan.err ==
              "insmod: soft dependency missing_mod of fixture_soft not found; left "
              "out (" +
                  file + ")\n");
        CHECK(kernel.calls().empty());
    }
    SECTION("from modprobe.d, for a dependency") {
        write_text(r.conf / "soft.conf",
                   "softdep fixture_provider pre: fixture-dash post: fixture_32\n");
        FakeKernel kernel;
        const auto plan =
            run_tool("insmod", kernel, r.root, {"-d", "-n", r.file("fixture_consumer.ko")});
        CHECK(plan.status == 0);
        CHECK(plan.out == r.lines({"fixture_base.ko", "fixture-dash.ko", "fixture-provider.ko",
                                   "fixture_32.ko", "fixture_consumer.ko"}));
    }
    SECTION("one disabled is left out and said; blacklisted ones load, and are said") {
        write_text(
            r.conf / "x.conf",
            "install fixture_dash /bin/false\nblacklist fixture_32\nblacklist fixture_base\n");
        FakeKernel kernel;
        const auto plan =
            run_tool("insmod", kernel, r.root, {"-d", "-n", r.file("fixture_soft.ko")});
        CHECK(plan.status == 0);
        CHECK(plan.out == r.lines({"fixture_base.ko", "fixture_soft.ko", "fixture_32.ko"}));
        const std::string x = (r.conf / "x.conf").string();
        CHECK(plan.err.find("soft dependency fixture_dash of fixture_soft is disabled by " + x +
                            ":1: install fixture_dash /bin/false; left out\n") !=
              std::string::npos);
        CHECK(plan.err.find("soft dependency fixture_32 of fixture_soft is blacklisted by " + x +
                            ":2; loaded all the same, as modprobe does\n") != std::string::npos);
        CHECK(plan.err.find("dependency fixture_base is blacklisted by " + x +
                            ":3; loaded all the same") != std::string::npos);
    }
    SECTION("one that fails to load is said, and the load goes on") {
        ModelKernel kernel(r.root, {"ext4"});
        kernel.configure("fixture_dash", Millis{0}, Millis{0}, ENODEV);
        const auto run = run_tool("insmod", kernel, r.root, {"-d", r.file("fixture_soft.ko")});
        CHECK(run.status == 0);
        CHECK(run.err ==
              "insmod: soft dependency fixture_dash could not be loaded: No such "
              "device; left out\n");
        CHECK(kernel.find("fixture_soft") != nullptr);
        CHECK(kernel.find("fixture_32") != nullptr);
    }
    SECTION("FILE failing removes its soft dependencies too, newest first") {
        ModelKernel kernel(r.root, {"ext4"});
        kernel.configure("fixture_soft", Millis{0}, Millis{0}, ENODEV);
        const auto run = run_tool("insmod", kernel, r.root, {"-d", r.file("fixture_soft.ko")});
        CHECK(run.status == 1);
        CHECK(run.err.find("insmod: its dependencies loaded for it and removed again: "
                           "fixture_dash fixture_base\n") != std::string::npos);
        CHECK(calls_of(kernel) ==
              std::vector<std::string>{"finit_module fixture_base", "finit_module fixture_dash",
                                       "finit_module fixture_soft failed",
                                       "delete_module fixture_dash", "delete_module fixture_base"});
        CHECK(kernel.modules().empty());
    }
}

TEST_CASE("insmod --deps finds what a soft dependency names as modprobe does", "[insmod][config]") {
    ConfigRoot r;
    const fs::path alias_file = r.root / "lib/modules/6.1.0-test/modules.alias";
    SECTION("a modules.alias pattern spelled with dashes (btrfs' blake2b-256)") {
        write_text(alias_file, "alias fixture-alias-* fixture_32\n");
        write_text(r.conf / "soft.conf", "softdep fixture_provider pre: fixture-alias-one\n");
        FakeKernel kernel;
        const auto plan =
            run_tool("insmod", kernel, r.root, {"-d", "-n", r.file("fixture_consumer.ko")});
        CHECK(plan.status == 0);
        CHECK(plan.out == r.lines({"fixture_base.ko", "fixture_32.ko", "fixture-provider.ko",
                                   "fixture_consumer.ko"}));
        CHECK(plan.err.empty());
    }
    SECTION("the modules an alias names, though a module of that name is built in (crc32)") {
        write_text(alias_file, "alias ext4 fixture_32\n");
        write_text(r.conf / "soft.conf", "softdep fixture_provider pre: ext4\n");
        FakeKernel kernel;
        const auto plan =
            run_tool("insmod", kernel, r.root, {"-d", "-n", r.file("fixture_consumer.ko")});
        CHECK(plan.status == 0);
        CHECK(plan.out == r.lines({"fixture_base.ko", "fixture_32.ko", "fixture-provider.ko",
                                   "fixture_consumer.ko"}));
    }
    SECTION("a built-in module no alias names is there already") {
        write_text(r.conf / "soft.conf", "softdep fixture_provider pre: ext4\n");
        FakeKernel kernel;
        const auto plan =
            run_tool("insmod", kernel, r.root, {"-d", "-n", r.file("fixture_consumer.ko")});
        CHECK(plan.status == 0);
        CHECK(plan.out ==
              r.lines({"fixture_base.ko", "fixture-provider.ko", "fixture_consumer.ko"}));
        CHECK(plan.err.empty());
    }
}

TEST_CASE("insmod --deps reads no configuration file another user could have written",
          "[insmod][config]") {
    ConfigRoot r;
    write_text(r.conf / "evil.conf", "options fixture_base count=666\n");
    fs::permissions(r.conf / "evil.conf", fs::perms::others_write, fs::perm_options::add);
    FakeKernel kernel;
    const auto run = run_tool("insmod", kernel, r.root, {"-d", r.file("fixture-provider.ko")});
    CHECK(run.status == 0);
    CHECK(run.err.find("insmod: ignored " + (r.conf / "evil.conf").string() +
                       ": writable by others") != std::string::npos);
    REQUIRE(kernel.calls().size() == 2);
    CHECK(kernel.calls()[0].parameters.empty());
}

TEST_CASE("insmod --deps loads nothing when the configuration cannot be read", "[insmod][config]") {
    ConfigRoot r;
    // A link to itself cannot be read (ELOOP): an unread file could disable a module.
    fs::create_directories(r.conf);
    fs::create_symlink("loop.conf", r.conf / "loop.conf");
    FakeKernel kernel;
    const auto run = run_tool("insmod", kernel, r.root, {"-d", r.file("fixture_consumer.ko")});
    CHECK(run.status == 1);
    CHECK(run.err.find("insmod: ERROR: could not read the module configuration: ") == 0);
    CHECK(run.err.find("loop.conf") != std::string::npos);
    CHECK(run.err.find("insmod: nothing was loaded: an unread file could disable a module\n") !=
          std::string::npos);
    CHECK(kernel.calls().empty());
}
