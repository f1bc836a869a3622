#include <catch2/catch.hpp>

#include <modload/loader.hpp>

#include "fixtures.hpp"

using namespace modload;

TEST_CASE("a parameter value with spaces is quoted so the kernel takes it whole", "[loader]") {
    const std::vector<std::string> words{"count=3", "tag=two words", "flag"};
    CHECK(join_parameters(words) == "count=3 tag=\"two words\" flag");
}
