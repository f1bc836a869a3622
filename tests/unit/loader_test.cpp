#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <modload/loader.hpp>

#include "fixtures.hpp"
#include "model_kernel.hpp"

using namespace modload;
using modload::testing::FakeKernel;
using modload::testing::fixture_module;
using modload::testing::fixture_root;
using modload::testing::FixtureSystem;
using modload::testing::read_bytes;
using modload::testing::ScratchDir;
using modload::testing::write_bytes;
using modload::testing::write_text;

namespace {

using Bytes = std::vector<std::byte>;
constexpr std::size_t kMiB = std::size_t{1} << 20;

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

std::string join(std::vector<std::string> words) {
    return join_parameters(words);
}

ModuleFile open_fixture(const std::string& name) {
    auto file = ModuleFile::open(fixture_module(name));
    REQUIRE(file);
    return std::move(*file);
}

// A module read from a pipe holding `name`'s bytes (small enough for the pipe's buffer).
ModuleFile pipe_fixture(const std::string& name) {
    const Bytes data = read_bytes(fixture_module(name));
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    UniqueFd read_end(fds[0]);
    UniqueFd write_end(fds[1]);
    REQUIRE(::write(write_end.get(), data.data(), data.size()) ==
            static_cast<ssize_t>(data.size()));
    write_end.reset();
    auto file = ModuleFile::adopt(std::move(read_end), "-");
    REQUIRE(file);
    return std::move(*file);
}

// The file offset of sh_flags of `name` in a 64-bit little-endian ELF, read straight from the
// section headers (ELF-64 layout), independently of the library.
std::size_t le64_section_flags_at(std::span<const std::byte> elf, std::string_view name) {
    const auto get = [&](std::size_t at, std::size_t width) {
        std::uint64_t v = 0;
        for (std::size_t i = width; i-- > 0;) {
            v = (v << 8) | std::to_integer<std::uint64_t>(elf[at + i]);
        }
        return static_cast<std::size_t>(v);
    };
    const std::size_t shoff = get(40, 8);
    const std::size_t shentsize = get(58, 2);
    const std::size_t shnum = get(60, 2);
    const std::size_t names = get(shoff + get(62, 2) * shentsize + 24, 8);
    for (std::size_t i = 0; i < shnum; ++i) {
        const std::size_t header = shoff + i * shentsize;
        const auto* s = reinterpret_cast<const char*>(elf.data() + names + get(header, 4));
        if (name == s) {
            return header + 8;
        }
    }
    FAIL("no section " << name);
    return 0;
}

// Where "vermagic=..." sits in the image: its first byte and one past its last.
std::pair<std::size_t, std::size_t> vermagic_span(std::span<const std::byte> elf) {
    const std::string_view key = "vermagic=";
    const auto* text = reinterpret_cast<const char*>(elf.data());
    const std::string_view all(text, elf.size());
    const std::size_t begin = all.find(key);
    REQUIRE(begin != std::string_view::npos);
    const std::size_t end = all.find('\0', begin);
    REQUIRE(end != std::string_view::npos);
    return {begin, end};
}

}  // namespace

TEST_CASE("a parameter value with spaces is quoted so the kernel takes it whole", "[loader]") {
    const std::vector<std::string> words{"count=3", "tag=two words", "flag"};
    CHECK(join_parameters(words) == "count=3 tag=\"two words\" flag");
}

TEST_CASE("joining parameters: no words, plain words, white space and quotes", "[loader]") {
    CHECK(join({}).empty());
    CHECK(join({"count=3"}) == "count=3");
    CHECK(join({"a=1", "b=2", "c"}) == "a=1 b=2 c");
    // White space of any kind splits the kernel's parse_args(), so any of it gets quoted.
    CHECK(join({"tag=a\tb"}) == "tag=\"a\tb\"");
    CHECK(join({"tag=a\nb"}) == "tag=\"a\nb\"");
    CHECK(join({"tag= lead"}) == "tag=\" lead\"");
    CHECK(join({"tag="}) == "tag=");
    // A word without '=' is quoted whole: the kernel takes "two words" as one flag name.
    CHECK(join({"two words"}) == "\"two words\"");
    // Quotes the user wrote are kept as written, spaces or not.
    CHECK(join({"tag=\"two words\""}) == "tag=\"two words\"");
    CHECK(join({"\"tag=two words\""}) == "\"tag=two words\"");
    CHECK(join({"tag=\"x\""}) == "tag=\"x\"");
    // Only the first '=' separates name and value.
    CHECK(join({"opt=a=b c"}) == "opt=\"a=b c\"");
}

