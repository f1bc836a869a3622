#include <modload/compression.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>

#include <lzma.h>
#include <sys/mman.h>
#include <zlib.h>
#include <zstd.h>

#include "shared_library.hpp"

namespace modload {

namespace {

// The functions of each decompression library, bound on the first module in its format (see
// shared_library.hpp): lsmod and rmmod never load these libraries.
struct Zstd {
    decltype(&ZSTD_createDCtx) create_dctx;
    decltype(&ZSTD_freeDCtx) free_dctx;
    decltype(&ZSTD_DCtx_setParameter) dctx_set_parameter;
    decltype(&ZSTD_decompressStream) decompress_stream;
    decltype(&ZSTD_isError) is_error;
    decltype(&ZSTD_getErrorName) get_error_name;
};

struct Lzma {
    decltype(&lzma_stream_decoder) stream_decoder;
    decltype(&lzma_code) code;
    decltype(&lzma_end) end;
};

struct Zlib {
    decltype(&::inflateInit2_) inflate_init2;  // what the inflateInit2 macro calls
    decltype(&::inflate) inflate_stream;       // inflate(): a member of that name would hide it
    decltype(&::inflateEnd) inflate_end;
    decltype(&::inflateReset) inflate_reset;
};

#ifndef MODLOAD_STATIC_LIBRARIES
Result<const Zstd*> zstd() {
    static const Result<Zstd> once = detail::bind_library<Zstd>(
        "libzstd.so.1", "zstd decompression", [](detail::SharedLibrary& lib, Zstd& f) {
            return lib.bind(f.create_dctx, "ZSTD_createDCtx") &&
                   lib.bind(f.free_dctx, "ZSTD_freeDCtx") &&
                   lib.bind(f.dctx_set_parameter, "ZSTD_DCtx_setParameter") &&
                   lib.bind(f.decompress_stream, "ZSTD_decompressStream") &&
                   lib.bind(f.is_error, "ZSTD_isError") &&
                   lib.bind(f.get_error_name, "ZSTD_getErrorName");
        });
    return detail::bound_table(once);
}

Result<const Lzma*> lzma() {
    static const Result<Lzma> once = detail::bind_library<Lzma>(
        "liblzma.so.5", "xz decompression", [](detail::SharedLibrary& lib, Lzma& f) {
            return lib.bind(f.stream_decoder, "lzma_stream_decoder") &&
                   lib.bind(f.code, "lzma_code") && lib.bind(f.end, "lzma_end");
        });
    return detail::bound_table(once);
}

Result<const Zlib*> zlib() {
    static const Result<Zlib> once = detail::bind_library<Zlib>(
        "libz.so.1", "gzip decompression", [](detail::SharedLibrary& lib, Zlib& f) {
            return lib.bind(f.inflate_init2, "inflateInit2_") &&
                   lib.bind(f.inflate_stream, "inflate") && lib.bind(f.inflate_end, "inflateEnd") &&
                   lib.bind(f.inflate_reset, "inflateReset");
        });
    return detail::bound_table(once);
}
#else
Result<const Zstd*> zstd() {
    static const Zstd linked{&ZSTD_createDCtx,       &ZSTD_freeDCtx, &ZSTD_DCtx_setParameter,
                             &ZSTD_decompressStream, &ZSTD_isError,  &ZSTD_getErrorName};
    return &linked;
}

Result<const Lzma*> lzma() {
    static const Lzma linked{&lzma_stream_decoder, &lzma_code, &lzma_end};
    return &linked;
}

Result<const Zlib*> zlib() {
    static const Zlib linked{&inflateInit2_, &inflate, &inflateEnd, &inflateReset};
    return &linked;
}
#endif

struct Magic {
    Compression compression;
    std::array<unsigned char, 6> bytes;
    std::size_t length;
};

// The same table kmod keeps: magic numbers, never file names, decide.
constexpr std::array kMagics = {
    Magic{Compression::zstd, {0x28, 0xb5, 0x2f, 0xfd}, 4},
    Magic{Compression::xz, {0xfd, '7', 'z', 'X', 'Z', 0x00}, 6},
    Magic{Compression::gzip, {0x1f, 0x8b}, 2},
};

// The output buffer starts small and doubles up to steps of kChunk: a stream that is refused at
// its header, or a small module, zero-fills a few KiB, not a whole chunk.
constexpr std::size_t kFirstChunk = std::size_t{16} << 10;
constexpr std::size_t kChunk = std::size_t{1} << 20;

Error too_large(std::size_t max_output) {
    return make_error(EFBIG,
                      "decompressed size exceeds " + std::to_string(max_output >> 20) + " MiB");
}

Error corrupt(std::string_view format, std::string_view why) {
    return make_error(ENOEXEC, "corrupt " + std::string(format) + " data: " + std::string(why));
}

// Every format is read the same way at its end: another member, frame or stream is read too (as
// `gzip -dc`, `zstd -dc` and `xz -dc` do), and any other byte after the last one makes the file
// corrupt: what is loaded must be all that the file says, with nothing hidden behind it.
Error trailing(std::string_view format, std::string_view unit, std::size_t count) {
    return corrupt(format, std::to_string(count) + " bytes after the last " + std::string(unit));
}

bool starts_with_magic(std::span<const std::byte> data, Compression compression) {
    return detect_compression(data) == compression;
}

// Grows `out` (doubling from kFirstChunk, then by kChunk at a time), never past max_output + 1
// bytes: one byte over the limit is enough to know the limit was passed, and nothing larger is
// ever allocated.
bool grow(std::vector<std::byte>& out, std::size_t max_output) {
    if (out.size() > max_output) {
        return false;
    }
    // Saturating: with max_output == SIZE_MAX ("no limit"), max_output + 1 wrapped to 0 and the
    // buffer never grew, so every stream failed as corrupt.
    const std::size_t ceiling = max_output < SIZE_MAX ? max_output + 1 : max_output;
    const std::size_t step = out.empty() ? kFirstChunk : std::min(out.size(), kChunk);
    const std::size_t size = std::min(out.size() + step, ceiling);
    // resize() alone lets vector double its capacity, which could allocate twice the limit;
    // double here instead, but never past the ceiling.
    if (size > out.capacity()) {
        out.reserve(std::min(std::max(size, 2 * out.capacity()), ceiling));
    }
    out.resize(size);
    return true;
}

Result<std::vector<std::byte>> decompress_zstd(std::span<const std::byte> input,
                                               std::size_t max_output, std::size_t& units) {
    const Result<const Zstd*> lib = zstd();
    if (!lib) {
        return lib.error();
    }
    const Zstd& z = **lib;
    std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(z.create_dctx(), z.free_dctx);
    if (!ctx) {
        return make_error(ENOMEM, "zstd context");
    }
    // A frame may demand a huge window; refuse more than the output limit could ever need.
    (void)z.dctx_set_parameter(ctx.get(), ZSTD_d_windowLogMax, 27);
    std::vector<std::byte> out;
    ZSTD_inBuffer in{input.data(), input.size(), 0};
    std::size_t produced = 0;
    std::size_t last = 1;
    while (in.pos < in.size || last != 0) {
        if (produced == out.size() && !grow(out, max_output)) {
            return too_large(max_output);
        }
        ZSTD_outBuffer o{out.data(), out.size(), produced};
        last = z.decompress_stream(ctx.get(), &o, &in);
        if (z.is_error(last) != 0U) {
            return corrupt("zstd", z.get_error_name(last));
        }
        if (last == 0) {
            ++units;
        }
        const bool progressed = o.pos != produced;
        produced = o.pos;
        if (produced > max_output) {
            return too_large(max_output);
        }
        // A frame ended: what follows must be another frame (or a skippable one).
        const std::span<const std::byte> rest = input.subspan(in.pos);
        if (last == 0 && !rest.empty() && !starts_with_magic(rest, Compression::zstd) &&
            !(rest.size() >= 4 && (std::to_integer<unsigned>(rest[0]) & 0xf0) == 0x50 &&
              std::to_integer<unsigned>(rest[1]) == 0x2a &&
              std::to_integer<unsigned>(rest[2]) == 0x4d &&
              std::to_integer<unsigned>(rest[3]) == 0x18)) {
            return trailing("zstd", "frame", rest.size());
        }
        if (in.pos == in.size && last != 0 && !progressed && produced < out.size()) {
            return corrupt("zstd", "truncated stream");
        }
    }
    out.resize(produced);
    return out;
}

// liblzma allocates the whole dictionary a stream declares (up to the 128 MiB memory limit below)
// before it knows how much the stream will use, and a hostile or fuzzed stream declares the
// largest. glibc's malloc maps such a block and leaves its pages untouched, but a sanitizer's
// malloc fills the shadow of every byte when the block is allocated and again when it is freed:
// that was 70% of the decompress fuzz target's time. Blocks of kMapAtLeast or more are mapped here
// directly, so that they cost the pages written under every allocator. Each block starts with a
// header that keeps its size, which liblzma's free() does not pass.
constexpr std::size_t kMapAtLeast = std::size_t{256} << 10;
constexpr std::size_t kBlockHeader = 16;  // keeps malloc's 16-byte alignment

void* xz_allocate(void* /*opaque*/, std::size_t count, std::size_t size) {
    std::size_t bytes = 0;
    if (__builtin_mul_overflow(count, size, &bytes) ||
        __builtin_add_overflow(bytes, kBlockHeader, &bytes)) {
        return nullptr;
    }
    void* block = nullptr;
    if (bytes >= kMapAtLeast) {
        block = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (block == MAP_FAILED) {
            return nullptr;
        }
    } else if ((block = std::malloc(bytes)) == nullptr) {
        return nullptr;
    }
    std::memcpy(block, &bytes, sizeof bytes);
    return static_cast<char*>(block) + kBlockHeader;
}

void xz_free(void* /*opaque*/, void* pointer) {
    if (pointer == nullptr) {
        return;
    }
    void* block = static_cast<char*>(pointer) - kBlockHeader;
    std::size_t bytes = 0;
    std::memcpy(&bytes, block, sizeof bytes);
    if (bytes >= kMapAtLeast) {
        (void)::munmap(block, bytes);
    } else {
        std::free(block);
    }
}

const lzma_allocator kXzAllocator{xz_allocate, xz_free, nullptr};

Result<std::vector<std::byte>> decompress_xz(std::span<const std::byte> input,
                                             std::size_t max_output, std::size_t& units) {
    const Result<const Lzma*> lib = lzma();
    if (!lib) {
        return lib.error();
    }
    const Lzma& x = **lib;
    std::vector<std::byte> out;
    std::size_t produced = 0;
    std::size_t consumed = 0;
    // One stream at a time, so that what follows each is judged as for the other formats.
    do {
        lzma_stream strm = LZMA_STREAM_INIT;
        strm.allocator = &kXzAllocator;
        // 128 MiB of decoder memory covers every preset (xz -9 needs 65 MiB).
        if (x.stream_decoder(&strm, std::uint64_t{128} << 20, 0) != LZMA_OK) {
            return make_error(ENOMEM, "xz decoder");
        }
        std::unique_ptr<lzma_stream, decltype(&lzma_end)> guard(&strm, x.end);
        strm.next_in = reinterpret_cast<const std::uint8_t*>(input.data() + consumed);
        strm.avail_in = input.size() - consumed;
        for (;;) {
            if (produced == out.size() && !grow(out, max_output)) {
                return too_large(max_output);
            }
            strm.next_out = reinterpret_cast<std::uint8_t*>(out.data()) + produced;
            strm.avail_out = out.size() - produced;
            const lzma_ret ret = x.code(&strm, LZMA_FINISH);
            produced = out.size() - strm.avail_out;
            if (produced > max_output) {
                return too_large(max_output);
            }
            if (ret == LZMA_STREAM_END) {
                break;
            }
            if (ret == LZMA_OK) {
                continue;
            }
            switch (ret) {
                case LZMA_MEMLIMIT_ERROR:
                    return corrupt("xz", "needs more than 128 MiB of decoder memory");
                case LZMA_FORMAT_ERROR:
                    return corrupt("xz", "not an xz stream");
                case LZMA_BUF_ERROR:
                    return corrupt("xz", "truncated stream");
                default:
                    return corrupt("xz", "damaged stream");
            }
        }
        ++units;
        consumed = input.size() - strm.avail_in;
        // Stream Padding, part of the xz format: null bytes, in multiples of four.
        std::size_t zeros = 0;
        while (consumed + zeros < input.size() && input[consumed + zeros] == std::byte{0}) {
            ++zeros;
        }
        if (zeros % 4 == 0) {
            consumed += zeros;
        }
        const std::span<const std::byte> rest = input.subspan(consumed);
        if (!rest.empty() && !starts_with_magic(rest, Compression::xz)) {
            return trailing("xz", "stream", rest.size());
        }
    } while (consumed < input.size());
    out.resize(produced);
    return out;
}

Result<std::vector<std::byte>> decompress_gzip(std::span<const std::byte> input,
                                               std::size_t max_output, std::size_t& units) {
    const Result<const Zlib*> lib = zlib();
    if (!lib) {
        return lib.error();
    }
    const Zlib& z = **lib;
    z_stream strm{};
    // 16 + MAX_WBITS: a gzip header and trailer, not a bare zlib stream.
    if (z.inflate_init2(&strm, 16 + MAX_WBITS, ZLIB_VERSION, static_cast<int>(sizeof(z_stream))) !=
        Z_OK) {
        return make_error(ENOMEM, "zlib inflate");
    }
    std::unique_ptr<z_stream, decltype(&inflateEnd)> guard(&strm, z.inflate_end);
    std::vector<std::byte> out;
    std::size_t consumed = 0;
    std::size_t produced = 0;
    for (;;) {
        if (produced == out.size() && !grow(out, max_output)) {
            return too_large(max_output);
        }
        // zlib counts in uInt; feed and drain at most 1 GiB at a time.
        const std::size_t in_now = std::min<std::size_t>(input.size() - consumed, 1u << 30);
        const std::size_t out_now = std::min<std::size_t>(out.size() - produced, 1u << 30);
        strm.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(input.data() + consumed));
        strm.avail_in = static_cast<uInt>(in_now);
        strm.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
        strm.avail_out = static_cast<uInt>(out_now);
        const int ret = z.inflate_stream(&strm, Z_NO_FLUSH);
        consumed += in_now - strm.avail_in;
        produced += out_now - strm.avail_out;
        if (produced > max_output) {
            return too_large(max_output);
        }
        if (ret == Z_STREAM_END) {
            ++units;
            // Another member follows, as `cat a.gz b.gz` makes: `gzip -dc` reads them all.
            const std::span<const std::byte> rest = input.subspan(consumed);
            if (rest.empty()) {
                break;
            }
            if (!starts_with_magic(rest, Compression::gzip)) {
                return trailing("gzip", "member", rest.size());
            }
            if (z.inflate_reset(&strm) != Z_OK) {
                return make_error(ENOMEM, "zlib inflate");
            }
            continue;
        }
        if (ret == Z_BUF_ERROR && consumed == input.size()) {
            return corrupt("gzip", "truncated stream");
        }
        if (ret != Z_OK && ret != Z_BUF_ERROR) {
            return corrupt("gzip", strm.msg != nullptr ? strm.msg : "damaged stream");
        }
    }
    out.resize(produced);
    return out;
}

}  // namespace

