// What the kernel's module decompressor takes, told from stream headers: the files xz, gzip and
// zstd make as people run them, and headers crafted field by field.
#include "stream_header.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fixtures.hpp"

using namespace modload;
using modload::detail::kernel_decompressor_limit;
using modload::testing::fixture_module;
using modload::testing::read_bytes;

namespace {

using Bytes = std::vector<std::byte>;

LoadChoice limit_of(Compression compression, const std::string& fixture) {
    return kernel_decompressor_limit(compression, read_bytes(fixture_module(fixture)));
}

Bytes bytes_of(std::initializer_list<unsigned> values) {
    Bytes out;
    for (const unsigned v : values) {
        out.push_back(static_cast<std::byte>(v));
    }
    return out;
}

}  // namespace

TEST_CASE("xz files whose check the kernel's decoder lacks are named by their check",
          "[compression]") {
    for (const auto& [fixture, check] : {std::pair{"fixture_plain-crc64.ko.xz", "CRC64"},
                                         std::pair{"fixture_plain-sha256.ko.xz", "SHA-256"}}) {
        INFO(fixture);
        const LoadChoice limit = limit_of(Compression::xz, fixture);
        CHECK(limit.reason == LoadReason::xz_check);
        CHECK(limit.detail == check);
        CHECK(limit.method == LoadMethod::init);
    }
    for (const char* fixture : {"fixture_plain.ko.xz", "fixture_plain-none.ko.xz"}) {
        INFO(fixture);
        CHECK(limit_of(Compression::xz, fixture).reason == LoadReason::none);
    }
}

TEST_CASE("xz filter chains: LZMA2 alone or behind the machine's BCJ go to the kernel",
          "[compression]") {
    CHECK(limit_of(Compression::xz, "fixture_plain-delta.ko.xz").detail == "Delta");
    CHECK(limit_of(Compression::xz, "fixture_plain-delta.ko.xz").reason == LoadReason::xz_filter);
#if defined(__x86_64__) || defined(__i386__)
    CHECK(limit_of(Compression::xz, "fixture_plain-x86.ko.xz").reason == LoadReason::none);
    const LoadChoice arm = limit_of(Compression::xz, "fixture_plain-arm.ko.xz");
    CHECK(arm.reason == LoadReason::xz_filter);
    CHECK(arm.detail == "ARM BCJ");
#endif
}

TEST_CASE("a gzip header is judged by its flags: the kernel skips FNAME only", "[compression]") {
    CHECK(limit_of(Compression::gzip, "fixture_plain.ko.gz").reason == LoadReason::none);
    Bytes header = bytes_of({0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x02, 0x03});
    for (const auto& [flags, fields] :
         {std::pair{0x08U, ""}, std::pair{0x01U, ""}, std::pair{0x10U, "FCOMMENT"},
          std::pair{0x04U, "FEXTRA"}, std::pair{0x02U, "FHCRC"},
          std::pair{0x1eU, "FEXTRA, FCOMMENT, FHCRC"}}) {
        INFO("flags " << flags);
        header[3] = static_cast<std::byte>(flags);
        const LoadChoice limit = kernel_decompressor_limit(Compression::gzip, header);
        CHECK(limit.detail == fields);
        CHECK(limit.reason ==
              (std::string(fields).empty() ? LoadReason::none : LoadReason::gzip_header));
    }
}

TEST_CASE("a zstd window past 2 GiB is the kernel's limit", "[compression]") {
    CHECK(limit_of(Compression::zstd, "fixture_plain.ko.zst").reason == LoadReason::none);
    // Frame Header Descriptor 0x00 (no content size, not single segment), then the Window
    // Descriptor: exponent and mantissa, window = 2^(10 + e) * (1 + m / 8).
    for (const auto& [descriptor, window, over] :
         {std::tuple{0xa8U, std::uint64_t{1} << 31, false},  // zstd --long=31 from a pipe
          std::tuple{0xa9U, (std::uint64_t{1} << 31) + (std::uint64_t{1} << 28), true},
          std::tuple{0xf8U, std::uint64_t{1} << 41, true},
          std::tuple{0x00U, std::uint64_t{1024}, false}}) {
        INFO("window " << window);
        const Bytes frame = bytes_of({0x28, 0xb5, 0x2f, 0xfd, 0x00, descriptor, 0, 0});
        const LoadChoice limit = kernel_decompressor_limit(Compression::zstd, frame);
        CHECK(limit.reason == (over ? LoadReason::zstd_window : LoadReason::none));
        CHECK(limit.count == (over ? window : 0));
    }
    // Single segment: the window is the content size (8 bytes here: 3 GiB).
    const Bytes single = bytes_of({0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0xc0, 0, 0, 0, 0});
    CHECK(kernel_decompressor_limit(Compression::zstd, single).count == std::size_t{3} << 30);
}

TEST_CASE("a header too short to read leaves the file to fail as it decompresses",
          "[compression]") {
    for (const auto& [c, fixture] : {std::pair{Compression::xz, "fixture_plain-crc64.ko.xz"},
                                     std::pair{Compression::gzip, "fixture_plain.ko.gz"},
                                     std::pair{Compression::zstd, "fixture_plain.ko.zst"}}) {
        const Bytes data = read_bytes(fixture_module(fixture));
        for (std::size_t n = 0; n < 14; ++n) {
            INFO(fixture << " cut to " << n << " bytes");
            const Bytes head(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
            const LoadChoice limit = kernel_decompressor_limit(c, head);
            // Only the xz check can be read from so little, once the Stream Header is whole.
            CHECK(limit.reason ==
                  (c == Compression::xz && n >= 12 ? LoadReason::xz_check : LoadReason::none));
        }
    }
}
