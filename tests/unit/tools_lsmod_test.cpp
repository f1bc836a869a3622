#include <catch2/catch.hpp>

#include "fixtures.hpp"

using modload::testing::FakeKernel;
using modload::testing::fixture_root;
using modload::testing::run_tool;

TEST_CASE("lsmod prints kmod's header and rows from /proc/modules", "[lsmod]") {
    FakeKernel kernel;
    const auto run = run_tool("lsmod", kernel, fixture_root("basic"), {});
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    // Expected rows written out by hand in kmod's "%-19s %8ld  %d" layout.
    CHECK(run.out ==
          "Module                  Size  Used by\n"
          "lab_going              16384  0\n"
          "lab_permanent          16384  0\n"
          "lab_dev                16384  2\n"
          "iptable_nat            16384  0\n"
          "nf_nat                 57344  1 iptable_nat\n"
          "ip_tables              36864  1 iptable_nat\n"
          "x_tables               57344  2 iptable_nat,ip_tables\n"
          "nf_conntrack          188416  1 nf_nat\n"
          "nf_defrag_ipv6         24576  1 nf_conntrack\n"
          "nf_defrag_ipv4         16384  1 nf_conntrack\n"
          "xfs                  2002944  1\n"
          "libcrc32c              16384  3 nf_nat,nf_conntrack,xfs\n"
          "a_module_with_a_very_long_name_that_overflows     8192  0\n");
    CHECK(kernel.calls().empty());
}

TEST_CASE("lsmod shows '-' for the refcount when the kernel cannot unload", "[lsmod]") {
    FakeKernel kernel;
    const auto run = run_tool("lsmod", kernel, fixture_root("nounload"), {});
    CHECK(run.status == 0);
    CHECK(run.out ==
          "Module                  Size  Used by\n"
          "xfs                  2002944  -\n"
          "libcrc32c              16384  -\n");
}

TEST_CASE("lsmod with nothing loaded prints the header only", "[lsmod]") {
    FakeKernel kernel;
    const auto run = run_tool("lsmod", kernel, fixture_root("empty"), {});
    CHECK(run.status == 0);
    CHECK(run.out == "Module                  Size  Used by\n");
}

TEST_CASE("lsmod fails clearly without /proc/modules and goes on past a corrupt line", "[lsmod]") {
    FakeKernel kernel;
    modload::testing::ScratchDir dir;
    const auto none = run_tool("lsmod", kernel, dir.path(), {});
    CHECK(none.status == 1);
    CHECK(none.out.empty());
    CHECK(none.err.rfind("lsmod: ERROR: could not get list of modules: ", 0) == 0);
    CHECK(none.err.find("this kernel has no loadable module support") != std::string::npos);

    // A line no one understands is left out and said; the others are listed.
    const auto corrupt = run_tool("lsmod", kernel, fixture_root("corrupt"), {});
    CHECK(corrupt.status == 0);
    CHECK(corrupt.out.find("xfs") != std::string::npos);
    CHECK(corrupt.err ==
          "lsmod: /proc/modules line 2 not understood, left out: this line is not a module\n");
}

TEST_CASE("insmod and rmmod go on past a corrupt /proc/modules line, and say so", "[lsmod]") {
    const std::string said =
        "/proc/modules line 2 not understood, left out: this line is not a module\n";
    FakeKernel kernel;
    const auto removed = run_tool("rmmod", kernel, fixture_root("corrupt"), {"xfs"});
    CHECK(removed.status == 0);
    CHECK(removed.err == "rmmod: " + said);
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].syscall == "delete_module");

    const auto inserted = run_tool("insmod", kernel, fixture_root("corrupt"),
                                   {modload::testing::fixture_module("fixture_plain.ko")});
    CHECK(inserted.status == 0);
    CHECK(inserted.err == "insmod: " + said);
    REQUIRE(kernel.calls().size() == 2);
    CHECK(kernel.calls()[1].syscall == "finit_module");
}