std::string_view compression_name(Compression compression) {
    switch (compression) {
        case Compression::zstd:
            return "zstd";
        case Compression::xz:
            return "xz";
        case Compression::gzip:
            return "gzip";
        case Compression::none:
            break;
    }
    return "none";
}

std::optional<Compression> compression_from_name(std::string_view name) {
    while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) {
        name.remove_suffix(1);
    }
    for (const Compression c :
         {Compression::none, Compression::zstd, Compression::xz, Compression::gzip}) {
        if (name == compression_name(c)) {
            return c;
        }
    }
    return std::nullopt;
}

Compression detect_compression(std::span<const std::byte> data) {
    for (const Magic& magic : kMagics) {
        if (data.size() >= magic.length &&
            std::memcmp(data.data(), magic.bytes.data(), magic.length) == 0) {
            return magic.compression;
        }
    }
    return Compression::none;
}

namespace {

bool starts_with(std::span<const std::byte> data, std::initializer_list<unsigned char> bytes) {
    return data.size() >= bytes.size() &&
           std::equal(bytes.begin(), bytes.end(), data.begin(),
                      [](unsigned char b, std::byte d) { return std::byte{b} == d; });
}

// The header of xz --format=lzma (LZMA_Alone): a properties byte (lc + lp * 9 + pb * 45, below
// 225), a dictionary size that xz and LZMA SDK write as 2^n or 2^n + 2^(n-1), and the
// uncompressed size, or all ones when unknown. No magic: all three must hold.
bool is_lzma_alone(std::span<const std::byte> data) {
    if (data.size() < 13 || std::to_integer<unsigned>(data[0]) >= 225) {
        return false;
    }
    std::uint32_t dictionary = 0;
    std::uint64_t size = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        dictionary |= std::uint32_t{std::to_integer<std::uint8_t>(data[1 + i])} << (8 * i);
    }
    for (std::size_t i = 0; i < 8; ++i) {
        size |= std::uint64_t{std::to_integer<std::uint8_t>(data[5 + i])} << (8 * i);
    }
    // 2^n, or two adjacent bits: 2^n + 2^(n-1).
    const bool usual_dictionary =
        dictionary >= 4096 &&
        (std::has_single_bit(dictionary) ||
         (std::popcount(dictionary) == 2 && (dictionary & (dictionary >> 1)) != 0));
    return usual_dictionary && (size == UINT64_MAX || size < (std::uint64_t{1} << 40));
}

}  // namespace

