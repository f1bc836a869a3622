// Planning from depmod's files without reading them whole, and loading what modules.dep lists
// without reading it here: modules.dep.bin, modules.dep looked up line by line, a file planned
// from its modules.dep line, modules.alias read for the names asked, xz streams counted from
// their footers.
#include <cerrno>
#include <map>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <utime.h>

#include <lzma.h>
#include <catch2/catch.hpp>

#include <modload/compression.hpp>
#include <modload/load_plan.hpp>

#include "fixtures.hpp"
#include "model_kernel.hpp"
#include "module_aliases.hpp"
#include "module_index.hpp"
#include "stream_count.hpp"
#include "tool.hpp"

using modload::Compression;
using modload::ModuleLocator;
using modload::detail::count_units_framed;
using modload::detail::ModuleIndex;
using modload::detail::modules_matching_alias;
using modload::testing::FakeKernel;
using modload::testing::fixture_module;
using modload::testing::FixtureSystem;
using modload::testing::read_bytes;
using modload::testing::run_tool;
using modload::testing::ScratchDir;
using modload::testing::write_bytes;
using modload::testing::write_text;
namespace fs = std::filesystem;

namespace {

constexpr const char* kRelease = "6.1.0-test";

// An index in depmod's format (libkmod-index.c): one node per character, no prefixes, so that
// the reader's child arrays are what is exercised; a key's values with their priorities.
class IndexWriter {
  public:
    void add(const std::string& key, const std::string& value, std::uint32_t priority) {
        keys_[key].emplace_back(priority, value);
    }

    std::string bytes() {
        out_.assign(12, '\0');
        put32(0, 0xB007F457);
        put32(4, 0x00020001);
        const std::uint32_t root = write_node("");
        put32(8, root);
        return out_;
    }

  private:
    void put32(std::size_t at, std::uint32_t v) {
        out_[at] = static_cast<char>(v >> 24);
        out_[at + 1] = static_cast<char>(v >> 16);
        out_[at + 2] = static_cast<char>(v >> 8);
        out_[at + 3] = static_cast<char>(v);
    }
    void append32(std::uint32_t v) {
        out_.append(4, '\0');
        put32(out_.size() - 4, v);
    }

    // Writes the node for `prefix` after its children; returns its offset with flags.
    std::uint32_t write_node(const std::string& prefix) {
        std::map<unsigned char, std::uint32_t> children;
        for (const auto& [key, values] : keys_) {
            if (key.size() > prefix.size() && key.compare(0, prefix.size(), prefix) == 0) {
                const auto c = static_cast<unsigned char>(key[prefix.size()]);
                if (children.count(c) == 0) {
                    children[c] = 0;
                }
            }
        }
        for (auto& [c, offset] : children) {
            offset = write_node(prefix + static_cast<char>(c));
        }
        const std::uint32_t at = static_cast<std::uint32_t>(out_.size());
        std::uint32_t flags = 0;
        if (!children.empty()) {
            flags |= 0x20000000;
            const unsigned char first = children.begin()->first;
            const unsigned char last = children.rbegin()->first;
            out_.push_back(static_cast<char>(first));
            out_.push_back(static_cast<char>(last));
            for (unsigned c = first; c <= last; ++c) {
                append32(children.count(static_cast<unsigned char>(c)) != 0
                             ? children[static_cast<unsigned char>(c)]
                             : 0);
            }
        }
        if (const auto it = keys_.find(prefix); it != keys_.end()) {
            flags |= 0x40000000;
            append32(static_cast<std::uint32_t>(it->second.size()));
            for (const auto& [priority, value] : it->second) {
                append32(priority);
                out_ += value;
                out_.push_back('\0');
            }
        }
        return at | flags;
    }