TEST_CASE("lsmod usage: help, version and a bad option", "[lsmod]") {
    FakeKernel kernel;
    CHECK(run_tool("lsmod", kernel, fixture_root("basic"), {"-h"}).status == 0);
    const auto version = run_tool("lsmod", kernel, fixture_root("basic"), {"--version"});
    CHECK(version.status == 0);
    CHECK(version.out.rfind("modload version ", 0) == 0);
    const auto bad = run_tool("lsmod", kernel, fixture_root("basic"), {"--bogus"});
    CHECK(bad.status == 1);
    CHECK(bad.out.empty());
    CHECK(bad.err.rfind("lsmod: ERROR: ", 0) == 0);
}

TEST_CASE("lsmod -v and --syslog are taken, as kmod's lsmod takes them", "[lsmod]") {
    FakeKernel kernel;
    const auto plain = run_tool("lsmod", kernel, fixture_root("basic"), {});
    const auto verbose = run_tool("lsmod", kernel, fixture_root("basic"), {"-v"});
    CHECK(verbose.status == 0);
    CHECK(verbose.err.empty());
    CHECK(verbose.out == plain.out);
    CHECK(run_tool("lsmod", kernel, fixture_root("basic"), {"--verbose", "--syslog"}).status == 0);
}

TEST_CASE("lsmod MODULE shows only those modules, by any spelling of the name", "[lsmod]") {
    FakeKernel kernel;
    const auto run = run_tool("lsmod", kernel, fixture_root("basic"), {"nf-nat", "xfs"});
    CHECK(run.status == 0);
    CHECK(run.out ==
          "Module                  Size  Used by\n"
          "nf_nat                 57344  1 iptable_nat\n"
          "xfs                  2002944  1\n");
}

TEST_CASE("lsmod MODULE exits 1 when one of them is not loaded, for scripts", "[lsmod]") {
    FakeKernel kernel;
    const auto run = run_tool("lsmod", kernel, fixture_root("basic"), {"xfs", "ext4"});
    CHECK(run.status == 1);
    CHECK(run.err == "lsmod: ERROR: Module ext4 is not currently loaded\n");
    CHECK(run.out == "Module                  Size  Used by\nxfs                  2002944  1\n");
}

TEST_CASE("lsmod --sort orders by name, or by size and refcount largest first", "[lsmod]") {
    FakeKernel kernel;
    const auto by_size = run_tool("lsmod", kernel, fixture_root("basic"),
                                  {"--sort=size", "ip_tables", "xfs", "nf_conntrack"});
    CHECK(by_size.out ==
          "Module                  Size  Used by\n"
          "xfs                  2002944  1\n"
          "nf_conntrack          188416  1 nf_nat\n"
          "ip_tables              36864  1 iptable_nat\n");
    const auto by_name = run_tool("lsmod", kernel, fixture_root("basic"),
                                  {"-s", "name", "xfs", "ip_tables", "iptable_nat"});
    CHECK(by_name.out ==
          "Module                  Size  Used by\n"
          "ip_tables              36864  1 iptable_nat\n"
          "iptable_nat            16384  0\n"
          "xfs                  2002944  1\n");
    const auto by_refs = run_tool("lsmod", kernel, fixture_root("basic"),
                                  {"--sort", "refcount", "xfs", "libcrc32c", "lab_dev"});
    CHECK(by_refs.out ==
          "Module                  Size  Used by\n"
          "libcrc32c              16384  3 nf_nat,nf_conntrack,xfs\n"
          "lab_dev                16384  2\n"
          "xfs                  2002944  1\n");
    const auto bad = run_tool("lsmod", kernel, fixture_root("basic"), {"--sort=age"});
    CHECK(bad.status == 1);
    CHECK(bad.out.empty());
}

