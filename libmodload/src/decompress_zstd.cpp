// zstd streams, through libzstd.
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>

#include <zstd.h>

#include "decompress_detail.hpp"
#include "shared_library.hpp"

namespace modload::detail {

namespace {

// The library's functions, bound on the first module in this format (see shared_library.hpp):
// lsmod and rmmod never load it.
struct Zstd {
    decltype(&ZSTD_createDCtx) create_dctx;
    decltype(&ZSTD_freeDCtx) free_dctx;
    decltype(&ZSTD_DCtx_setParameter) dctx_set_parameter;
    decltype(&ZSTD_decompressStream) decompress_stream;
    decltype(&ZSTD_isError) is_error;
    decltype(&ZSTD_getErrorName) get_error_name;
};

#ifndef MODLOAD_STATIC_LIBRARIES
Result<const Zstd*> zstd() {
    static const Result<Zstd> once =
        bind_library<Zstd>("libzstd.so.1", "zstd decompression", [](SharedLibrary& lib, Zstd& f) {
            return lib.bind(f.create_dctx, "ZSTD_createDCtx") &&
                   lib.bind(f.free_dctx, "ZSTD_freeDCtx") &&
                   lib.bind(f.dctx_set_parameter, "ZSTD_DCtx_setParameter") &&
                   lib.bind(f.decompress_stream, "ZSTD_decompressStream") &&
                   lib.bind(f.is_error, "ZSTD_isError") &&
                   lib.bind(f.get_error_name, "ZSTD_getErrorName");
        });
    return bound_table(once);
}
#else
Result<const Zstd*> zstd() {
    static const Zstd linked{&ZSTD_createDCtx,       &ZSTD_freeDCtx, &ZSTD_DCtx_setParameter,
                             &ZSTD_decompressStream, &ZSTD_isError,  &ZSTD_getErrorName};
    return &linked;
}
#endif

}  // namespace

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

}  // namespace modload::detail