TEST_CASE("the kernel's own decompression is read from /sys/module/compression", "[loader]") {
    CHECK(kernel_decompression(FixtureSystem(fixture_root("xz_kernel"))) == Compression::xz);
    CHECK_FALSE(kernel_decompression(FixtureSystem(fixture_root("basic"))).has_value());

    ScratchDir dir;
    const FixtureSystem root(dir.path());
    CHECK_FALSE(kernel_decompression(root).has_value());  // no /sys at all
    for (const auto& [text, expected] : {std::pair{"zstd\n", std::optional{Compression::zstd}},
                                         std::pair{"gzip\n", std::optional{Compression::gzip}},
                                         std::pair{"xz", std::optional{Compression::xz}},
                                         std::pair{"none\n", std::optional<Compression>{}},
                                         std::pair{"lz4\n", std::optional<Compression>{}},
                                         std::pair{"", std::optional<Compression>{}}}) {
        INFO('"' << text << '"');
        write_text(dir / "sys/module/compression", text);
        CHECK(kernel_decompression(root) == expected);
    }
}

TEST_CASE("finit_module is chosen whenever the kernel can read the file itself", "[loader]") {
    const auto plain = open_fixture("fixture_plain.ko");
    const auto xz = open_fixture("fixture_plain.ko.xz");
    const auto zst = open_fixture("fixture_plain.ko.zst");
    const auto gz = open_fixture("fixture_plain.ko.gz");
    const std::optional<Compression> none;
    const std::optional xz_kernel{Compression::xz};

    CHECK(choose_load_method(plain, none) == LoadMethod::finit);
    CHECK(choose_load_method(plain, xz_kernel) == LoadMethod::finit);
    CHECK(choose_load_method(xz, xz_kernel) == LoadMethod::finit_compressed);
    CHECK(choose_load_method(xz, none) == LoadMethod::init);
    CHECK(choose_load_method(zst, xz_kernel) == LoadMethod::init);
    CHECK(choose_load_method(zst, Compression::zstd) == LoadMethod::finit_compressed);
    CHECK(choose_load_method(gz, Compression::gzip) == LoadMethod::finit_compressed);
    CHECK(choose_load_method(gz, xz_kernel) == LoadMethod::init);
}

// The fixture compressed twice over, as `cat m.ko.xz m.ko.xz` makes it: two gzip members, zstd
// frames or xz streams, which decompress to the module followed by itself (still a valid module:
// what follows the ELF's sections is not read).
std::filesystem::path doubled_fixture(const ScratchDir& dir, const std::string& name) {
    Bytes twice = read_bytes(fixture_module(name));
    const Bytes once = twice;
    twice.insert(twice.end(), once.begin(), once.end());
    const auto path = dir / ("twice-" + name);
    write_bytes(path, twice);
    return path;
}