    std::map<std::string, std::vector<std::pair<std::uint32_t, std::string>>> keys_;
    std::string out_;
};

std::optional<std::string> lookup(const ModuleIndex& index, const std::string& key) {
    auto found = index.find(key);
    REQUIRE(found);
    if (!*found) {
        return std::nullopt;
    }
    return std::string(**found);
}

// A kernel's module folder in a scratch root, with /proc/modules empty.
struct TreeRoot {
    ScratchDir dir;
    fs::path root = dir.path();
    fs::path folder = root / "lib/modules" / kRelease;
    FixtureSystem system{root};

    TreeRoot() {
        write_text(root / "proc/modules", "");
        write_text(folder / "modules.builtin", "");
        ::chmod(dir.path().c_str(), 0755);
    }
    void set_mtime(const fs::path& file, time_t when) const {
        struct utimbuf times {
            when, when
        };
        REQUIRE(::utime(file.c_str(), &times) == 0);
    }
};

std::vector<std::string> recorded(const ModuleLocator& locator, const std::string& name) {
    auto found = locator.find(name);
    REQUIRE(found);
    REQUIRE(*found);
    REQUIRE((*found)->recorded_dependencies);
    return *(*found)->recorded_dependencies;
}

using Bytes = std::vector<std::byte>;

Bytes xz(const Bytes& data) {
    Bytes out(lzma_stream_buffer_bound(data.size()));
    std::size_t size = 0;
    REQUIRE(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, nullptr,
                                    reinterpret_cast<const std::uint8_t*>(data.data()), data.size(),
                                    reinterpret_cast<std::uint8_t*>(out.data()), &size,
                                    out.size()) == LZMA_OK);
    out.resize(size);
    return out;
}

Bytes concat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const Bytes& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

}  // namespace

TEST_CASE("modules.dep.bin answers a key's value of lowest priority, and nothing for others",
          "[plan]") {
    IndexWriter w;
    w.add("nf_nat", "kernel/nf_nat.ko: kernel/nf_conntrack.ko", 5);
    w.add("nf_nat", "updates/nf_nat.ko:", 2);
    w.add("nf", "kernel/nf.ko:", 1);
    w.add("xfs", "kernel/xfs.ko:", 0);
    const std::string bytes = w.bytes();
    auto index = ModuleIndex::over(bytes);
    REQUIRE(index);
    CHECK(lookup(*index, "nf_nat") == "updates/nf_nat.ko:");
    CHECK(lookup(*index, "nf") == "kernel/nf.ko:");
    CHECK(lookup(*index, "xfs") == "kernel/xfs.ko:");
    CHECK_FALSE(lookup(*index, "nf_na"));  // a node on the way, with no value
    CHECK_FALSE(lookup(*index, "nf_nat2"));
    CHECK_FALSE(lookup(*index, "zzz"));
    CHECK_FALSE(lookup(*index, ""));
}

TEST_CASE("a damaged modules.dep.bin fails the lookup, never reads past its end", "[plan]") {
    IndexWriter w;
    w.add("ab", "kernel/ab.ko:", 0);
    w.add("ac", "kernel/ac.ko:", 0);
    const std::string good = w.bytes();

    SECTION("not an index") {
        CHECK(ModuleIndex::over("").error().code == EINVAL);
        CHECK(ModuleIndex::over(std::string(12, '\0')).error().code == EINVAL);
        CHECK(ModuleIndex::over(good.substr(0, 9)).error().code == EINVAL);  // no root offset
        std::string version = good;
        version[5] = 3;  // version 3.x
        CHECK(ModuleIndex::over(version).error().code == EINVAL);
    }
    SECTION("every truncation either fails or answers as the whole file would") {
        for (std::size_t size = 12; size < good.size(); ++size) {
            const std::string cut = good.substr(0, size);
            auto index = ModuleIndex::over(cut);
            REQUIRE(index);
            for (const char* key : {"ab", "ac", "a", "b"}) {
                auto found = index->find(key);
                if (found && *found) {
                    CHECK(std::string(**found) == "kernel/" + std::string(key) + ".ko:");
                }
            }
        }
    }
    SECTION("a root offset past the end, in the header, or a value without its NUL") {
        std::string bad = good;
        bad[8] = '\x8f';  // a prefix at offset 0x0f......: far past the end
        auto far = ModuleIndex::over(bad);
        REQUIRE(far);
        CHECK(far->find("ab").error().code == EINVAL);
        std::string header = good;
        header[8] = '\x20';
        header[9] = header[10] = header[11] = '\0';  // children at offset 0
        auto zero = ModuleIndex::over(header);
        REQUIRE(zero);
        CHECK(zero->find("ab").error().code == EINVAL);
        std::string open_ended = good;
        open_ended.pop_back();  // the last value's NUL
        auto cut = ModuleIndex::over(open_ended);
        REQUIRE(cut);
        auto r = cut->find("ab");  // written first, or last: one of them has lost its NUL
        auto s = cut->find("ac");
        CHECK((!r || !s));
    }
}

