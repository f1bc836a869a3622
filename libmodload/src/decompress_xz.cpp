// xz streams, through liblzma, with an allocator that maps large blocks.
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <lzma.h>
#include <sys/mman.h>

#include "decompress_detail.hpp"
#include "shared_library.hpp"

namespace modload::detail {

namespace {

// The library's functions, bound on the first module in this format (see shared_library.hpp):
// lsmod and rmmod never load it.
struct Lzma {
    decltype(&lzma_stream_decoder) stream_decoder;
    decltype(&lzma_code) code;
    decltype(&lzma_end) end;
};

#ifndef MODLOAD_STATIC_LIBRARIES
Result<const Lzma*> lzma() {
    static const Result<Lzma> once =
        bind_library<Lzma>("liblzma.so.5", "xz decompression", [](SharedLibrary& lib, Lzma& f) {
            return lib.bind(f.stream_decoder, "lzma_stream_decoder") &&
                   lib.bind(f.code, "lzma_code") && lib.bind(f.end, "lzma_end");
        });
    return bound_table(once);
}
#else
Result<const Lzma*> lzma() {
    static const Lzma linked{&lzma_stream_decoder, &lzma_code, &lzma_end};
    return &linked;
}
#endif

}  // namespace

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

}  // namespace modload::detail
