#include <catch2/catch.hpp>

#include <modload/compression.hpp>

#include "fixtures.hpp"

using namespace modload;
using modload::testing::fixture_module;
using modload::testing::read_bytes;

TEST_CASE("zstd, xz and gzip modules decompress to the same ELF", "[compression]") {
    const auto plain = read_bytes(fixture_module("fixture_plain.ko"));
    for (const auto& [file, compression] :
         {std::pair{"fixture_plain.ko.zst", Compression::zstd},
          std::pair{"fixture_plain.ko.xz", Compression::xz},
          std::pair{"fixture_plain.ko.gz", Compression::gzip}}) {
        INFO(file);
        const auto packed = read_bytes(fixture_module(file));
        REQUIRE(detect_compression(packed) == compression);
        auto out = decompress(compression, packed, std::size_t{1} << 20);
        REQUIRE(out);
        CHECK(*out == plain);
    }
}