TEST_CASE("modules.dep is looked up line by line: the first line of a name, dashes as underscores",
          "[plan]") {
    TreeRoot t;
    std::string text =
        "kernel/a/snd-hda.ko.xz: kernel/b/snd_pcm.ko.xz kernel/c/soundcore.ko\n"
        "no colon on this line kernel/x.ko\n"
        ":\n"
        "kernel/d/snd_hda.ko: kernel/e/other.ko\n"
        "kernel/f/snd_pcm.ko.xz:\n";
    text += std::string(100000, 'x') + ".ko: kernel/long.ko\n";  // a long line
    text += std::string("kernel/g/nul\0byte.ko: kernel/h.ko\n", 34);
    text += "kernel/i/last.ko: kernel/j/snd-pcm.ko";  // no final newline
    write_text(t.folder / "modules.dep", text);
    auto locator = ModuleLocator::make(t.system, kRelease, {});
    REQUIRE(locator);
    CHECK(recorded(*locator, "snd_hda") == std::vector<std::string>{"snd_pcm", "soundcore"});
    auto found = locator->find("snd_hda");
    REQUIRE(found);
    CHECK((*found)->path == t.folder / "kernel/a/snd-hda.ko.xz");
    CHECK(recorded(*locator, "snd_pcm").empty());
    CHECK(recorded(*locator, "last") == std::vector<std::string>{"snd_pcm"});
    CHECK(recorded(*locator, std::string(100000, 'x')) == std::vector<std::string>{"long"});
    for (const std::string name : {"snd", "snd_hd", "x", "no colon on this line kernel/x", "",
                                   "kernel", "other", "soundcore"}) {
        auto none = locator->find(name);
        REQUIRE(none);
        CHECK_FALSE(*none);
    }
}

TEST_CASE("modules.dep.bin is used when it is not older than modules.dep, else the text",
          "[plan]") {
    TreeRoot t;
    write_text(t.folder / "modules.dep", "kernel/text.ko: kernel/from_text.ko\n");
    IndexWriter w;
    w.add("text", "kernel/text.ko: kernel/from_index.ko", 0);
    write_text(t.folder / "modules.dep.bin", w.bytes());

    SECTION("the index, written after the text") {
        t.set_mtime(t.folder / "modules.dep", 1000);
        t.set_mtime(t.folder / "modules.dep.bin", 2000);
        auto locator = ModuleLocator::make(t.system, kRelease, {});
        REQUIRE(locator);
        CHECK(recorded(*locator, "text") == std::vector<std::string>{"from_index"});
    }
    SECTION("the text, edited after the index") {
        t.set_mtime(t.folder / "modules.dep", 3000);
        t.set_mtime(t.folder / "modules.dep.bin", 2000);
        auto locator = ModuleLocator::make(t.system, kRelease, {});
        REQUIRE(locator);
        CHECK(recorded(*locator, "text") == std::vector<std::string>{"from_text"});
    }
    SECTION("the text, when the index is not one") {
        write_text(t.folder / "modules.dep.bin", "not an index at all");
        t.set_mtime(t.folder / "modules.dep", 1000);
        t.set_mtime(t.folder / "modules.dep.bin", 2000);
        auto locator = ModuleLocator::make(t.system, kRelease, {});
        REQUIRE(locator);
        CHECK(recorded(*locator, "text") == std::vector<std::string>{"from_text"});
    }
    SECTION("nothing, without modules.dep: the index alone is not taken for it") {
        fs::remove(t.folder / "modules.dep");
        auto locator = ModuleLocator::make(t.system, kRelease, {});
        REQUIRE(locator);
        auto found = locator->find("text");
        REQUIRE(found);
        CHECK_FALSE(*found);
    }
}

