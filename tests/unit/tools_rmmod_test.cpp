#include <algorithm>
#include <cerrno>
#include <filesystem>

#include <fcntl.h>

#include <catch2/catch.hpp>

#include "basic_world.hpp"

using modload::testing::BasicWorld;
using modload::testing::fixture_root;
using modload::testing::ModelKernel;
using modload::testing::run_tool;
using modload::testing::ScratchDir;

TEST_CASE("rmmod removes an unused module and says nothing", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"iptable_nat"});
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    CHECK(run.out.empty());
    REQUIRE(w.kernel.calls().size() == 1);
    CHECK(w.kernel.calls()[0].name == "iptable_nat");
    CHECK(w.kernel.calls()[0].flags == O_NONBLOCK);
    CHECK(w.kernel.find("iptable_nat") == nullptr);
}

TEST_CASE("rmmod takes a file path or a dashed name for the module", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"/lib/modules/6.1.0/kernel/iptable-nat.ko.xz", "lab-dev"});
    CHECK(run.status == 1);  // lab_dev is in use
    CHECK(run.err ==
          "rmmod: ERROR: Module lab_dev is in use\n"
          "rmmod: open files looked for through /proc only, which misses some\n"
          "rmmod: lab_dev: 2 references not attributed\n");
    CHECK(w.our_deletes() == std::vector<std::string>{"iptable_nat"});
}

TEST_CASE("rmmod judges each argument after the ones before it are gone", "[rmmod]") {
    // kmod reads each module's holders afresh, so `rmmod iptable_nat ip_tables x_tables` works.
    BasicWorld w;
    const auto run = w.rmmod({"iptable_nat", "ip_tables", "x_tables"});
    CHECK(run.err.empty());
    CHECK(run.status == 0);
    CHECK(w.our_deletes() == std::vector<std::string>{"iptable_nat", "ip_tables", "x_tables"});
}

TEST_CASE("rmmod refuses in kmod's words, and never asks the kernel", "[rmmod]") {
    BasicWorld w;
    auto rmmod = [&](const std::vector<std::string>& args) { return w.rmmod(args); };
    SECTION("builtin") {
        const auto run = rmmod({"ext4"});
        CHECK(run.status == 1);
        CHECK(run.err == "rmmod: ERROR: Module ext4 is builtin.\n");
    }
    SECTION("builtin, seen only in /sys/module") {
        const auto run = rmmod({"vt"});
        CHECK(run.status == 1);
        CHECK(run.err == "rmmod: ERROR: Module vt is builtin.\n");
    }
    SECTION("not loaded") {
        const auto run = rmmod({"nonexistent"});
        CHECK(run.status == 1);
        CHECK(run.err == "rmmod: ERROR: Module nonexistent is not currently loaded\n");
    }
    SECTION("held by other modules") {
        const auto run = rmmod({"libcrc32c"});
        CHECK(run.status == 1);
        CHECK(run.err == "rmmod: ERROR: Module libcrc32c is in use by: nf_nat nf_conntrack xfs\n");
    }
    SECTION("in use from outside modules") {
        const auto run = rmmod({"lab_dev"});
        CHECK(run.status == 1);
        CHECK(run.err ==
              "rmmod: ERROR: Module lab_dev is in use\n"
              "rmmod: open files looked for through /proc only, which misses some\n"
              "rmmod: lab_dev: 2 references not attributed\n");
    }
    SECTION("a name with a slash that is no module") {
        const auto run = rmmod({"dir/"});
        CHECK(run.status == 1);
        CHECK(run.err ==
              "rmmod: ERROR: could not use module dir/: Invalid argument (not a module name)\n");
    }
    CHECK(w.kernel.calls().empty());
}

TEST_CASE("rmmod says unloading is unsupported when the kernel cannot unload", "[rmmod]") {
    modload::testing::FakeKernel kernel;  // the model always has CONFIG_MODULE_UNLOAD
    const auto run = run_tool("rmmod", kernel, fixture_root("nounload"), {"xfs"});
    CHECK(run.status == 1);
    CHECK(run.err == "rmmod: ERROR: Module unloading is not supported\n");
    CHECK(kernel.calls().empty());
}

TEST_CASE("rmmod reports the kernel's refusal with strerror", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"lab_permanent"});  // an init but no exit: EBUSY
    CHECK(run.status == 1);
    CHECK(run.err ==
          "rmmod: ERROR: could not remove module lab_permanent: Device or resource busy\n");
}

TEST_CASE("rmmod goes on after a failed argument and exits 1", "[rmmod]") {
    BasicWorld w;
    const auto run =
        w.rmmod({"nonexistent", "iptable_nat", "libcrc32c", "lab_permanent", "ip_tables"});
    CHECK(run.status == 1);
    CHECK(w.our_deletes() == std::vector<std::string>{"iptable_nat", "lab_permanent", "ip_tables"});
}

