// Inputs the fuzz targets in fuzz/ found to break a promise of the library, kept as bytes so that
// each stays fixed once fixed. Each test names the target that found it.
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <linux/netlink.h>

#include <catch2/catch.hpp>

#include <modload/load_plan.hpp>
#include <modload/loader.hpp>
#include <modload/system.hpp>

#include "fixtures.hpp"
#include "netlink.hpp"

using namespace modload;
using modload::testing::FixtureSystem;
using modload::testing::ScratchDir;
using modload::testing::write_text;

namespace {

// Words separated by NUL, as fuzz_parameters reads them (and as argv holds them).
std::vector<std::string> words_of(std::string_view bytes) {
    std::vector<std::string> words;
    while (!bytes.empty()) {
        const auto nul = bytes.find('\0');
        words.emplace_back(bytes.substr(0, nul));
        bytes.remove_prefix(nul == std::string_view::npos ? bytes.size() : nul + 1);
    }
    return words;
}

}  // namespace

// The kernel's isspace() (lib/ctype.c) counts byte 0xA0, Latin-1's no-break space, as white
// space, so parse_args() ends a parameter there unless it is quoted. UTF-8 puts 0xA0 in "à"
// (C3 A0) and in U+00A0 itself (C2 A0).
TEST_CASE(
    "a parameter value holding byte 0xA0 is quoted: the kernel splits there (fuzz_parameters)",
    "[loader]") {
    SECTION("the input the fuzzer found") {
        constexpr char kInput[] =
            "\x76\x3d\x61\x2a\x62\x1d\x00\x05\xff\xff\x02\xfb\x02\x02\x00\x02"
            "\x61\x63\x89\x3d\x63\x89\x8d\xa0\xe2\xdd\xf6\xff\xff\xff\xff\x65";
        const std::vector<std::string> words = words_of({kInput, sizeof kInput - 1});
        REQUIRE(words.size() == 3);
        CHECK(join_parameters(words) ==
              "\x76\x3d\x61\x2a\x62\x1d \x05\xff\xff\x02\xfb\x02\x02 "
              "\x02\x61\x63\x89=\"\x63\x89\x8d\xa0\xe2\xdd\xf6\xff\xff\xff\xff\x65\"");
    }
    SECTION("a UTF-8 value ending in \"à\"") {
        const std::vector<std::string> words{"name=voil\xc3\xa0", "count=3"};
        CHECK(join_parameters(words) == "name=\"voil\xc3\xa0\" count=3");
    }
}

// A module's depends= names its dependencies, and a hostile module can name "../x" or an absolute
// path: the locator joined it to the module's folder and found a file outside it, though it
// promises to look in that folder only. The input is the text fuzz_module_lists writes as
// modules.dep, whose lines it also asks for as names.
TEST_CASE(
    "a dependency named with a path is never found outside the module's folder "
    "(fuzz_module_lists)",
    "[insmod]") {
    constexpr char kInput[] = "\x2e\x2e\x2f\x6f\x75\x74\x73\x69\x64\x65\x0a";  // "../outside\n"
    ScratchDir dir;
    write_text(dir / "lib/modules/6.1.0-test/modules.dep", kInput);
    write_text(dir / "outside.ko", "\177ELF");
    write_text(dir / "beside/fixture_base.ko", "\177ELF");
    const std::filesystem::path beside = dir / "beside";
    const FixtureSystem system(dir.path());  // the locator looks in it later
    auto locator = ModuleLocator::make(system, "6.1.0-test", beside);
    REQUIRE(locator);
    const auto base = locator->find("fixture_base");
    REQUIRE(base);
    REQUIRE(*base);
    CHECK((*base)->path == beside / "fixture_base.ko");
    for (const std::string& name : {std::string("../outside"), (dir / "outside").string()}) {
        INFO(name);
        const auto found = locator->find(name);
        REQUIRE(found);
        CHECK((!*found || std::filesystem::canonical((*found)->path).parent_path() ==
                              std::filesystem::canonical(beside)));
    }
}

// A netlink answer ends a dump with NLMSG_DONE, or refuses with NLMSG_ERROR, carrying -errno; a
// hostile or broken one can carry INT_MIN, which negated overflowed (UBSan stopped). A code that
// is no errno (past MAX_ERRNO, 4095) makes the answer broken: EBADMSG.
TEST_CASE("a netlink error code that is no errno is EBADMSG, INT_MIN too (fuzz_holders)",
          "[refs]") {
    const auto answer = [](std::uint16_t type, int code) {
        const nlmsghdr header{NLMSG_LENGTH(sizeof code), type, 0, 1, 0};
        std::vector<std::byte> bytes(NLMSG_LENGTH(sizeof code));
        std::memcpy(bytes.data(), &header, sizeof header);
        std::memcpy(bytes.data() + NLMSG_HDRLEN, &code, sizeof code);
        return bytes;
    };
    for (const std::uint16_t type : {std::uint16_t{NLMSG_DONE}, std::uint16_t{NLMSG_ERROR}}) {
        INFO("message type " << type);
        for (const int code : {INT_MIN, -4096, -100000}) {
            INFO("code " << code);
            const auto broken = modload::detail::netlink_messages(answer(type, code));
            REQUIRE_FALSE(broken);
            CHECK(broken.error().code == EBADMSG);
        }
        const auto refused = modload::detail::netlink_messages(answer(type, -EPERM));
        REQUIRE_FALSE(refused);
        CHECK(refused.error().code == EPERM);
        const auto last = modload::detail::netlink_messages(answer(type, -4095));
        REQUIRE_FALSE(last);
        CHECK(last.error().code == 4095);
    }
    // An NLMSG_ERROR's positive code is read as the errno it names; INT_MAX names none.
    const auto positive = modload::detail::netlink_messages(answer(NLMSG_ERROR, ENOENT));
    REQUIRE_FALSE(positive);
    CHECK(positive.error().code == ENOENT);
    const auto huge = modload::detail::netlink_messages(answer(NLMSG_ERROR, INT_MAX));
    REQUIRE_FALSE(huge);
    CHECK(huge.error().code == EBADMSG);
}