TEST_CASE("find_listed takes a file modules.dep lists by path or inode, and no other", "[plan]") {
    TreeRoot t;
    write_text(t.folder / "modules.dep", "kernel/net/nf-nat.ko: kernel/net/nf_conntrack.ko\n");
    write_text(t.folder / "kernel/net/nf-nat.ko", "x");
    write_text(t.root / "elsewhere/nf-nat.ko", "x");
    fs::create_directory_symlink(t.folder / "kernel", t.root / "linked");
    auto locator = ModuleLocator::make(t.system, kRelease, {});
    REQUIRE(locator);
    const auto listed = [&](const fs::path& file) {
        auto found = locator->find_listed(file);
        REQUIRE(found);
        return found->has_value();
    };
    CHECK(listed(t.folder / "kernel/net/nf-nat.ko"));
    CHECK(listed(t.folder / "kernel/net/../net/nf-nat.ko"));
    CHECK(listed(t.root / "linked/net/nf-nat.ko"));  // same inode
    CHECK_FALSE(listed(t.root / "elsewhere/nf-nat.ko"));
    CHECK_FALSE(listed(t.folder / "kernel/net/nf_conntrack.ko"));  // its own line is missing
    CHECK_FALSE(listed(t.folder / "kernel/net/absent.ko"));
}

TEST_CASE("insmod -d plans a file modules.dep lists from its line and modules.softdep, unread",
          "[plan]") {
    TreeRoot t;
    const fs::path kernel = t.folder / "kernel";
    // The target is no module at all: were it read, the plan would fail.
    write_text(kernel / "target.ko", "not an ELF file");
    fs::copy_file(fixture_module("fixture_base.ko"), kernel / "fixture_base.ko");
    fs::copy_file(fixture_module("fixture-provider.ko"), kernel / "fixture-provider.ko");
    fs::copy_file(fixture_module("fixture_plain.ko"), kernel / "fixture_plain.ko");
    write_text(t.folder / "modules.dep",
               "kernel/fixture_base.ko:\n"
               "kernel/fixture-provider.ko: kernel/fixture_base.ko\n"
               "kernel/fixture_plain.ko:\n"
               "kernel/target.ko: kernel/fixture-provider.ko kernel/fixture_base.ko\n");
    write_text(t.folder / "modules.softdep", "softdep target post: fixture_plain\n");
    FakeKernel kernel_calls;
    const std::string file = (kernel / "target.ko").string();
    const auto run = run_tool("insmod", kernel_calls, t.root, {"-d", "-n", file});
    CHECK(run.status == 0);
    CHECK(run.err == "");
    CHECK(run.out == (kernel / "fixture_base.ko").string() + "\n" +
                         (kernel / "fixture-provider.ko").string() + "\n" + file + "\n" +
                         (kernel / "fixture_plain.ko").string() + "\n");
    CHECK(kernel_calls.calls().empty());

    SECTION("loading hands what modules.dep lists to the kernel as it is, uninspected") {
        // The kernel checks what it reads; depmod has read it. Here the fake kernel takes it.
        const auto load = run_tool("insmod", kernel_calls, t.root, {"-d", file});
        CHECK(load.status == 0);
        REQUIRE(kernel_calls.calls().size() == 4);
        CHECK(kernel_calls.calls()[2].syscall == "finit_module");
    }
    SECTION("a file modules.dep does not list is read as before, and refused") {
        write_text(t.root / "elsewhere/target.ko", "not an ELF file");
        const auto other = run_tool("insmod", kernel_calls, t.root,
                                    {"-d", "-n", (t.root / "elsewhere/target.ko").string()});
        CHECK(other.status == 1);
        CHECK(kernel_calls.calls().empty());
    }
    SECTION("a listed file in a folder others can write is read as before, and refused") {
        ::chmod(kernel.c_str(), 0777);
        const auto other = run_tool("insmod", kernel_calls, t.root, {"-d", "-n", file});
        ::chmod(kernel.c_str(), 0755);
        CHECK(other.status == 1);
        CHECK(kernel_calls.calls().empty());
    }
}

