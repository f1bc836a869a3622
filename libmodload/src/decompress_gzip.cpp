// gzip members, through zlib.
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>

#include <zlib.h>

#include "decompress_detail.hpp"
#include "shared_library.hpp"

namespace modload::detail {

namespace {

// The library's functions, bound on the first module in this format (see shared_library.hpp):
// lsmod and rmmod never load it.
struct Zlib {
    decltype(&::inflateInit2_) inflate_init2;  // what the inflateInit2 macro calls
    decltype(&::inflate) inflate_stream;       // inflate(): a member of that name would hide it
    decltype(&::inflateEnd) inflate_end;
    decltype(&::inflateReset) inflate_reset;
};

#ifndef MODLOAD_STATIC_LIBRARIES
Result<const Zlib*> zlib() {
    static const Result<Zlib> once =
        bind_library<Zlib>("libz.so.1", "gzip decompression", [](SharedLibrary& lib, Zlib& f) {
            return lib.bind(f.inflate_init2, "inflateInit2_") &&
                   lib.bind(f.inflate_stream, "inflate") && lib.bind(f.inflate_end, "inflateEnd") &&
                   lib.bind(f.inflate_reset, "inflateReset");
        });
    return bound_table(once);
}
#else
Result<const Zlib*> zlib() {
    static const Zlib linked{&inflateInit2_, &inflate, &inflateEnd, &inflateReset};
    return &linked;
}
#endif

}  // namespace

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

}  // namespace modload::detail