TEST_CASE("a compressed file of several units is decompressed here: the kernel reads one",
          "[loader]") {
    const ScratchDir dir;
    const Bytes plain = read_bytes(fixture_module("fixture_plain.ko"));
    Bytes plain_twice = plain;
    plain_twice.insert(plain_twice.end(), plain.begin(), plain.end());
    for (const auto& [name, format] : {std::pair{"fixture_plain.ko.xz", Compression::xz},
                                       std::pair{"fixture_plain.ko.zst", Compression::zstd},
                                       std::pair{"fixture_plain.ko.gz", Compression::gzip}}) {
        INFO(name);
        auto file = ModuleFile::open(doubled_fixture(dir, name));
        REQUIRE(file);
        auto units = count_units(format, file->contents(), kMiB * 16);
        REQUIRE(units);
        CHECK(*units == 2);
        CHECK(choose_load_method(*file, format) == LoadMethod::init);

        FakeKernel kernel;
        auto method = load_module(kernel, *file, LoadOptions{}, format);
        REQUIRE(method);
        CHECK(*method == LoadMethod::init);
        REQUIRE(kernel.calls().size() == 1);
        CHECK(kernel.calls()[0].syscall == "init_module");
        // All of what was inspected, not the first unit's part of it.
        CHECK(same_bytes(kernel.calls()[0].image, plain_twice));
    }
}

TEST_CASE("insmod -v says why a file the kernel could decompress was decompressed here",
          "[loader]") {
    const ScratchDir dir;
    FakeKernel kernel;
    const auto run =
        modload::testing::run_tool("insmod", kernel, fixture_root("xz_kernel"),
                                   {"-v", doubled_fixture(dir, "fixture_plain.ko.xz").string()});
    CHECK(run.status == 0);
    CHECK(run.err.find("insmod: INFO: inserted fixture_plain via init_module, decompressed here: "
                       "it holds 2 xz streams and the kernel reads only the first\n") !=
          std::string::npos);
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].syscall == "init_module");
}

TEST_CASE("a pipe always goes through init_module", "[loader]") {
    CHECK(choose_load_method(pipe_fixture("fixture_plain.ko"), std::nullopt) == LoadMethod::init);
    CHECK(choose_load_method(pipe_fixture("fixture_plain.ko.xz"), Compression::xz) ==
          LoadMethod::init);
}

TEST_CASE("a plain module goes to finit_module with the force flags asked for", "[loader]") {
    for (const auto& [modversions, vermagic, flags] :
         {std::tuple{false, false, 0u}, std::tuple{true, false, kInitIgnoreModversions},
          std::tuple{false, true, kInitIgnoreVermagic},
          std::tuple{true, true, kInitIgnoreModversions | kInitIgnoreVermagic}}) {
        INFO("ignore modversions " << modversions << ", vermagic " << vermagic);
        FakeKernel kernel;
        auto file = open_fixture("fixture_plain.ko");
        const LoadOptions options{"count=3", modversions, vermagic};
        auto method = load_module(kernel, file, options, std::nullopt);
        REQUIRE(method);
        CHECK(*method == LoadMethod::finit);
        REQUIRE(kernel.calls().size() == 1);
        const auto& call = kernel.calls()[0];
        CHECK(call.syscall == "finit_module");
        CHECK(call.flags == flags);
        CHECK(call.parameters == "count=3");
        CHECK(call.fd_was_open);
    }
}

TEST_CASE("a module the kernel decompresses goes with MODULE_INIT_COMPRESSED_FILE", "[loader]") {
    for (const auto& [force, flags] :
         {std::pair{false, kInitCompressedFile},
          std::pair{true, kInitCompressedFile | kInitIgnoreModversions | kInitIgnoreVermagic}}) {
        INFO("forced " << force);
        FakeKernel kernel;
        auto file = open_fixture("fixture_plain.ko.xz");
        auto method = load_module(kernel, file, LoadOptions{"", force, force}, Compression::xz);
        REQUIRE(method);
        CHECK(*method == LoadMethod::finit_compressed);
        REQUIRE(kernel.calls().size() == 1);
        CHECK(kernel.calls()[0].syscall == "finit_module");
        CHECK(kernel.calls()[0].flags == flags);
        CHECK(kernel.calls()[0].fd_was_open);
    }
}