TEST_CASE("rmmod -f skips the checks and forces with O_TRUNC", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"-f", "lab_dev"});
    CHECK(run.status == 0);
    REQUIRE(w.kernel.calls().size() == 1);
    CHECK(w.kernel.calls()[0].flags == (O_NONBLOCK | O_TRUNC));
    CHECK(w.kernel.find("lab_dev") == nullptr);
}

TEST_CASE("rmmod -f on a module that is not loaded reports the kernel's ENOENT", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"--force", "nonexistent"});
    CHECK(run.status == 1);
    CHECK(run.err ==
          "rmmod: ERROR: could not remove module nonexistent: No such file or directory\n");
}

TEST_CASE("rmmod usage: no module, unknown option, help and version", "[rmmod]") {
    BasicWorld w;
    auto rmmod = [&](const std::vector<std::string>& args) { return w.rmmod(args); };
    const auto none = rmmod({});
    CHECK(none.status == 1);
    CHECK(none.err == "rmmod: ERROR: missing module name.\n");

    const auto bad = rmmod({"--bogus", "xfs"});
    CHECK(bad.status == 1);
    CHECK(bad.err.rfind("rmmod: ERROR: ", 0) == 0);

    const auto help = rmmod({"--help"});
    CHECK(help.status == 0);
    CHECK(help.out.find("--force") != std::string::npos);

    const auto version = rmmod({"-V"});
    CHECK(version.status == 0);
    CHECK(version.out.rfind("modload version ", 0) == 0);
    CHECK(w.kernel.calls().empty());
}

TEST_CASE("rmmod -v says what it removed", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"-v", "iptable_nat"});
    CHECK(run.status == 0);
    CHECK(run.err == "rmmod: INFO: removed iptable_nat\n");
}

TEST_CASE("rmmod -s sends its errors to syslog, not stderr", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"-s", "nonexistent"});
    CHECK(run.status == 1);
    CHECK(run.err.empty());
}

TEST_CASE("rmmod on a kernel without module support says so", "[rmmod]") {
    modload::testing::FakeKernel kernel;  // no /proc/modules at all: the model always has one
    ScratchDir dir;
    const auto run = run_tool("rmmod", kernel, dir.path(), {"xfs"});
    CHECK(run.status == 1);
    CHECK(run.err.find("this kernel has no loadable module support") != std::string::npos);
}

TEST_CASE("rmmod -f on a module with holders gives the kernel's refusal, as kmod does", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"-f", "libcrc32c"});
    CHECK(run.status == 1);
    CHECK(run.err ==
          "rmmod: ERROR: could not remove module libcrc32c: Resource temporarily unavailable\n");
    CHECK(w.kernel.find("libcrc32c") != nullptr);
}

TEST_CASE("rmmod removes a set named in the wrong order in holder order, with or without -r",
          "[rmmod]") {
    SECTION("plain: each judged alone, holders first") {
        BasicWorld w;
        const auto run = w.rmmod({"x_tables", "ip_tables", "iptable_nat"});
        CHECK(run.err.empty());
        CHECK(run.status == 0);
        CHECK(w.our_deletes() == std::vector<std::string>{"iptable_nat", "ip_tables", "x_tables"});
    }
    SECTION("-r: one plan, and the dependencies left unused after") {
        BasicWorld w;
        const auto run = w.rmmod({"-r", "nf_defrag_ipv4", "nf_conntrack", "nf_nat", "iptable_nat"});
        CHECK(run.err.empty());
        CHECK(run.status == 0);
        const std::vector<std::string> deletes = w.our_deletes();
        CHECK(deletes.front() == "iptable_nat");
        CHECK(deletes.size() == 7);                    // and nf_defrag_ipv6, ip_tables, x_tables
        CHECK(w.kernel.find("libcrc32c") != nullptr);  // xfs still uses it
        CHECK(w.kernel.find("nf_defrag_ipv6") == nullptr);
    }
}

