#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <catch2/catch.hpp>

#include <modload/compression.hpp>

#include "fixtures.hpp"

using namespace modload;
using modload::testing::fixture_module;
using modload::testing::read_bytes;

namespace {

using Bytes = std::vector<std::byte>;

constexpr std::size_t kMiB = std::size_t{1} << 20;

constexpr Compression kFormats[] = {Compression::zstd, Compression::xz, Compression::gzip};

Bytes bytes_of(std::string_view text) {
    const auto* p = reinterpret_cast<const std::byte*>(text.data());
    return {p, p + text.size()};
}

Bytes bytes_of(std::initializer_list<unsigned char> values) {
    Bytes out;
    for (const unsigned char v : values) {
        out.push_back(std::byte{v});
    }
    return out;
}

// Compared as a bool: Catch would otherwise print every byte of a mismatch.
bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

// Alternating runs of text and noise, so each format uses both matches and literals.
Bytes sample_payload(std::size_t size, std::uint32_t seed = 1) {
    std::mt19937 rng(seed);
    constexpr std::string_view kText = "modload test payload: insmod rmmod lsmod ";
    Bytes out(size);
    for (std::size_t i = 0; i < size; ++i) {
        out[i] = (i / 4096) % 2 == 0 ? std::byte(kText[i % kText.size()])
                                     : std::byte(static_cast<unsigned char>(rng()));
    }
    return out;
}

// The compressors below add each format's integrity check, as the zstd, xz and gzip programs
// do, so that a flipped byte is caught even where the data would still decode.
Bytes zstd_compress(std::span<const std::byte> data) {
    std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> ctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
    REQUIRE(ctx);
    REQUIRE_FALSE(ZSTD_isError(ZSTD_CCtx_setParameter(ctx.get(), ZSTD_c_compressionLevel, 3)));
    REQUIRE_FALSE(ZSTD_isError(ZSTD_CCtx_setParameter(ctx.get(), ZSTD_c_checksumFlag, 1)));
    Bytes out(ZSTD_compressBound(data.size()));
    const std::size_t n =
        ZSTD_compress2(ctx.get(), out.data(), out.size(), data.data(), data.size());
    REQUIRE_FALSE(ZSTD_isError(n));
    out.resize(n);
    return out;
}

Bytes xz_compress(std::span<const std::byte> data) {
    Bytes out(lzma_stream_buffer_bound(data.size()));
    std::size_t pos = 0;
    const lzma_ret ret = lzma_easy_buffer_encode(
        0, LZMA_CHECK_CRC32, nullptr, reinterpret_cast<const std::uint8_t*>(data.data()),
        data.size(), reinterpret_cast<std::uint8_t*>(out.data()), &pos, out.size());
    REQUIRE(ret == LZMA_OK);
    out.resize(pos);
    return out;
}

Bytes gzip_compress(std::span<const std::byte> data) {
    z_stream strm{};
    REQUIRE(deflateInit2(&strm, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    Bytes out(deflateBound(&strm, static_cast<uLong>(data.size())));
    strm.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(data.data()));
    strm.avail_in = static_cast<uInt>(data.size());
    strm.next_out = reinterpret_cast<Bytef*>(out.data());
    strm.avail_out = static_cast<uInt>(out.size());
    const int ret = deflate(&strm, Z_FINISH);
    out.resize(strm.total_out);
    (void)deflateEnd(&strm);
    REQUIRE(ret == Z_STREAM_END);
    return out;
}

Bytes pack(Compression format, std::span<const std::byte> data) {
    switch (format) {
        case Compression::zstd:
            return zstd_compress(data);
        case Compression::xz:
            return xz_compress(data);
        case Compression::gzip:
            return gzip_compress(data);
        case Compression::none:
            break;
    }
    return Bytes(data.begin(), data.end());
}

std::string name_of(Compression format) {
    return std::string(compression_name(format));
}

std::string fixture_for(Compression format) {
    switch (format) {
        case Compression::zstd:
            return "fixture_plain.ko.zst";
        case Compression::xz:
            return "fixture_plain.ko.xz";
        default:
            return "fixture_plain.ko.gz";
    }
}

// A corrupt stream is ENOEXEC, and the detail says which decoder refused it.
void check_corrupt(const Result<Bytes>& r, Compression format) {
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ENOEXEC);
    CHECK(r.error().detail.find(name_of(format)) != std::string::npos);
}

// 64 MiB of zeros, compressed once per format and kept: the bomb tests share it.
const Bytes& bomb(Compression format) {
    static std::map<Compression, Bytes> made;
    if (const auto it = made.find(format); it != made.end()) {
        return it->second;
    }
    const Bytes zeros(64 * kMiB);
    return made[format] = pack(format, zeros);
}

}  // namespace

