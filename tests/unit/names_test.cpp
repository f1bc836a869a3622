#include <catch2/catch.hpp>

#include <modload/names.hpp>

using modload::is_valid_module_name;
using modload::module_name_from_argument;

TEST_CASE("an argument names a module by its basename up to the first dot, dashes as underscores",
          "[names]") {
    CHECK(module_name_from_argument("crc-itu-t") == "crc_itu_t");
    CHECK(module_name_from_argument("/lib/modules/6.1.0/kernel/lib/crc-itu-t.ko.xz") ==
          "crc_itu_t");
    CHECK(module_name_from_argument("xfs.ko") == "xfs");
    CHECK(module_name_from_argument("./lab-dash.ko.zst") == "lab_dash");
    CHECK(module_name_from_argument("nf_nat") == "nf_nat");
}

TEST_CASE("an argument that leaves no name gives an empty name", "[names]") {
    CHECK(module_name_from_argument("").empty());
    CHECK(module_name_from_argument("dir/").empty());
    CHECK(module_name_from_argument(".ko").empty());
}

TEST_CASE("module names with slashes, dot folders or overlong are not valid", "[names]") {
    CHECK(is_valid_module_name("xfs"));
    CHECK_FALSE(is_valid_module_name(""));
    CHECK_FALSE(is_valid_module_name("a/b"));
    CHECK_FALSE(is_valid_module_name("../../etc"));
    CHECK_FALSE(is_valid_module_name("."));
    CHECK_FALSE(is_valid_module_name(".."));
    CHECK(is_valid_module_name(std::string(55, 'a')));
    CHECK_FALSE(is_valid_module_name(std::string(56, 'a')));
}