std::string_view unsupported_compression(std::span<const std::byte> data) {
    if (starts_with(data, {0x7f, 'E', 'L', 'F'})) {
        return {};
    }
    if (starts_with(data, {'B', 'Z', 'h'}) && data.size() > 3 &&
        std::to_integer<unsigned>(data[3]) >= '1' && std::to_integer<unsigned>(data[3]) <= '9') {
        return "bzip2";
    }
    if (starts_with(data, {0x04, 0x22, 0x4d, 0x18}) ||
        starts_with(data, {0x02, 0x21, 0x4c, 0x18})) {
        return "lz4";
    }
    if (starts_with(data, {'L', 'Z', 'I', 'P'})) {
        return "lzip";
    }
    if (starts_with(data, {0x89, 'L', 'Z', 'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a})) {
        return "lzop";
    }
    if (is_lzma_alone(data)) {
        return "lzma";
    }
    return {};
}

namespace {

Result<std::vector<std::byte>> decompress_counting(Compression compression,
                                                   std::span<const std::byte> input,
                                                   std::size_t max_output, std::size_t& units) {
    switch (compression) {
        case Compression::zstd:
            return decompress_zstd(input, max_output, units);
        case Compression::xz:
            return decompress_xz(input, max_output, units);
        case Compression::gzip:
            return decompress_gzip(input, max_output, units);
        case Compression::none:
            break;
    }
    if (input.size() > max_output) {
        return too_large(max_output);
    }
    units = 1;
    return std::vector<std::byte>(input.begin(), input.end());
}

}  // namespace

Result<std::vector<std::byte>> decompress(Compression compression, std::span<const std::byte> input,
                                          std::size_t max_output) {
    std::size_t units = 0;
    return decompress_counting(compression, input, max_output, units);
}

Result<std::size_t> count_units(Compression compression, std::span<const std::byte> input,
                                std::size_t max_output) {
    std::size_t units = 0;
    auto out = decompress_counting(compression, input, max_output, units);
    if (!out) {
        return out.error();
    }
    return units;
}

}  // namespace modload