TEST_CASE("init_module gets the decompressed ELF, not the file's bytes", "[loader]") {
    const Bytes plain = read_bytes(fixture_module("fixture_plain.ko"));
    for (const char* name :
         {"fixture_plain.ko.zst", "fixture_plain.ko.gz", "fixture_plain.ko.xz"}) {
        INFO(name);
        FakeKernel kernel;
        auto file = open_fixture(name);
        auto method = load_module(kernel, file, LoadOptions{"tag=\"a b\""}, std::nullopt);
        REQUIRE(method);
        CHECK(*method == LoadMethod::init);
        REQUIRE(kernel.calls().size() == 1);
        CHECK(kernel.calls()[0].syscall == "init_module");
        CHECK(kernel.calls()[0].parameters == "tag=\"a b\"");
        CHECK(same_bytes(kernel.calls()[0].image, plain));
    }
}

TEST_CASE("a module from a pipe reaches init_module whole", "[loader]") {
    FakeKernel kernel;
    auto file = pipe_fixture("fixture_plain.ko");
    auto method = load_module(kernel, file, LoadOptions{}, std::nullopt);
    REQUIRE(method);
    CHECK(*method == LoadMethod::init);
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].syscall == "init_module");
    CHECK(same_bytes(kernel.calls()[0].image, read_bytes(fixture_module("fixture_plain.ko"))));
}

TEST_CASE("forcing through init_module strips a private copy of the image", "[loader]") {
    const Bytes plain = read_bytes(fixture_module("fixture_plain.ko"));
    const std::size_t flags_at = le64_section_flags_at(plain, "__versions");
    REQUIRE((plain[flags_at] & std::byte{0x02}) != std::byte{0});  // SHF_ALLOC is set
    const auto [vermagic_begin, vermagic_end] = vermagic_span(plain);

    for (const auto& [modversions, vermagic] :
         {std::pair{true, false}, std::pair{false, true}, std::pair{true, true}}) {
        INFO("ignore modversions " << modversions << ", vermagic " << vermagic);
        // What the kernel should get, made here by hand: SHF_ALLOC cleared in __versions'
        // sh_flags, and the whole "vermagic=..." string turned to NULs.
        Bytes expected = plain;
        if (modversions) {
            expected[flags_at] &= ~std::byte{0x02};
        }
        if (vermagic) {
            std::fill(expected.begin() + static_cast<std::ptrdiff_t>(vermagic_begin),
                      expected.begin() + static_cast<std::ptrdiff_t>(vermagic_end), std::byte{0});
        }
        FakeKernel kernel;
        auto file = open_fixture("fixture_plain.ko.zst");  // zstd: the kernel cannot take it
        auto method =
            load_module(kernel, file, LoadOptions{"", modversions, vermagic}, Compression::xz);
        REQUIRE(method);
        CHECK(*method == LoadMethod::init);
        REQUIRE(kernel.calls().size() == 1);
        const Bytes& sent = kernel.calls()[0].image;
        CHECK(sent.size() == plain.size());
        CHECK(same_bytes(sent, expected));
        // The file's own image is untouched: it may be inspected or loaded again.
        auto image = file.image();
        REQUIRE(image);
        CHECK(same_bytes(*image, plain));
        // And what was sent is still a module, without what was stripped.
        auto sent_info = parse_module_image(sent);
        REQUIRE(sent_info);
        CHECK(sent_info->name == "fixture_plain");
        CHECK(sent_info->modinfo_value("vermagic").has_value() == !vermagic);
    }
}

TEST_CASE("forcing a module from a pipe strips it too", "[loader]") {
    FakeKernel kernel;
    auto file = pipe_fixture("fixture_plain.ko");
    REQUIRE(load_module(kernel, file, LoadOptions{"", false, true}, std::nullopt));
    REQUIRE(kernel.calls().size() == 1);
    auto sent = parse_module_image(kernel.calls()[0].image);
    REQUIRE(sent);
    CHECK_FALSE(sent->modinfo_value("vermagic").has_value());
    auto image = file.image();
    REQUIRE(image);
    CHECK(same_bytes(*image, read_bytes(fixture_module("fixture_plain.ko"))));
}