TEST_CASE("modules.alias is matched as a whole, fixed starts passed over unparsed", "[plan]") {
    const std::string text =
        "# Aliases extracted from modules themselves.\n"
        "alias pci:v00008086d*sv*sd*bc*sc*i* e1000e\n"
        "alias crc32c crc32c-generic\n"
        "alias crc32c crc32c_intel\n"
        "alias crc32-c wrong-dash\n"
        "alias crc32[c-d] bracketed\n"
        "alias crc32c crc32c_generic\n"
        "alias *c32c starred\n"
        "alias crc32\n"
        "alias crc] unmatched\n"
        "alias crc32c" +
        std::string(1, '\0') + "x nul_in_pattern\n" + "alias " + std::string(50000, 'c') +
        " long_pattern\n" +
        "aliascrc32c missing_space\n"
        "alias crc32c last_without_newline";
    CHECK(modules_matching_alias(text, "crc32c") ==
          std::vector<std::string>{"crc32c_generic", "crc32c_intel", "bracketed", "starred",
                                   "last_without_newline"});
    CHECK(modules_matching_alias(text, "crc32_c") == std::vector<std::string>{"wrong_dash"});
    CHECK(modules_matching_alias(text, "pci:v00008086d00001000sv0sd0bc02sc00i00") ==
          std::vector<std::string>{"e1000e"});
    CHECK(modules_matching_alias(text, "nothing").empty());
    CHECK(modules_matching_alias("", "crc32c").empty());
}

TEST_CASE("xz streams are counted from their footers as decompressing counts them",
          "[compression]") {
    const Bytes module = read_bytes(fixture_module("fixture_plain.ko"));
    const Bytes one = xz(module);
    const Bytes small = xz(Bytes(100, std::byte{'a'}));
    const Bytes pad4(4, std::byte{0});
    const std::size_t max = std::size_t{512} << 20;
    struct Case {
        const char* what;
        Bytes data;
    };
    const std::vector<Case> counted = {
        {"one stream", one},
        {"one stream and padding", concat({one, pad4, pad4})},
        {"two streams", concat({one, small})},
        {"three streams with padding between", concat({small, pad4, one, small, pad4})},
    };
    for (const Case& c : counted) {
        INFO(c.what);
        const auto framed = count_units_framed(Compression::xz, c.data, max);
        const auto decompressed = modload::count_units(Compression::xz, c.data, max);
        REQUIRE(decompressed);
        REQUIRE(framed);
        CHECK(*framed == *decompressed);
    }
    Bytes garbage = concat({one, Bytes{std::byte{1}, std::byte{2}, std::byte{3}}});
    Bytes odd_padding = concat({one, Bytes(3, std::byte{0})});
    Bytes leading = concat({Bytes{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}}, one});
    Bytes truncated(one.begin(), one.end() - 1);
    Bytes bad_footer = one;
    bad_footer[bad_footer.size() - 1] = std::byte{'X'};
    for (const Bytes* data : {&garbage, &odd_padding, &leading, &truncated, &bad_footer}) {
        CHECK_FALSE(count_units_framed(Compression::xz, *data, max));
    }
    CHECK_FALSE(count_units_framed(Compression::xz, one, module.size() - 1));  // too large
    CHECK_FALSE(count_units_framed(Compression::zstd, one, max));
    CHECK_FALSE(count_units_framed(Compression::xz, Bytes{}, max));
    CHECK_FALSE(count_units_framed(Compression::xz, Bytes(24, std::byte{0}), max));
}