TEST_CASE("rmmod of a set with a target held from outside it fails in kmod's words", "[rmmod]") {
    SECTION("-r: nothing removed") {
        BasicWorld w;
        const auto run = w.rmmod({"-r", "libcrc32c", "nf_conntrack", "nf_nat", "iptable_nat"});
        CHECK(run.status == 1);
        CHECK(run.err == "rmmod: ERROR: Module libcrc32c is in use by: nf_nat nf_conntrack xfs\n");
        CHECK(w.our_deletes().empty());
    }
    SECTION("-r, a target in use from outside modules: nothing removed") {
        BasicWorld w;
        const auto run = w.rmmod({"-r", "iptable_nat", "lab_dev"});
        CHECK(run.status == 1);
        CHECK(run.err ==
              "rmmod: ERROR: Module lab_dev is in use\n"
              "rmmod: open files looked for through /proc only, which misses some\n"
              "rmmod: lab_dev: 2 references not attributed\n");
        CHECK(w.our_deletes().empty());
    }
    SECTION("plain: the others go, libcrc32c stays for xfs") {
        BasicWorld w;
        const auto run = w.rmmod({"libcrc32c", "nf_conntrack", "nf_nat", "iptable_nat"});
        CHECK(run.status == 1);
        CHECK(run.err == "rmmod: ERROR: Module libcrc32c is in use by: xfs\n");
        CHECK(w.our_deletes() == std::vector<std::string>{"iptable_nat", "nf_nat", "nf_conntrack"});
    }
}

TEST_CASE("rmmod removes a hundred and twenty targets named innermost first", "[rmmod]") {
    BasicWorld w;
    std::vector<std::string> args{"-r"};
    for (int i = 0; i < 120; ++i) {
        const std::string name = "set" + std::to_string(i);
        w.kernel.add({.name = name, .uses = {i == 0 ? "x_tables" : "set" + std::to_string(i - 1)}});
        args.push_back(name);
    }
    const auto run = w.rmmod(args);
    CHECK(run.err.empty());
    CHECK(run.status == 0);
    const std::vector<std::string> deletes = w.our_deletes();
    REQUIRE(deletes.size() == 120);
    CHECK(deletes.front() == "set119");
    CHECK(deletes.back() == "set0");
    CHECK(w.kernel.find("x_tables") != nullptr);  // still used by iptable_nat and ip_tables
}

namespace {

// The soft dependencies a load brings in around iptable_nat's chain: nf_conntrack's "pre: crc32c"
// from modules.softdep (an alias of two modules) and the administrator's "softdep iptable_nat
// post: lab-post" in modprobe.d.
void add_softdeps(BasicWorld& w) {
    w.kernel.add({.name = "crc32c_generic"});
    w.kernel.add({.name = "crc32c_intel"});
    w.kernel.add({.name = "lab_post"});
    const std::filesystem::path kernel = w.root / "lib/modules/6.1.0-test";
    modload::testing::write_text(kernel / "modules.softdep",
                                 "# Soft dependencies extracted from modules themselves.\n"
                                 "softdep nf_conntrack pre: crc32c\n");
    modload::testing::write_text(kernel / "modules.alias",
                                 "alias crc32c crc32c_intel\nalias crc32c crc32c_generic\n");
    std::filesystem::create_directories(w.root / "etc/modprobe.d");
    modload::testing::write_text(w.root / "etc/modprobe.d/lab.conf",
                                 "softdep iptable_nat post: lab-post\n");
}

std::size_t position(const std::vector<std::string>& names, const std::string& name) {
    return static_cast<std::size_t>(std::find(names.begin(), names.end(), name) - names.begin());
}

}  // namespace

TEST_CASE("rmmod -r removes soft dependencies from modprobe.d and modules.softdep, as modprobe -r",
          "[rmmod]") {
    BasicWorld w;
    add_softdeps(w);
    const auto run = w.rmmod({"-v", "-r", "iptable_nat"});
    CHECK(run.status == 0);
    CHECK(run.err.find("rmmod: INFO: removed lab_post (a soft dependency of iptable_nat)\n") !=
          std::string::npos);
    CHECK(run.err.find("rmmod: INFO: removed crc32c_intel (a soft dependency of nf_conntrack)\n") !=
          std::string::npos);
    CHECK(
        run.err.find("rmmod: INFO: removed crc32c_generic (a soft dependency of nf_conntrack)\n") !=
        std::string::npos);
    const std::vector<std::string> deletes = w.our_deletes();
    CHECK(position(deletes, "lab_post") < position(deletes, "iptable_nat"));       // post: before
    CHECK(position(deletes, "nf_conntrack") < position(deletes, "crc32c_intel"));  // pre: after
    CHECK(position(deletes, "crc32c_generic") < deletes.size());
    CHECK(w.kernel.find("lab_post") == nullptr);
    CHECK(w.kernel.find("crc32c_intel") == nullptr);
    CHECK(w.kernel.find("libcrc32c") != nullptr);  // xfs uses it
}

TEST_CASE("rmmod without -r leaves soft dependencies alone", "[rmmod]") {
    BasicWorld w;
    add_softdeps(w);
    const auto run = w.rmmod({"iptable_nat"});
    CHECK(run.status == 0);
    CHECK(w.our_deletes() == std::vector<std::string>{"iptable_nat"});
    CHECK(w.kernel.find("lab_post") != nullptr);
}

