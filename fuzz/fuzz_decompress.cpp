// Compressed module files: every input through each decompressor, with a small limit.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <modload/compression.hpp>

#include "check.hpp"
#include "stream_header.hpp"

using modload::fuzz::require;

namespace {

// Small, so that a stream that expands hugely is cut off early instead of slowing every run (the
// library zero-fills its buffer up to the limit as it grows), yet 20 times the fixture modules.
constexpr std::size_t kMaxOutput = std::size_t{64} << 10;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
    const modload::Compression detected = modload::detect_compression(input);
    require(modload::compression_from_name(modload::compression_name(detected)) == detected,
            "a compression's name names it");

    // A format modules are not read as is never one they are read as.
    require(
        modload::unsupported_compression(input).empty() || detected == modload::Compression::none,
        "a file holds one format");

    for (const modload::Compression c :
         {modload::Compression::zstd, modload::Compression::xz, modload::Compression::gzip}) {
        // The header reader reads any bytes as any format, and says only what it found.
        const modload::LoadChoice limit = modload::detail::kernel_decompressor_limit(c, input);
        require(limit.reason == modload::LoadReason::none ||
                    (limit.method == modload::LoadMethod::init &&
                     (limit.reason == modload::LoadReason::xz_check ||
                      limit.reason == modload::LoadReason::xz_filter ||
                      limit.reason == modload::LoadReason::gzip_header ||
                      limit.reason == modload::LoadReason::zstd_window)),
                "the header reader gives a header's reason");
        auto out = modload::decompress(c, input, kMaxOutput);
        if (!out) {
            const int code = out.error().code;
            require(code == EFBIG || code == ENOEXEC || code == ENOMEM,
                    "decompress fails with EFBIG, ENOEXEC or ENOMEM");
            continue;
        }
        require(out->size() <= kMaxOutput, "the output respects the limit");
        // What the loader counts to decide whether the kernel may decompress the file itself.
        auto units = modload::count_units(c, input, kMaxOutput);
        require(units.has_value() && *units >= 1, "a stream that decompresses has a unit");
        // The limit is exact: the same stream fits in exactly its own size and not one byte less.
        auto exact = modload::decompress(c, input, out->size());
        require(exact.has_value() && *exact == *out, "a stream fits a limit of its own size");
        if (!out->empty()) {
            auto short_by_one = modload::decompress(c, input, out->size() - 1);
            require(!short_by_one && short_by_one.error().code == EFBIG,
                    "a stream one byte over the limit fails with EFBIG");
        }
    }
    return 0;
}
