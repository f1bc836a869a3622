#include <catch2/catch.hpp>

#include "fixtures.hpp"

using modload::testing::fixture_module;
using modload::testing::fixture_root;
using modload::testing::FakeKernel;
using modload::testing::run_tool;

TEST_CASE("insmod loads a plain module with finit_module and its parameters", "[insmod]") {
    FakeKernel kernel;
    const auto run = run_tool("insmod", kernel, fixture_root("basic"),
                              {fixture_module("fixture_plain.ko"), "count=3", "tag=two words"});
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].syscall == "finit_module");
    CHECK(kernel.calls()[0].parameters == "count=3 tag=\"two words\"");
    CHECK(kernel.calls()[0].flags == 0);
}