TEST_CASE("a file that is no valid module never reaches the kernel", "[loader]") {
    ScratchDir dir;
    Bytes corrupt = read_bytes(fixture_module("fixture_plain.ko.zst"));
    corrupt[corrupt.size() / 2] ^= std::byte{0xff};
    Bytes truncated = read_bytes(fixture_module("fixture_plain.ko"));
    truncated.resize(truncated.size() / 2);
    const std::string text = "not a module\n";
    write_bytes(dir / "empty.ko", {});
    write_bytes(dir / "text.ko", {reinterpret_cast<const std::byte*>(text.data()),
                                  reinterpret_cast<const std::byte*>(text.data()) + text.size()});
    write_bytes(dir / "corrupt.ko.zst", corrupt);
    write_bytes(dir / "truncated.ko", truncated);
    for (const auto& path :
         {dir / "empty.ko", dir / "text.ko", dir / "corrupt.ko.zst", dir / "truncated.ko",
          std::filesystem::path(fixture_module("fixture_nomodinfo.ko"))}) {
        for (const auto& kernel_decompresses :
             {std::optional<Compression>{}, std::optional{Compression::zstd}}) {
            for (const bool force : {false, true}) {
                INFO(path << ", forced " << force);
                FakeKernel kernel;
                auto file = ModuleFile::open(path.string());
                REQUIRE(file);
                auto method =
                    load_module(kernel, *file, LoadOptions{"", force, force}, kernel_decompresses);
                REQUIRE_FALSE(method);
                CHECK(method.error().code == ENOEXEC);
                CHECK_FALSE(method.error().detail.empty());
                CHECK(kernel.calls().empty());
            }
        }
    }
}

TEST_CASE("a module too large once decompressed never reaches the kernel", "[loader]") {
    const std::string path = fixture_module("fixture_plain.ko.zst");
    auto file = ModuleFile::open(path, OpenOptions{read_bytes(path).size()});
    REQUIRE(file);
    FakeKernel kernel;
    auto method = load_module(kernel, *file, LoadOptions{}, Compression::zstd);
    REQUIRE_FALSE(method);
    CHECK(method.error().code == EFBIG);
    CHECK(kernel.calls().empty());
}

TEST_CASE("the kernel's refusals come back with its errno", "[loader]") {
    for (const int code : {EEXIST, ENOEXEC, ENOENT, ESRCH, EINVAL, EPERM, EBUSY, ENOKEY}) {
        INFO("errno " << code);
        SECTION("finit_module " + std::to_string(code)) {
            FakeKernel kernel;
            kernel.fail_next("finit_module", code);
            auto file = open_fixture("fixture_plain.ko");
            auto method = load_module(kernel, file, LoadOptions{}, std::nullopt);
            REQUIRE_FALSE(method);
            CHECK(method.error().code == code);
            CHECK(kernel.calls().size() == 1);  // asked once, not retried another way
        }
        SECTION("init_module " + std::to_string(code)) {
            FakeKernel kernel;
            kernel.fail_next("init_module", code);
            auto file = open_fixture("fixture_plain.ko.zst");
            auto method = load_module(kernel, file, LoadOptions{}, std::nullopt);
            REQUIRE_FALSE(method);
            CHECK(method.error().code == code);
            CHECK(kernel.calls().size() == 1);
        }
        SECTION("forced init_module " + std::to_string(code)) {
            FakeKernel kernel;
            kernel.fail_next("init_module", code);
            auto file = open_fixture("fixture_plain.ko.gz");
            auto method = load_module(kernel, file, LoadOptions{"", true, true}, std::nullopt);
            REQUIRE_FALSE(method);
            CHECK(method.error().code == code);
            CHECK(kernel.calls().size() == 1);
        }
    }
}