TEST_CASE("lsmod --json gives every fact of every module under stable keys", "[lsmod]") {
    FakeKernel kernel;
    const auto run = run_tool("lsmod", kernel, fixture_root("basic"),
                              {"--json", "libcrc32c", "lab_permanent", "lab_going"});
    CHECK(run.status == 0);
    CHECK(run.out ==
          "[\n"
          "  {\"name\": \"libcrc32c\", \"size\": 16384, \"refcount\": 3, \"holders\": [\"nf_nat\", "
          "\"nf_conntrack\", \"xfs\"], \"state\": \"Live\", \"taints\": \"\", \"permanent\": "
          "false},\n"
          "  {\"name\": \"lab_permanent\", \"size\": 16384, \"refcount\": 0, \"holders\": [], "
          "\"state\": \"Live\", \"taints\": \"OE\", \"permanent\": true},\n"
          "  {\"name\": \"lab_going\", \"size\": 16384, \"refcount\": 0, \"holders\": [], "
          "\"state\": \"Unloading\", \"taints\": \"OE\", \"permanent\": false}\n"
          "]\n");
}

TEST_CASE("lsmod --json: null refcount without unloading, [] with nothing loaded", "[lsmod]") {
    FakeKernel kernel;
    const auto nounload = run_tool("lsmod", kernel, fixture_root("nounload"), {"-j", "xfs"});
    CHECK(nounload.out.find("\"refcount\": null") != std::string::npos);
    const auto empty = run_tool("lsmod", kernel, fixture_root("empty"), {"-j"});
    CHECK(empty.out == "[]\n");
    const auto both = run_tool("lsmod", kernel, fixture_root("basic"), {"-j", "-t"});
    CHECK(both.status == 1);
}

TEST_CASE("lsmod --tree nests each module's dependencies under it, in ASCII off a terminal",
          "[lsmod]") {
    FakeKernel kernel;
    const auto run =
        run_tool("lsmod", kernel, fixture_root("basic"), {"--tree", "iptable_nat", "xfs"});
    CHECK(run.status == 0);
    CHECK(run.out ==
          "iptable_nat\n"
          "|-- nf_nat\n"
          "|   |-- nf_conntrack\n"
          "|   |   |-- nf_defrag_ipv6\n"
          "|   |   |-- nf_defrag_ipv4\n"
          "|   |   `-- libcrc32c\n"
          "|   `-- libcrc32c\n"
          "|-- ip_tables\n"
          "|   `-- x_tables\n"
          "`-- x_tables\n"
          "xfs [1 reference from outside modules]\n"
          "`-- libcrc32c\n");
}

TEST_CASE("lsmod --tree starts from the modules nothing holds and draws boxes on a terminal",
          "[lsmod]") {
    FakeKernel kernel;
    const auto run =
        run_tool("lsmod", kernel, fixture_root("basic"), {"-t"}, "6.1.0-test", 0, nullptr, true);
    CHECK(run.status == 0);
    CHECK(run.out.rfind("lab_going\nlab_permanent\nlab_dev [2 references from outside modules]\n"
                        "iptable_nat\n├── nf_nat\n│   ├── nf_conntrack\n",
                        0) == 0);
    CHECK(run.out.find("└── libcrc32c") != std::string::npos);
    // Every module appears, and only the unheld ones at the top.
    for (const char* top : {"\nxfs", "\na_module_with_a_very_long_name_that_overflows"}) {
        CHECK(run.out.find(top) != std::string::npos);
    }
    CHECK(run.out.find("\nlibcrc32c") == std::string::npos);
}

TEST_CASE("lsmod --tree marks a holder cycle in a corrupt snapshot instead of looping", "[lsmod]") {
    modload::testing::ScratchDir dir;
    modload::testing::write_text(dir / "proc/modules",
                                 "top 1 0 - Live 0x0\na 1 2 top,c, Live 0x0\nc 1 1 a, Live 0x0\n");
    FakeKernel kernel;
    const auto run = run_tool("lsmod", kernel, dir.path(), {"--tree"});
    CHECK(run.status == 0);
    CHECK(run.out == "top\n`-- a\n    `-- c\n        `-- a [cycle]\n");
}
