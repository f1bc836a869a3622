#include <algorithm>

#include <catch2/catch.hpp>

#include <modload/module_info.hpp>

#include "fixtures.hpp"

using namespace modload;
using modload::testing::fixture_module;
using modload::testing::read_bytes;

TEST_CASE("a gcc-built module yields its modinfo, name, versions, exports and imports", "[elf]") {
    const auto image = read_bytes(fixture_module("fixture_plain.ko"));
    auto info = parse_module_image(image);
    REQUIRE(info);
    CHECK(info->name == "fixture_plain");
    CHECK(info->identity.bits == 64);
    CHECK_FALSE(info->identity.big_endian);
    CHECK(info->modinfo_value("license") == "GPL");
    CHECK(info->depends() == std::vector<std::string>{"fixture_provider", "crc-itu-t"});
    auto aliases = info->modinfo_values("alias");  // gcc chooses the order of the strings
    std::sort(aliases.begin(), aliases.end());
    CHECK(aliases == std::vector<std::string_view>{"fixture:one", "fixture:two"});
    REQUIRE(info->versions.size() == 2);
    CHECK(info->versions[1].name == "fixture_provider_value");
    CHECK(info->versions[1].crc == 0x9abcdef0);
    CHECK(info->exported_symbols == std::vector<std::string>{"fixture_exported"});
    CHECK(std::find(info->undefined_symbols.begin(), info->undefined_symbols.end(),
                    "fixture_provider_value") != info->undefined_symbols.end());
    CHECK_FALSE(info->signature_appended);
}