TEST_CASE("finit_module answering ENOSYS sends the bytes already read to init_module", "[loader]") {
    const Bytes plain = read_bytes(fixture_module("fixture_plain.ko"));
    for (const auto& [name, decompresses] :
         {std::pair{"fixture_plain.ko", std::optional<Compression>()},
          std::pair{"fixture_plain.ko.xz", std::optional<Compression>(Compression::xz)}}) {
        INFO(name);
        FakeKernel kernel;
        kernel.fail_next("finit_module", ENOSYS);  // a seccomp filter in a container, say
        auto file = open_fixture(name);
        auto method = load_module(kernel, file, LoadOptions{"x=1"}, decompresses);
        REQUIRE(method);
        CHECK(*method == LoadMethod::init_without_finit);
        REQUIRE(kernel.calls().size() == 2);
        CHECK(kernel.calls()[1].syscall == "init_module");
        CHECK(kernel.calls()[1].parameters == "x=1");
        CHECK(same_bytes(kernel.calls()[1].image, plain));
    }
}

TEST_CASE("insmod -v says when it fell back to init_module", "[loader]") {
    FakeKernel kernel;
    kernel.fail_next("finit_module", ENOSYS);
    const auto run =
        modload::testing::run_tool("insmod", kernel, modload::testing::fixture_root("basic"),
                                   {"-v", fixture_module("fixture_plain.ko")});
    CHECK(run.status == 0);
    CHECK(run.err.find("insmod: INFO: inserted fixture_plain via init_module, as finit_module is "
                       "not available (ENOSYS)\n") != std::string::npos);
}

namespace {

// fixture_plain.ko.gz (gzip -n: no FNAME) with a comment in its header, as `gzip` never writes it
// but other tools do: FCOMMENT set and a NUL-terminated text after the 10 fixed bytes.
std::filesystem::path gzip_with_comment(const ScratchDir& dir) {
    Bytes data = read_bytes(fixture_module("fixture_plain.ko.gz"));
    REQUIRE((data[3] & std::byte{0x1e}) == std::byte{0});
    data[3] |= std::byte{0x10};
    const std::string comment = "made by hand";
    Bytes text;
    for (const char c : comment) {
        text.push_back(static_cast<std::byte>(c));
    }
    text.push_back(std::byte{0});
    data.insert(data.begin() + 10, text.begin(), text.end());
    const auto path = dir / "commented.ko.gz";
    write_bytes(path, data);
    return path;
}

}  // namespace

TEST_CASE("a file the kernel's decompressor cannot take whole is decompressed here, with why",
          "[loader]") {
    const ScratchDir dir;
    const Bytes plain = read_bytes(fixture_module("fixture_plain.ko"));
    struct Case {
        std::string path;
        std::optional<Compression> kernel;
        LoadMethod method;
        LoadReason reason;
        std::string detail;
    };
    const std::vector<Case> cases = {
        {fixture_module("fixture_plain.ko.xz"), Compression::xz, LoadMethod::finit_compressed,
         LoadReason::none, ""},
        {fixture_module("fixture_plain-none.ko.xz"), Compression::xz, LoadMethod::finit_compressed,
         LoadReason::none, ""},
        {fixture_module("fixture_plain-crc64.ko.xz"), Compression::xz, LoadMethod::init,
         LoadReason::xz_check, "CRC64"},
        {fixture_module("fixture_plain-sha256.ko.xz"), Compression::xz, LoadMethod::init,
         LoadReason::xz_check, "SHA-256"},
        {fixture_module("fixture_plain-delta.ko.xz"), Compression::xz, LoadMethod::init,
         LoadReason::xz_filter, "Delta"},
        {fixture_module("fixture_plain-crc64.ko.xz"), std::nullopt, LoadMethod::init,
         LoadReason::kernel_lacks_compression, ""},
        {fixture_module("fixture_plain.ko.zst"), Compression::xz, LoadMethod::init,
         LoadReason::kernel_other_compression, "xz"},
        {fixture_module("fixture_plain.ko.gz"), Compression::gzip, LoadMethod::finit_compressed,
         LoadReason::none, ""},
        {gzip_with_comment(dir).string(), Compression::gzip, LoadMethod::init,
         LoadReason::gzip_header, "FCOMMENT"},
    };
    for (const Case& c : cases) {
        INFO(c.path << " on a kernel decompressing "
                    << (c.kernel ? compression_name(*c.kernel) : "none"));
        auto file = ModuleFile::open(c.path);
        REQUIRE(file);
        const LoadChoice choice = choose_load(*file, c.kernel);
        CHECK(choice.method == c.method);
        CHECK(choice.reason == c.reason);
        CHECK(choice.detail == c.detail);
        CHECK(choose_load_method(*file, c.kernel) == c.method);

        FakeKernel kernel;
        auto loaded = load_module_explained(kernel, *file, LoadOptions{}, c.kernel);
        REQUIRE(loaded);
        CHECK(loaded->method == c.method);
        CHECK(loaded->reason == c.reason);
        REQUIRE(kernel.calls().size() == 1);
        if (c.method == LoadMethod::init) {
            CHECK(kernel.calls()[0].syscall == "init_module");
            CHECK(same_bytes(kernel.calls()[0].image, plain));
        } else {
            CHECK(kernel.calls()[0].syscall == "finit_module");
            CHECK(kernel.calls()[0].flags == kInitCompressedFile);
        }
    }
}