TEST_CASE("zstd, xz and gzip modules decompress to the same ELF", "[compression]") {
    const auto plain = read_bytes(fixture_module("fixture_plain.ko"));
    for (const auto& [file, compression] : {std::pair{"fixture_plain.ko.zst", Compression::zstd},
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

TEST_CASE("each format is told by its magic bytes alone", "[compression]") {
    // The magic numbers from the formats' specifications (RFC 8878, the .xz spec, RFC 1952),
    // followed by bytes that are no valid stream: detection looks at the magic only.
    const Bytes tail = bytes_of("garbage that follows");
    Bytes zstd = bytes_of({0x28, 0xb5, 0x2f, 0xfd});
    Bytes xz = bytes_of({0xfd, '7', 'z', 'X', 'Z', 0x00});
    Bytes gzip = bytes_of({0x1f, 0x8b});
    CHECK(detect_compression(zstd) == Compression::zstd);
    CHECK(detect_compression(xz) == Compression::xz);
    CHECK(detect_compression(gzip) == Compression::gzip);
    zstd.insert(zstd.end(), tail.begin(), tail.end());
    xz.insert(xz.end(), tail.begin(), tail.end());
    gzip.insert(gzip.end(), tail.begin(), tail.end());
    CHECK(detect_compression(zstd) == Compression::zstd);
    CHECK(detect_compression(xz) == Compression::xz);
    CHECK(detect_compression(gzip) == Compression::gzip);

    // The same goes for streams made here, whatever they hold.
    const Bytes payload = sample_payload(1000);
    for (const Compression format : kFormats) {
        INFO(name_of(format));
        CHECK(detect_compression(pack(format, payload)) == format);
    }
}

TEST_CASE("an ELF, text, other formats and an empty input are not compressed", "[compression]") {
    CHECK(detect_compression({}) == Compression::none);
    CHECK(detect_compression(read_bytes(fixture_module("fixture_plain.ko"))) == Compression::none);
    CHECK(detect_compression(bytes_of("obj-m += fixture.o\n")) == Compression::none);
    CHECK(detect_compression(bytes_of("BZh91AY&SY")) == Compression::none);  // bzip2
    CHECK(detect_compression(bytes_of({0x04, 0x22, 0x4d, 0x18, 0x64})) ==
          Compression::none);  // lz4
    CHECK(detect_compression(bytes_of({0x5d, 0x00, 0x00, 0x80, 0x00})) ==
          Compression::none);  // lzma
    // One wrong byte anywhere in a magic is enough.
    CHECK(detect_compression(bytes_of({0xfd, '7', 'z', 'X', 'Z', 0x01})) == Compression::none);
    CHECK(detect_compression(bytes_of({0x28, 0xb5, 0x2f, 0xfe})) == Compression::none);
    CHECK(detect_compression(bytes_of({0x1f, 0x8c})) == Compression::none);
}

TEST_CASE("an input shorter than a magic is not taken for that format", "[compression]") {
    const Bytes zstd = bytes_of({0x28, 0xb5, 0x2f, 0xfd});
    const Bytes xz = bytes_of({0xfd, '7', 'z', 'X', 'Z', 0x00});
    const Bytes gzip = bytes_of({0x1f, 0x8b});
    for (const Bytes* magic : {&zstd, &xz, &gzip}) {
        for (std::size_t n = 0; n < magic->size(); ++n) {
            INFO("prefix of " << n << " of " << magic->size() << " bytes");
            CHECK(detect_compression(std::span(*magic).first(n)) == Compression::none);
        }
    }
}

TEST_CASE("data compressed here comes back byte for byte", "[compression]") {
    // Sizes around the decoder's 1 MiB growth steps, and the empty stream.
    for (const std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{4096}, kMiB - 1,
                                   kMiB, kMiB + 1, 3 * kMiB + 17}) {
        const Bytes payload = sample_payload(size, static_cast<std::uint32_t>(size));
        for (const Compression format : kFormats) {
            INFO(name_of(format) << ", " << size << " bytes");
            const Bytes packed = pack(format, payload);
            REQUIRE(detect_compression(packed) == format);
            auto out = decompress(format, packed, 8 * kMiB);
            REQUIRE(out);
            CHECK(out->size() == payload.size());
            CHECK(same_bytes(*out, payload));
        }
    }
}

TEST_CASE(
    "concatenated gzip members, zstd frames and xz streams decompress to their "
    "concatenation, as `cat a b` and `gzip -dc` make and read them",
    "[compression]") {
    const Bytes first = sample_payload(5000, 1);
    const Bytes second = sample_payload(7000, 2);
    Bytes both = first;
    both.insert(both.end(), second.begin(), second.end());
    for (const Compression format : {Compression::gzip, Compression::zstd, Compression::xz}) {
        INFO(name_of(format));
        Bytes packed = pack(format, first);
        const Bytes more = pack(format, second);
        packed.insert(packed.end(), more.begin(), more.end());
        auto out = decompress(format, packed, kMiB);
        REQUIRE(out);
        CHECK(same_bytes(*out, both));
    }
}

TEST_CASE("an uncompressed input comes back as it is, within the cap", "[compression]") {
    const Bytes payload = sample_payload(3000);
    auto same = decompress(Compression::none, payload, payload.size());
    REQUIRE(same);
    CHECK(same_bytes(*same, payload));
    auto over = decompress(Compression::none, payload, payload.size() - 1);
    REQUIRE_FALSE(over);
    CHECK(over.error().code == EFBIG);
}

TEST_CASE("a decompression bomb fails with EFBIG at the cap", "[compression]") {
    for (const Compression format : kFormats) {
        INFO(name_of(format));
        const Bytes& packed = bomb(format);
        REQUIRE(packed.size() < kMiB);  // it is a bomb: small in, huge out
        auto out = decompress(format, packed, kMiB);
        REQUIRE_FALSE(out);
        CHECK(out.error().code == EFBIG);
        // With a cap past the real size it decompresses: the refusal was the cap's doing.
        auto whole = decompress(format, packed, 64 * kMiB);
        REQUIRE(whole);
        CHECK(whole->size() == 64 * kMiB);
        CHECK(std::all_of(whole->begin(), whole->end(),
                          [](std::byte b) { return b == std::byte{0}; }));
    }
}

TEST_CASE("a cap of exactly the decompressed size succeeds and one byte less fails",
          "[compression]") {
    // A multiple of the 1 MiB growth step, one that is not, and a small one.
    for (const std::size_t size : {std::size_t{100}, kMiB, kMiB + kMiB / 2 + 7}) {
        const Bytes payload = sample_payload(size, 7);
        for (const Compression format : kFormats) {
            INFO(name_of(format) << ", " << size << " bytes");
            const Bytes packed = pack(format, payload);
            auto exact = decompress(format, packed, size);
            REQUIRE(exact);
            CHECK(same_bytes(*exact, payload));
            // The output buffer is the one that grew: its capacity is the most the decoder ever
            // allocated for output. One byte past the cap is all it needs to see the cap passed.
            CHECK(exact->capacity() <= size + 1);
            auto short_by_one = decompress(format, packed, size - 1);
            REQUIRE_FALSE(short_by_one);
            CHECK(short_by_one.error().code == EFBIG);
        }
    }
}

TEST_CASE("a cap of zero accepts only an empty stream", "[compression]") {
    for (const Compression format : kFormats) {
        INFO(name_of(format));
        auto empty = decompress(format, pack(format, {}), 0);
        REQUIRE(empty);
        CHECK(empty->empty());
        auto one = decompress(format, pack(format, bytes_of("x")), 0);
        REQUIRE_FALSE(one);
        CHECK(one.error().code == EFBIG);
    }
}

TEST_CASE("a stream with flipped bytes in the middle gives ENOEXEC naming the format",
          "[compression]") {
    const Bytes payload = sample_payload(200000);
    for (const Compression format : kFormats) {
        INFO(name_of(format));
        Bytes packed = pack(format, payload);
        const std::size_t middle = packed.size() / 2;
        for (std::size_t i = 0; i < 4; ++i) {
            packed[middle + i] ^= std::byte{0x5a};
        }
        check_corrupt(decompress(format, packed, 8 * kMiB), format);
    }
}

TEST_CASE("no single flipped byte of a compressed module goes unnoticed", "[compression]") {
    // Every byte of each fixture stream, flipped in turn: the decoder refuses it with ENOEXEC,
    // or (for fields decoders ignore, such as gzip's MTIME and OS) gives back the same ELF.
    // It never hands back different bytes: each format carries a checksum.
    const auto plain = read_bytes(fixture_module("fixture_plain.ko"));
    for (const Compression format : kFormats) {
        INFO(name_of(format));
        const auto packed = read_bytes(fixture_module(fixture_for(format)));
        std::size_t refused = 0;
        for (std::size_t at = 0; at < packed.size(); ++at) {
            for (const unsigned char mask : {0x01, 0x80}) {
                Bytes copy = packed;
                copy[at] ^= std::byte{mask};
                auto out = decompress(format, copy, kMiB);
                INFO("byte " << at << " ^ " << int(mask));
                if (out) {
                    CHECK(same_bytes(*out, plain));
                } else {
                    CHECK(out.error().code == ENOEXEC);
                    CHECK(out.error().detail.find(name_of(format)) != std::string::npos);
                    ++refused;
                }
            }
        }
        // The ignored fields are a few header bytes; nearly every flip must be refused.
        CHECK(refused > packed.size() * 2 - 40);
    }
}

TEST_CASE("every truncation of a compressed stream gives ENOEXEC naming the format",
          "[compression]") {
    for (const Compression format : kFormats) {
        INFO(name_of(format));
        const auto packed = read_bytes(fixture_module(fixture_for(format)));
        for (std::size_t length = 0; length < packed.size(); ++length) {
            INFO("first " << length << " of " << packed.size() << " bytes");
            check_corrupt(decompress(format, std::span(packed).first(length), kMiB), format);
        }
        // A large stream cut in the middle: the decoder has produced output when the input ends.
        const Bytes big = pack(format, sample_payload(3 * kMiB));
        check_corrupt(decompress(format, std::span(big).first(big.size() / 2), 8 * kMiB), format);
    }
}

TEST_CASE("garbage right after the magic gives ENOEXEC naming the format", "[compression]") {
    std::mt19937 rng(42);
    for (const Compression format : kFormats) {
        INFO(name_of(format));
        const auto fixture = read_bytes(fixture_module(fixture_for(format)));
        const std::size_t magic = format == Compression::gzip ? 2
                                  : format == Compression::xz ? 6
                                                              : 4;
        for (int round = 0; round < 20; ++round) {
            Bytes input(fixture.begin(), fixture.begin() + static_cast<std::ptrdiff_t>(magic));
            const std::size_t garbage = round == 0 ? 0 : 1 + rng() % 300;
            for (std::size_t i = 0; i < garbage; ++i) {
                input.push_back(std::byte(static_cast<unsigned char>(rng())));
            }
            REQUIRE(detect_compression(input) == format);
            INFO(garbage << " bytes of garbage");
            check_corrupt(decompress(format, input, kMiB), format);
        }
    }
}

TEST_CASE("bytes after the last member, frame or stream are refused alike in every format",
          "[compression]") {
    const Compression format = GENERATE(Compression::gzip, Compression::zstd, Compression::xz);
    const std::string unit = format == Compression::gzip   ? "member"
                             : format == Compression::zstd ? "frame"
                                                           : "stream";
    INFO(name_of(format));
    const Bytes trailer = bytes_of("trailing bytes that are no stream");
    for (const int members : {1, 2}) {
        Bytes packed;
        for (int i = 0; i < members; ++i) {
            const Bytes one = pack(format, sample_payload(5000, static_cast<std::uint32_t>(i)));
            packed.insert(packed.end(), one.begin(), one.end());
        }
        packed.insert(packed.end(), trailer.begin(), trailer.end());
        auto out = decompress(format, packed, kMiB);
        check_corrupt(out, format);
        CHECK(out.error().detail == "corrupt " + name_of(format) +
                                        " data: " + std::to_string(trailer.size()) +
                                        " bytes after the last " + unit);
    }
}

TEST_CASE("count_units counts gzip members, zstd frames and xz streams", "[compression]") {
    const Bytes payload = sample_payload(5000);
    const Compression format = GENERATE(Compression::gzip, Compression::zstd, Compression::xz);
    INFO(name_of(format));
    Bytes packed = pack(format, payload);
    auto one = count_units(format, packed, kMiB);
    REQUIRE(one);
    CHECK(*one == 1);
    const Bytes unit = packed;
    for (std::size_t more = 1; more < 3; ++more) {
        packed.insert(packed.end(), unit.begin(), unit.end());
    }
    auto three = count_units(format, packed, kMiB);
    REQUIRE(three);
    CHECK(*three == 3);
    // What decompress() refuses, count_units() refuses alike.
    packed.resize(packed.size() - 3);
    auto truncated = count_units(format, packed, kMiB);
    REQUIRE_FALSE(truncated);
    CHECK(truncated.error().code == decompress(format, packed, kMiB).error().code);
    CHECK(count_units(format, unit, 100).error().code == EFBIG);
}

TEST_CASE("an uncompressed file is one unit", "[compression]") {
    const Bytes payload = sample_payload(100);
    auto units = count_units(Compression::none, payload, kMiB);
    REQUIRE(units);
    CHECK(*units == 1);
}

TEST_CASE("xz stream padding, part of the format, is not trailing data", "[compression]") {
    const Bytes payload = sample_payload(3000);
    Bytes packed = pack(Compression::xz, payload);
    packed.insert(packed.end(), 8, std::byte{0});
    auto out = decompress(Compression::xz, packed, kMiB);
    REQUIRE(out);
    CHECK(same_bytes(*out, payload));
    // Padding is no unit: the kernel, which stops after the first stream, loads the same bytes.
    auto units = count_units(Compression::xz, packed, kMiB);
    REQUIRE(units);
    CHECK(*units == 1);
    packed.push_back(std::byte{0});  // nine: not a multiple of four
    check_corrupt(decompress(Compression::xz, packed, kMiB), Compression::xz);
}

TEST_CASE("a zstd frame that asks for a window over 128 MiB is refused", "[compression]") {
    // A frame written out by hand (RFC 8878): magic, a descriptor with no content size, a window
    // descriptor, and one last raw block holding "x". Window_Descriptor = (log - 10) << 3.
    const auto frame = [](unsigned window_log) {
        return bytes_of({0x28, 0xb5, 0x2f, 0xfd, 0x00,
                         static_cast<unsigned char>((window_log - 10) << 3), 0x09, 0x00, 0x00,
                         'x'});
    };
    auto small = decompress(Compression::zstd, frame(20), kMiB);
    REQUIRE(small);
    CHECK(*small == bytes_of("x"));
    check_corrupt(decompress(Compression::zstd, frame(30), kMiB), Compression::zstd);
}

// `packed`, one xz stream of one LZMA2 block, with the dictionary size its block header declares
// (the .xz format, 3.1) rewritten to `property` (LZMA2's encoding: 2^(property / 2 + 12) for an
// even property, 3 * 2^(property / 2 + 11) for an odd one, 40 for 4 GiB - 1) and the header's
// CRC32 fixed. The data still decodes with any dictionary at least as long as itself.
Bytes with_xz_dictionary(Bytes packed, unsigned property) {
    constexpr std::size_t kBlock = 12;  // after the stream header
    const std::size_t header_size = (std::to_integer<std::size_t>(packed[kBlock]) + 1) * 4;
    const auto flags = std::to_integer<unsigned>(packed[kBlock + 1]);
    REQUIRE((flags & 0x03) == 0);  // one filter
    std::size_t at = kBlock + 2;
    const auto skip_vli = [&] {
        while ((std::to_integer<unsigned>(packed[at++]) & 0x80) != 0) {
        }
    };
    if ((flags & 0x40) != 0) {
        skip_vli();  // compressed size
    }
    if ((flags & 0x80) != 0) {
        skip_vli();  // uncompressed size
    }
    REQUIRE(packed[at] == std::byte{0x21});      // LZMA2
    REQUIRE(packed[at + 1] == std::byte{0x01});  // one property byte: the dictionary size
    packed[at + 2] = std::byte(static_cast<unsigned char>(property));
    const std::size_t crc_at = kBlock + header_size - 4;
    const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(packed.data() + kBlock),
                            static_cast<uInt>(header_size - 4));
    for (std::size_t i = 0; i < 4; ++i) {
        packed[crc_at + i] = std::byte(static_cast<unsigned char>(crc >> (8 * i)));
    }
    return packed;
}

TEST_CASE("an xz stream that needs more than 128 MiB of decoder memory is refused",
          "[compression]") {
    const Bytes packed = xz_compress(sample_payload(1000));
    REQUIRE(decompress(Compression::xz, packed, kMiB));
    // The decoder's memory limit refuses a 4 GiB dictionary.
    auto out = decompress(Compression::xz, with_xz_dictionary(packed, 40), kMiB);
    check_corrupt(out, Compression::xz);
    CHECK(out.error().detail.find("128 MiB") != std::string::npos);
}

TEST_CASE("xz streams decode with any dictionary up to the limit, small or large",
          "[compression]") {
    // liblzma's blocks from a few bytes to the whole dictionary: the library maps the large ones
    // itself and allocates the small ones; each is given back (a leak fails this test under ASan).
    // Shorter than the smallest dictionary, so that every match stays within each.
    const Bytes payload = sample_payload(4000);
    const Bytes packed = xz_compress(payload);
    for (const unsigned property : {0U, 16U, 20U, 28U, 29U}) {  // 4 KiB; 1, 4, 64 and 96 MiB
        CAPTURE(property);
        for (int round = 0; round < 3; ++round) {
            auto out = decompress(Compression::xz, with_xz_dictionary(packed, property), kMiB);
            REQUIRE(out);
            CHECK(*out == payload);
        }
    }
}

TEST_CASE("compressions have /sys/module/compression's names, newline or not", "[compression]") {
    CHECK(compression_name(Compression::none) == "none");
    CHECK(compression_name(Compression::zstd) == "zstd");
    CHECK(compression_name(Compression::xz) == "xz");
    CHECK(compression_name(Compression::gzip) == "gzip");
    for (const Compression c :
         {Compression::none, Compression::zstd, Compression::xz, Compression::gzip}) {
        const std::string name(compression_name(c));
        INFO(name);
        CHECK(compression_from_name(name) == c);
        CHECK(compression_from_name(name + "\n") == c);  // as read from /sys
    }
    CHECK(compression_from_name("xz\n") == Compression::xz);
    CHECK(compression_from_name("zstd \n") == Compression::zstd);
    for (const char* unknown : {"", "\n", "lz4", "XZ", "zst", "gz", "bzip2", "xz2", "x"}) {
        INFO('"' << unknown << '"');
        CHECK_FALSE(compression_from_name(unknown).has_value());
    }
}

TEST_CASE("the largest cap there is works as no cap", "[compression]") {
    // OpenOptions::max_image_size may be set to SIZE_MAX to mean "no limit".
    const Bytes payload = sample_payload(3 * kMiB + 5);
    for (const Compression format : kFormats) {
        INFO(name_of(format));
        auto out = decompress(format, pack(format, payload), SIZE_MAX);
        INFO((out ? std::string() : out.error().message()));
        REQUIRE(out);
        CHECK(same_bytes(*out, payload));
    }
    auto plain = decompress(Compression::none, payload, SIZE_MAX);
    REQUIRE(plain);
    CHECK(same_bytes(*plain, payload));
}

TEST_CASE("data in a format modules are not read as is named by its magic", "[compression]") {
    const Bytes junk = bytes_of("0123456789abcdef0123456789abcdef");
    const auto with = [&](std::initializer_list<unsigned char> head) {
        Bytes data = bytes_of(head);
        data.insert(data.end(), junk.begin(), junk.end());
        return data;
    };
    CHECK(unsupported_compression(with({'B', 'Z', 'h', '9'})) == "bzip2");
    CHECK(unsupported_compression(with({0x04, 0x22, 0x4d, 0x18})) == "lz4");  // frame
    CHECK(unsupported_compression(with({0x02, 0x21, 0x4c, 0x18})) == "lz4");  // legacy
    CHECK(unsupported_compression(with({'L', 'Z', 'I', 'P', 0x01})) == "lzip");
    CHECK(unsupported_compression(with({0x89, 'L', 'Z', 'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a})) ==
          "lzop");
    // xz --format=lzma: properties 0x5d, an 8 MiB dictionary, the size unknown.
    CHECK(unsupported_compression(with({0x5d, 0x00, 0x00, 0x80, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff})) == "lzma");
    // 3 MiB (2^21 + 2^20) and a known size are lzma too; 5 MiB is no dictionary xz writes.
    CHECK(unsupported_compression(
              with({0x5d, 0x00, 0x00, 0x30, 0x00, 0x10, 0x27, 0, 0, 0, 0, 0, 0})) == "lzma");
    CHECK(unsupported_compression(with({0x5d, 0x00, 0x00, 0x50, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff})) == "");

    // What modules are read as, and what is no compression at all, is not named.
    CHECK(unsupported_compression(with({'B', 'Z', 'h', 'x'})) == "");
    CHECK(unsupported_compression(bytes_of("this is not an ELF file\n")) == "");
    CHECK(unsupported_compression({}) == "");
    for (const char* name : {"fixture_plain.ko", "fixture_plain.ko.zst", "fixture_plain.ko.xz",
                             "fixture_plain.ko.gz", "fixture_be64.ko", "fixture_signed.ko"}) {
        INFO(name);
        CHECK(unsupported_compression(read_bytes(fixture_module(name))) == "");
    }
    CHECK(unsupported_compression(read_bytes(fixture_module("fixture_plain-lzma.ko.xz"))) ==
          "lzma");
}
