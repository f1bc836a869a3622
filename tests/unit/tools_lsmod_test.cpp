#include <catch2/catch.hpp>

#include "fixtures.hpp"

using modload::testing::fixture_root;
using modload::testing::FakeKernel;
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

TEST_CASE("lsmod fails clearly without /proc/modules or on a corrupt one", "[lsmod]") {
    FakeKernel kernel;
    modload::testing::ScratchDir dir;
    const auto none = run_tool("lsmod", kernel, dir.path(), {});
    CHECK(none.status == 1);
    CHECK(none.out.empty());
    CHECK(none.err.rfind("lsmod: ERROR: could not get list of modules: ", 0) == 0);
    CHECK(none.err.find("this kernel has no loadable module support") != std::string::npos);

    const auto corrupt = run_tool("lsmod", kernel, fixture_root("corrupt"), {});
    CHECK(corrupt.status == 1);
    CHECK(corrupt.out.empty());
    CHECK(corrupt.err.find("malformed /proc/modules line 2") != std::string::npos);
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