TEST_CASE("a CRC64 xz module loads on a kernel whose decoder refuses CRC64", "[loader][model]") {
    const ScratchDir dir;
    // fixture_plain's dependencies count as built in.
    modload::testing::ModelKernel kernel(dir.path(), {"fixture_provider", "crc_itu_t"});
    auto file = open_fixture("fixture_plain-crc64.ko.xz");
    // Handed over whole, as kmod's insmod does, the model kernel refuses it as 6.12 does...
    CHECK(kernel.finit_module(file.fd(), "", kInitCompressedFile).error().code == EINVAL);
    CHECK(kernel.find("fixture_plain") == nullptr);
    // ...and it goes in as the bytes decompressed here.
    auto loaded = load_module_explained(kernel, file, LoadOptions{}, Compression::xz);
    REQUIRE(loaded);
    CHECK(loaded->method == LoadMethod::init);
    CHECK(loaded->reason == LoadReason::xz_check);
    CHECK(kernel.find("fixture_plain") != nullptr);
}

TEST_CASE(
    "when the kernel cannot decompress a file it was given whole, the bytes decompressed "
    "here follow",
    "[loader]") {
    const Bytes plain = read_bytes(fixture_module("fixture_plain.ko"));
    SECTION("EINVAL from finit_module with MODULE_INIT_COMPRESSED_FILE") {
        FakeKernel kernel;
        kernel.fail_next("finit_module", EINVAL);
        auto file = open_fixture("fixture_plain.ko.xz");
        auto loaded =
            load_module_explained(kernel, file, LoadOptions{"n=1", true, false}, Compression::xz);
        REQUIRE(loaded);
        CHECK(loaded->method == LoadMethod::init);
        CHECK(loaded->reason == LoadReason::kernel_refused);
        REQUIRE(kernel.calls().size() == 2);
        CHECK(kernel.calls()[0].syscall == "finit_module");
        CHECK(kernel.calls()[0].flags == (kInitCompressedFile | kInitIgnoreModversions));
        CHECK(kernel.calls()[1].syscall == "init_module");
        CHECK(kernel.calls()[1].parameters == "n=1");
        CHECK(kernel.calls()[1].image.size() == plain.size());  // forced: a stripped copy
    }
    SECTION("the second call's refusal is the answer") {
        FakeKernel kernel;
        kernel.fail_next("finit_module", EINVAL);
        kernel.fail_next("init_module", EEXIST);
        auto file = open_fixture("fixture_plain.ko.xz");
        auto loaded = load_module(kernel, file, LoadOptions{}, Compression::xz);
        REQUIRE_FALSE(loaded);
        CHECK(loaded.error().code == EEXIST);
        CHECK(kernel.calls().size() == 2);
    }
    SECTION("EINVAL for an uncompressed file is the kernel's answer, not retried") {
        FakeKernel kernel;
        kernel.fail_next("finit_module", EINVAL);
        auto file = open_fixture("fixture_plain.ko");
        auto loaded = load_module(kernel, file, LoadOptions{}, Compression::xz);
        REQUIRE_FALSE(loaded);
        CHECK(loaded.error().code == EINVAL);
        CHECK(kernel.calls().size() == 1);
    }
    SECTION("insmod -v says so") {
        FakeKernel kernel;
        kernel.fail_next("finit_module", EINVAL);
        const auto run = modload::testing::run_tool("insmod", kernel, fixture_root("xz_kernel"),
                                                    {"-v", fixture_module("fixture_plain.ko.xz")});
        CHECK(run.status == 0);
        CHECK(run.err.find("insmod: INFO: inserted fixture_plain via init_module, decompressed "
                           "here: the kernel could not decompress it (finit_module answered "
                           "EINVAL)\n") != std::string::npos);
    }
}