TEST_CASE("rmmod -r keeps a soft dependency in use, and -v says so", "[rmmod]") {
    BasicWorld w;
    add_softdeps(w);
    REQUIRE(w.kernel.get_reference("crc32c_intel"));
    const auto run = w.rmmod({"-v", "-r", "iptable_nat"});
    CHECK(run.status == 0);
    CHECK(run.err.find("rmmod: INFO: kept crc32c_intel (a soft dependency of nf_conntrack): it is "
                       "in use") != std::string::npos);
    CHECK(w.kernel.find("crc32c_intel") != nullptr);
    CHECK(w.kernel.find("crc32c_generic") == nullptr);
}

TEST_CASE("rmmod -n -r lists the soft dependencies, and with -v says what they are", "[rmmod]") {
    BasicWorld w;
    add_softdeps(w);
    const auto quiet = w.rmmod({"-n", "-r", "iptable_nat"});
    CHECK(quiet.status == 0);
    CHECK(quiet.out.find("lab_post\niptable_nat\n") != std::string::npos);
    CHECK(quiet.out.find("crc32c_intel\n") != std::string::npos);
    CHECK(quiet.err.empty());  // a script reading the plan gets names only
    const auto run = w.rmmod({"-n", "-v", "-r", "iptable_nat"});
    CHECK(run.out == quiet.out);
    CHECK(run.err.find("rmmod: INFO: lab_post is a soft dependency of iptable_nat: removed if "
                       "nothing uses it then\n") != std::string::npos);
    CHECK(w.kernel.calls().empty());
}

TEST_CASE("rmmod -r follows no softdep line another user could have written", "[rmmod]") {
    BasicWorld w;
    add_softdeps(w);
    std::filesystem::permissions(
        w.root / "etc/modprobe.d/lab.conf",
        std::filesystem::perms::all &
            ~(std::filesystem::perms::owner_exec | std::filesystem::perms::group_exec |
              std::filesystem::perms::others_exec));
    const auto run = w.rmmod({"-r", "iptable_nat"});
    CHECK(run.status == 0);
    CHECK(run.err.find("rmmod: ignored " + (w.root / "etc/modprobe.d/lab.conf").string() +
                       ": writable by others (mode 0666); not trusted\n") != std::string::npos);
    CHECK(w.kernel.find("lab_post") != nullptr);
    CHECK(w.kernel.find("crc32c_intel") == nullptr);  // modules.softdep is still read
}

TEST_CASE("rmmod -v -r says how long it waited for references that go after their holder",
          "[rmmod]") {
    BasicWorld w;
    w.kernel.add({.name = "configfs"});
    w.kernel.add({.name = "target_core_mod",
                  .uses = {"configfs"},
                  .pins = {"configfs"},
                  .pin_release = modload::testing::Millis{6}});
    const auto run = w.rmmod({"-v", "-r", "target_core_mod"});
    CHECK(run.status == 0);
    CHECK(run.err.find("ms for the references target_core_mod left on configfs to go\n") !=
          std::string::npos);
    CHECK(run.err.find("rmmod: INFO: removed configfs\n") != std::string::npos);
    CHECK(w.kernel.find("configfs") == nullptr);
}

TEST_CASE("rmmod -r with a configuration it cannot read removes nothing, as insmod --deps",
          "[rmmod]") {
    BasicWorld w;
    std::filesystem::create_directories(w.root / "etc");
    modload::testing::write_text(w.root / "etc/modprobe.d", "not a folder\n");
    const auto run = w.rmmod({"-r", "iptable_nat"});
    CHECK(run.status == 1);
    CHECK(run.err.rfind("rmmod: ERROR: could not read the module configuration: ", 0) == 0);
    CHECK(run.err.find("modprobe.d") != std::string::npos);
    CHECK(w.kernel.calls().empty());
    const auto plain = w.rmmod({"iptable_nat"});  // without -r it is not read
    CHECK(plain.status == 0);
}

TEST_CASE("rmmod -r: a target in use from outside stops the set in kmod's words, before any call",
          "[rmmod]") {
    // The CI run of the merged tree found it said as the kernel's refusal ("Resource temporarily
    // unavailable") without a call: the check's failure had no kind.
    BasicWorld w;
    const auto run = w.rmmod({"-r", "iptable_nat", "lab_dev"});
    CHECK(run.status == 1);
    CHECK(run.err ==
          "rmmod: ERROR: Module lab_dev is in use\n"
          "rmmod: open files looked for through /proc only, which misses some\n"
          "rmmod: lab_dev: 2 references not attributed\n");
    CHECK(w.kernel.calls().empty());
}