TEST_CASE("insmod -v says why a compressed file was decompressed here", "[loader]") {
    const ScratchDir dir;
    for (const auto& [path, root, why] :
         {std::tuple{fixture_module("fixture_plain-crc64.ko.xz"), "xz_kernel",
                     "its xz check is CRC64, which the kernel's decoder does not take"},
          std::tuple{fixture_module("fixture_plain-delta.ko.xz"), "xz_kernel",
                     "its xz filter Delta is one the kernel's decoder does not take"},
          std::tuple{fixture_module("fixture_plain.ko.zst"), "xz_kernel",
                     "the kernel decompresses only xz itself"},
          std::tuple{fixture_module("fixture_plain-crc64.ko.xz"), "basic",
                     "the kernel decompresses no module itself"}}) {
        INFO(path << " in " << root);
        FakeKernel kernel;
        const auto run =
            modload::testing::run_tool("insmod", kernel, fixture_root(root), {"-v", path});
        CHECK(run.status == 0);
        CHECK(run.err.find("insmod: INFO: inserted fixture_plain via init_module, decompressed "
                           "here: " +
                           std::string(why) + "\n") != std::string::npos);
    }
}

TEST_CASE("a file that holds another format than its name says is named by what it holds",
          "[loader]") {
    const ScratchDir dir;
    // lzma data named .ko.xz (xz --format=lzma), bzip2 named .ko.gz, lz4 named .ko.
    const Bytes lzma = read_bytes(fixture_module("fixture_plain-lzma.ko.xz"));
    Bytes bzip2 = {std::byte{'B'}, std::byte{'Z'}, std::byte{'h'}, std::byte{'9'}};
    bzip2.resize(64, std::byte{0x31});
    Bytes lz4 = {std::byte{0x04}, std::byte{0x22}, std::byte{0x4d}, std::byte{0x18}};
    lz4.resize(64, std::byte{0x40});
    for (const auto& [name, data, detail] :
         {std::tuple{"m.ko.xz", lzma,
                     "holds lzma data, not xz as its name says; modules are read as zstd, xz or "
                     "gzip"},
          std::tuple{"m.ko.gz", bzip2,
                     "holds bzip2 data, not gzip as its name says; modules are read as zstd, xz "
                     "or gzip"},
          std::tuple{"m.ko", lz4, "holds lz4 data; modules are read as zstd, xz or gzip"}}) {
        INFO(name);
        write_bytes(dir / name, data);
        FakeKernel kernel;
        const auto run = modload::testing::run_tool("insmod", kernel, fixture_root("xz_kernel"),
                                                    {(dir / name).string()});
        CHECK(run.status == 1);
        CHECK(run.err == "insmod: ERROR: could not insert module " + (dir / name).string() +
                             ": Invalid module format (" + detail + ")\n");
        CHECK(kernel.calls().empty());
    }
    // What the magic says decides, whatever the name: zstd data named .ko.gz loads.
    write_bytes(dir / "zstd.ko.gz", read_bytes(fixture_module("fixture_plain.ko.zst")));
    FakeKernel kernel;
    const auto run = modload::testing::run_tool("insmod", kernel, fixture_root("xz_kernel"),
                                                {(dir / "zstd.ko.gz").string()});
    CHECK(run.status == 0);
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].syscall == "init_module");
}
