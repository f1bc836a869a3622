#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <modload/module_info.hpp>

#include "fixtures.hpp"

using namespace modload;
using modload::testing::fixture_module;
using modload::testing::read_bytes;

namespace {

using Bytes = std::vector<std::byte>;

constexpr std::uint64_t kShfAlloc = 0x2;  // SHF_ALLOC
constexpr std::uint16_t kEmX86_64 = 62;
constexpr std::uint16_t kEm386 = 3;

Bytes bytes_of(std::string_view text) {
    const auto* p = reinterpret_cast<const std::byte*>(text.data());
    return {p, p + text.size()};
}

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

bool contains(const std::vector<std::string>& list, std::string_view item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

// A reader and patcher of ELF section headers written from the ELF specification, independent of
// the library, so that tests can damage a copy of a fixture in a precise place and check what
// the library rewrote.
class RawElf {
  public:
    struct Section {
        std::size_t index = 0;
        std::string name;
        std::uint32_t type = 0;
        std::uint64_t flags = 0;
        std::uint64_t offset = 0;
        std::uint64_t size = 0;
        std::uint32_t link = 0;
        std::size_t header_at = 0;  // file offset of the section header
    };

    explicit RawElf(Bytes bytes) : bytes_(std::move(bytes)) {
        REQUIRE(bytes_.size() >= 52);
        is64_ = bytes_[4] == std::byte{2};
        big_ = bytes_[5] == std::byte{2};
    }

    Bytes& bytes() { return bytes_; }
    const Bytes& bytes() const { return bytes_; }
    bool is64() const { return is64_; }
    std::size_t word() const { return is64_ ? 8 : 4; }

    std::uint64_t get(std::size_t at, std::size_t width) const {
        REQUIRE(at + width <= bytes_.size());
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < width; ++i) {
            const std::size_t k = big_ ? i : width - 1 - i;
            v = (v << 8) | std::to_integer<std::uint64_t>(bytes_[at + k]);
        }
        return v;
    }

    void put(std::size_t at, std::size_t width, std::uint64_t v) {
        REQUIRE(at + width <= bytes_.size());
        for (std::size_t i = 0; i < width; ++i) {
            const std::size_t k = big_ ? width - 1 - i : i;
            bytes_[at + k] = std::byte(static_cast<unsigned char>(v >> (8 * i)));
        }
    }

    // ELF header fields: e_type, e_shoff, e_shentsize, e_shnum, e_shstrndx.
    std::size_t e_type_at() const { return 16; }
    std::size_t e_shoff_at() const { return is64_ ? 40 : 32; }
    std::uint64_t shoff() const { return get(e_shoff_at(), word()); }
    std::size_t shentsize() const { return get(is64_ ? 58 : 46, 2); }
    std::size_t shnum() const { return get(is64_ ? 60 : 48, 2); }
    std::size_t shstrndx() const { return get(is64_ ? 62 : 50, 2); }
    // Where the section header table ends: a file cut before this has lost section headers.
    std::size_t headers_end() const { return shoff() + shnum() * shentsize(); }

    // Section header fields, as offsets into the file.
    std::size_t flags_at(const Section& s) const { return s.header_at + 8; }
    std::size_t offset_at(const Section& s) const { return s.header_at + (is64_ ? 24 : 16); }
    std::size_t size_at(const Section& s) const { return s.header_at + (is64_ ? 32 : 20); }
    std::size_t link_at(const Section& s) const { return s.header_at + (is64_ ? 40 : 24); }
    std::size_t entsize_at(const Section& s) const { return s.header_at + (is64_ ? 56 : 36); }

    std::vector<Section> sections() const {
        std::vector<Section> out;
        for (std::size_t i = 0; i < shnum(); ++i) {
            Section s;
            s.index = i;
            s.header_at = shoff() + i * shentsize();
            s.type = static_cast<std::uint32_t>(get(s.header_at + 4, 4));
            s.flags = get(flags_at(s), word());
            s.offset = get(offset_at(s), word());
            s.size = get(size_at(s), word());
            s.link = static_cast<std::uint32_t>(get(link_at(s), 4));
            out.push_back(s);
        }
        const Section& names = out.at(shstrndx());
        for (Section& s : out) {
            const std::size_t at = names.offset + get(s.header_at, 4);
            REQUIRE(at < bytes_.size());
            s.name = reinterpret_cast<const char*>(bytes_.data() + at);
        }
        return out;
    }

    Section section(std::string_view name) const {
        for (const Section& s : sections()) {
            if (s.name == name) {
                return s;
            }
        }
        FAIL("no section " << name);
        return {};
    }

    std::span<const std::byte> data(const Section& s) const {
        return std::span(bytes_).subspan(s.offset, s.size);
    }

  private:
    Bytes bytes_;
    bool is64_ = true;
    bool big_ = false;
};

RawElf fixture_elf(const std::string& file) {
    return RawElf(read_bytes(fixture_module(file)));
}

// The error a bad image must give: ENOEXEC with a detail, never a crash or another errno.
void check_refused(const Result<ModuleInfo>& r, std::string_view detail = {}) {
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ENOEXEC);
    CHECK_FALSE(r.error().detail.empty());
    if (!detail.empty()) {
        CHECK(r.error().detail.find(detail) != std::string::npos);
    }
}

// What must hold of any parse, good or bad: the documented errno, and on success a name and a
// force layout that lies inside the image (the strip functions write there).
void check_sane(std::span<const std::byte> image) {
    auto info = parse_module_image(image);
    if (!info) {
        CHECK(info.error().code == ENOEXEC);
        return;
    }
    CHECK_FALSE(info->name.empty());
    if (info->force_layout.versions_flags_offset) {
        CHECK(*info->force_layout.versions_flags_offset < image.size());
    }
    if (info->force_layout.vermagic_offset) {
        CHECK(*info->force_layout.vermagic_offset + info->force_layout.vermagic_length <=
              image.size());
    }
    Bytes copy(image.begin(), image.end());
    const auto modversions = strip_modversions(copy, *info);
    CHECK((modversions || modversions.error().code == ENOEXEC));
    const auto vermagic = strip_vermagic(copy, *info);
    CHECK((vermagic || vermagic.error().code == ENOEXEC));
}

ModuleInfo with_modinfo(std::vector<ModinfoEntry> entries) {
    ModuleInfo info;
    info.modinfo = std::move(entries);
    return info;
}

}  // namespace

TEST_CASE("a gcc-built module yields its modinfo, name, versions, exports and imports", "[elf]") {
    const auto image = read_bytes(fixture_module("fixture_plain.ko"));
    auto info = parse_module_image(image);
    REQUIRE(info);
    CHECK(info->name == "fixture_plain");
    CHECK(info->identity.bits == 64);
    CHECK_FALSE(info->identity.big_endian);
    CHECK(info->identity.machine == kEmX86_64);
    CHECK(info->modinfo_value("name") == "fixture_plain");
    CHECK(info->modinfo_value("license") == "GPL");
    CHECK(info->modinfo_value("description") == "modload test fixture");
    CHECK(info->modinfo_value("author") == "modload");
    CHECK(info->modinfo_value("parm") == "count:how many (int)");
    CHECK(info->modinfo_value("parmtype") == "count:int");
    CHECK(info->modinfo_value("retpoline") == "Y");
    CHECK(info->modinfo_value("vermagic") == "6.1.0-test SMP preempt mod_unload modversions ");
    CHECK(info->modinfo_value("depends") == "fixture_provider,crc-itu-t");
    CHECK_FALSE(info->modinfo_value("firmware").has_value());
    CHECK(info->modinfo.size() == 11);
    CHECK(info->depends() == std::vector<std::string>{"fixture_provider", "crc-itu-t"});
    auto aliases = info->modinfo_values("alias");  // gcc chooses the order of the strings
    std::sort(aliases.begin(), aliases.end());
    CHECK(aliases == std::vector<std::string_view>{"fixture:one", "fixture:two"});
    REQUIRE(info->versions.size() == 2);
    CHECK(info->versions[0].name == "module_layout");
    CHECK(info->versions[0].crc == 0x12345678);
    CHECK(info->versions[1].name == "fixture_provider_value");
    CHECK(info->versions[1].crc == 0x9abcdef0);
    CHECK(info->exported_symbols == std::vector<std::string>{"fixture_exported"});
    CHECK(contains(info->undefined_symbols, "fixture_provider_value"));
    CHECK(contains(info->undefined_symbols, "printk"));
    // Defined symbols are not imports.
    CHECK_FALSE(contains(info->undefined_symbols, "fixture_exported"));
    CHECK_FALSE(contains(info->undefined_symbols, "fixture_init"));
    CHECK_FALSE(info->signature_appended);
}

TEST_CASE("the force layout points at __versions' sh_flags and at the vermagic string", "[elf]") {
    const RawElf elf = fixture_elf("fixture_plain.ko");
    auto info = parse_module_image(read_bytes(fixture_module("fixture_plain.ko")));
    REQUIRE(info);
    REQUIRE(info->force_layout.versions_flags_offset);
    CHECK(*info->force_layout.versions_flags_offset == elf.flags_at(elf.section("__versions")));
    REQUIRE(info->force_layout.vermagic_offset);
    const std::string_view expected = "vermagic=6.1.0-test SMP preempt mod_unload modversions ";
    CHECK(info->force_layout.vermagic_length == expected.size());
    const Bytes image = read_bytes(fixture_module("fixture_plain.ko"));
    const std::string_view found(
        reinterpret_cast<const char*>(image.data()) + *info->force_layout.vermagic_offset,
        info->force_layout.vermagic_length);
    CHECK(found == expected);
}

TEST_CASE("depends= is split at commas; empty or absent means no dependencies", "[elf]") {
    auto noname = parse_module_image(read_bytes(fixture_module("fixture_noname.ko")));
    REQUIRE(noname);
    CHECK(noname->modinfo_value("depends") == "");  // present, and empty
    CHECK(noname->depends().empty());

    CHECK(with_modinfo({}).depends().empty());
    CHECK(with_modinfo({{"depends", "one"}}).depends() == std::vector<std::string>{"one"});
    CHECK(with_modinfo({{"depends", "a,b,c"}}).depends() ==
          std::vector<std::string>{"a", "b", "c"});
    // Stray commas leave no empty names behind.
    CHECK(with_modinfo({{"depends", ",a,,b,"}}).depends() == std::vector<std::string>{"a", "b"});
    CHECK(with_modinfo({{"depends", ","}}).depends().empty());
    // Only the first depends= counts, as for every single-valued key.
    CHECK(with_modinfo({{"depends", "x"}, {"depends", "y"}}).depends() ==
          std::vector<std::string>{"x"});
}

TEST_CASE("modinfo_value gives the first value and modinfo_values all, in file order", "[elf]") {
    const ModuleInfo info = with_modinfo(
        {{"alias", "b"}, {"license", "GPL"}, {"alias", "a"}, {"alias", ""}, {"flag", ""}});
    CHECK(info.modinfo_value("alias") == "b");
    CHECK(info.modinfo_values("alias") == std::vector<std::string_view>{"b", "a", ""});
    CHECK(info.modinfo_value("flag") == "");
    CHECK_FALSE(info.modinfo_value("missing").has_value());
    CHECK(info.modinfo_values("missing").empty());
    CHECK_FALSE(info.modinfo_value("alia").has_value());  // whole keys only
}

TEST_CASE("a module without name= takes its name from .gnu.linkonce.this_module", "[elf]") {
    auto info = parse_module_image(read_bytes(fixture_module("fixture_noname.ko")));
    REQUIRE(info);
    CHECK_FALSE(info->modinfo_value("name").has_value());
    CHECK(info->name == "fixture_noname");
    CHECK(info->modinfo_value("license") == "GPL");
}

TEST_CASE("a 32-bit module is read with 32-bit CRCs and struct module layout", "[elf]") {
    auto info = parse_module_image(read_bytes(fixture_module("fixture_32.ko")));
    REQUIRE(info);
    CHECK(info->identity.bits == 32);
    CHECK_FALSE(info->identity.big_endian);
    CHECK(info->identity.machine == kEm386);
    CHECK(info->name == "fixture_32");
    CHECK(info->modinfo_value("vermagic") == "6.1.0-test SMP preempt mod_unload modversions ");
    REQUIRE(info->versions.size() == 2);
    CHECK(info->versions[0].name == "module_layout");
    CHECK(info->versions[0].crc == 0x12345678);
    CHECK(info->versions[1].name == "fixture_provider_value");
    CHECK(info->versions[1].crc == 0x9abcdef0);
    CHECK(info->exported_symbols == std::vector<std::string>{"fixture_exported"});
    CHECK(contains(info->undefined_symbols, "fixture_provider_value"));
    CHECK(contains(info->undefined_symbols, "printk"));
}

TEST_CASE("the 32-bit module's this_module name is found at its 32-bit offset", "[elf]") {
    // Drop name= from .modinfo (rename the key) so that the name must come from struct module.
    RawElf elf = fixture_elf("fixture_32.ko");
    const auto modinfo = elf.section(".modinfo");
    const Bytes key = bytes_of("name=fixture_32");
    auto& bytes = elf.bytes();
    const auto begin = bytes.begin() + static_cast<std::ptrdiff_t>(modinfo.offset);
    const auto it = std::search(begin, begin + static_cast<std::ptrdiff_t>(modinfo.size),
                                key.begin(), key.end());
    REQUIRE(it != begin + static_cast<std::ptrdiff_t>(modinfo.size));
    *it = std::byte{'N'};
    auto info = parse_module_image(bytes);
    REQUIRE(info);
    CHECK_FALSE(info->modinfo_value("name").has_value());
    CHECK(info->name == "fixture_32");
}

TEST_CASE("big-endian modules are read in their own byte order", "[elf]") {
    for (const auto& [file, bits, machine, name] :
         {std::tuple{"fixture_be64.ko", 64, std::uint16_t{21}, "fixture_be64"},
          std::tuple{"fixture_be32.ko", 32, std::uint16_t{20}, "fixture_be32"}}) {
        INFO(file);
        const Bytes image = read_bytes(fixture_module(file));
        const Bytes before = image;
        auto info = parse_module_image(image);
        REQUIRE(info);
        CHECK(info->identity.big_endian);
        CHECK(info->identity.bits == bits);
        CHECK(info->identity.machine == machine);
        CHECK(info->name == name);
        CHECK(info->modinfo_value("license") == "GPL");
        CHECK(info->modinfo_value("vermagic") == "6.1.0-test ");
        CHECK(info->modinfo_value("depends") == "");
        CHECK(info->depends().empty());
        REQUIRE(info->versions.size() == 1);
        CHECK(info->versions[0].name == "module_layout");
        CHECK(info->versions[0].crc == 0x11223344);  // read big-endian: not 0x44332211
        CHECK(info->undefined_symbols == std::vector<std::string>{"be_undefined"});
        CHECK(info->exported_symbols == std::vector<std::string>{"be_exported"});
        // The caller's bytes are what the kernel gets: reading must not convert them in place.
        CHECK(same_bytes(image, before));
    }
}

TEST_CASE("make_elf.py's little-endian twin reads like the big-endian module", "[elf]") {
    auto le = parse_module_image(read_bytes(fixture_module("fixture_le64.ko")));
    auto be = parse_module_image(read_bytes(fixture_module("fixture_be64.ko")));
    REQUIRE(le);
    REQUIRE(be);
    CHECK_FALSE(le->identity.big_endian);
    CHECK(le->identity.machine == kEmX86_64);
    CHECK(le->name == "fixture_le64");
    REQUIRE(le->versions.size() == 1);
    CHECK(le->versions[0].crc == be->versions[0].crc);
    CHECK(le->undefined_symbols == be->undefined_symbols);
    CHECK(le->exported_symbols == be->exported_symbols);
    CHECK(le->modinfo.size() == be->modinfo.size());
}

TEST_CASE("a signed module reads as its ELF and says it carries a signature", "[elf]") {
    const Bytes signed_image = read_bytes(fixture_module("fixture_signed.ko"));
    auto info = parse_module_image(signed_image);
    REQUIRE(info);
    CHECK(info->signature_appended);
    auto plain = parse_module_image(read_bytes(fixture_module("fixture_plain.ko")));
    REQUIRE(plain);
    CHECK(info->name == plain->name);
    CHECK(info->modinfo.size() == plain->modinfo.size());
    CHECK(info->modinfo_value("vermagic") == plain->modinfo_value("vermagic"));
    CHECK(info->versions.size() == plain->versions.size());
    CHECK(info->exported_symbols == plain->exported_symbols);
    CHECK(info->undefined_symbols == plain->undefined_symbols);
    CHECK(info->force_layout.versions_flags_offset == plain->force_layout.versions_flags_offset);
    CHECK(info->force_layout.vermagic_offset == plain->force_layout.vermagic_offset);
}

TEST_CASE("a signature length that does not fit the file is refused", "[elf]") {
    const Bytes signed_image = read_bytes(fixture_module("fixture_signed.ko"));
    // sig_len is the big-endian u32 just before the 28-byte magic string.
    const std::size_t sig_len_at = signed_image.size() - 28 - 4;
    const auto with_sig_len = [&](std::uint32_t value) {
        Bytes copy = signed_image;
        for (std::size_t i = 0; i < 4; ++i) {
            copy[sig_len_at + i] = std::byte(static_cast<unsigned char>(value >> (24 - 8 * i)));
        }
        return copy;
    };
    const auto trailer = static_cast<std::uint32_t>(28 + 12);
    SECTION("far longer than the file") {
        check_refused(parse_module_image(with_sig_len(0xffffffff)), "signature");
    }
    SECTION("one byte longer than the file") {
        const auto len = static_cast<std::uint32_t>(signed_image.size()) - trailer + 1;
        check_refused(parse_module_image(with_sig_len(len)), "signature");
    }
    SECTION("exactly the file: no ELF is left") {
        const auto len = static_cast<std::uint32_t>(signed_image.size()) - trailer;
        check_refused(parse_module_image(with_sig_len(len)));
    }
    SECTION("long enough to eat the section headers") {
        check_refused(parse_module_image(with_sig_len(256 + 1000)));
    }
}

TEST_CASE("a file too short for the signature trailer it ends with is refused", "[elf]") {
    // The ELF magic and the 28-byte signature magic in 32 bytes: no room for module_signature.
    const Bytes image = bytes_of(std::string_view("\177ELF~Module signature appended~\n"));
    REQUIRE(image.size() == 32);
    check_refused(parse_module_image(image), "signature");
}

TEST_CASE("an empty image is refused", "[elf]") {
    check_refused(parse_module_image({}), "empty");
}

TEST_CASE("a text file is refused as not an ELF file", "[elf]") {
    check_refused(
        parse_module_image(bytes_of("obj-m += fixture.o\nall:\n\tmake -C /lib/modules\n")),
        "not an ELF file");
    check_refused(parse_module_image(bytes_of("\177ELF")),
                  "not an ELF file");  // magic only
    check_refused(parse_module_image(bytes_of("\177ELG and some more bytes to pass")),
                  "not an ELF file");
}

TEST_CASE("every truncation of a module is refused or read, never a crash", "[elf]") {
    for (const char* file : {"fixture_plain.ko", "fixture_32.ko", "fixture_be64.ko",
                             "fixture_be32.ko", "fixture_signed.ko", "fixture_noname.ko"}) {
        INFO(file);
        const RawElf elf = fixture_elf(file);
        const Bytes& image = elf.bytes();
        const std::size_t headers_end = elf.headers_end();
        REQUIRE(headers_end <= image.size());
        for (std::size_t length = 0; length < image.size(); ++length) {
            INFO("first " << length << " bytes");
            const auto cut = std::span(image).first(length);
            check_sane(cut);
            if (length < headers_end) {
                // Section headers are cut off: no parse may pretend to have read them.
                check_refused(parse_module_image(cut));
            }
        }
        CHECK(parse_module_image(image));
    }
}

TEST_CASE("an ELF without .modinfo is refused", "[elf]") {
    check_refused(parse_module_image(read_bytes(fixture_module("fixture_nomodinfo.ko"))),
                  "no .modinfo section");
}

TEST_CASE("an ELF that is not a relocatable object is refused", "[elf]") {
    SECTION("an executable") {
        REQUIRE(std::filesystem::is_regular_file("/bin/true"));
        check_refused(parse_module_image(read_bytes("/bin/true")), "relocatable");
    }
    for (const auto& [type, what] : {std::pair{2, "ET_EXEC"}, std::pair{3, "ET_DYN"},
                                     std::pair{4, "ET_CORE"}, std::pair{0, "ET_NONE"}}) {
        SECTION(std::string("the fixture marked ") + what) {
            RawElf elf = fixture_elf("fixture_plain.ko");
            elf.put(elf.e_type_at(), 2, static_cast<std::uint64_t>(type));
            check_refused(parse_module_image(elf.bytes()), "relocatable");
        }
    }
}

TEST_CASE("a section that lies past the end of the file is refused", "[elf]") {
    for (const char* file :
         {"fixture_plain.ko", "fixture_32.ko", "fixture_be64.ko", "fixture_be32.ko"}) {
        for (const char* name : {".modinfo", ".gnu.linkonce.this_module", "__versions",
                                 "__ksymtab_strings", ".symtab", ".strtab"}) {
            const RawElf original = fixture_elf(file);
            const std::uint64_t size = original.bytes().size();
            const std::uint64_t max = original.is64() ? UINT64_MAX : UINT32_MAX;
            const auto section = original.section(name);
            INFO(file << ", " << name);
            // offset and size fields each pushed out; the last two overflow offset + size.
            for (const auto& [offset, length] :
                 {std::pair{size + 1, section.size}, std::pair{size, std::uint64_t{1}},
                  std::pair{section.offset, size - section.offset + 1},
                  std::pair{section.offset, max}, std::pair{max - 1, std::uint64_t{4}},
                  std::pair{std::uint64_t{8}, max - 7}}) {
                INFO("offset " << offset << ", size " << length);
                RawElf elf = original;
                elf.put(elf.offset_at(section), elf.word(), offset);
                elf.put(elf.size_at(section), elf.word(), length);
                check_refused(parse_module_image(elf.bytes()));
            }
        }
    }
}

TEST_CASE("a section header table past the end of the file is refused", "[elf]") {
    for (const char* file : {"fixture_plain.ko", "fixture_be32.ko"}) {
        INFO(file);
        RawElf elf = fixture_elf(file);
        const std::uint64_t size = elf.bytes().size();
        for (const std::uint64_t shoff : {size, size - 8, std::uint64_t{UINT32_MAX}}) {
            RawElf copy = elf;
            copy.put(copy.e_shoff_at(), copy.word(), shoff);
            check_refused(parse_module_image(copy.bytes()));
        }
    }
}

TEST_CASE("__versions that is not a whole number of entries is refused", "[elf]") {
    RawElf elf = fixture_elf("fixture_plain.ko");
    const auto versions = elf.section("__versions");
    elf.put(elf.size_at(versions), elf.word(), versions.size - 1);
    check_refused(parse_module_image(elf.bytes()), "__versions");
}

TEST_CASE("a symbol table with a wrong string table link is refused", "[elf]") {
    for (const char* file : {"fixture_plain.ko", "fixture_be64.ko", "fixture_be32.ko"}) {
        const RawElf original = fixture_elf(file);
        const auto symtab = original.section(".symtab");
        const auto sections = original.sections();
        std::vector<std::pair<std::uint32_t, std::string>> links{
            {0, "none"},
            {static_cast<std::uint32_t>(sections.size()), "one past the last section"},
            {UINT32_MAX, "far out"},
            {static_cast<std::uint32_t>(symtab.index), "itself"},
            {static_cast<std::uint32_t>(original.section(".modinfo").index), ".modinfo"},
        };
        for (const auto& [link, what] : links) {
            INFO(file << ", sh_link " << what);
            RawElf elf = original;
            elf.put(elf.link_at(symtab), 4, link);
            check_refused(parse_module_image(elf.bytes()));
        }
    }
}

TEST_CASE("a symbol table's sh_entsize is not trusted: every symbol is read", "[elf]") {
    // The kernel counts symbols as sh_size / sizeof(Elf_Sym) (simplify_symbols()) and never
    // reads sh_entsize; a wrong one must neither hide imports nor refuse a loadable module.
    for (const char* file : {"fixture_plain.ko", "fixture_be32.ko"}) {
        const RawElf original = fixture_elf(file);
        auto expected = parse_module_image(original.bytes());
        REQUIRE(expected);
        REQUIRE_FALSE(expected->undefined_symbols.empty());
        const auto symtab = original.section(".symtab");
        const std::uint64_t sym_size = original.is64() ? 24 : 16;  // sizeof(ElfN_Sym)
        for (const std::uint64_t entsize : {std::uint64_t{0}, std::uint64_t{1}, sym_size - 1,
                                            sym_size + 1, 2 * sym_size, std::uint64_t{1000}}) {
            INFO(file << ", sh_entsize " << entsize);
            RawElf elf = original;
            elf.put(elf.entsize_at(symtab), elf.word(), entsize);
            auto info = parse_module_image(elf.bytes());
            REQUIRE(info);
            CHECK(info->undefined_symbols == expected->undefined_symbols);
        }
    }
}

TEST_CASE("a symbol table that is not a whole number of symbols is refused", "[elf]") {
    for (const char* file : {"fixture_plain.ko", "fixture_be32.ko"}) {
        INFO(file);
        RawElf elf = fixture_elf(file);
        const auto symtab = elf.section(".symtab");
        elf.put(elf.size_at(symtab), elf.word(), symtab.size - 1);
        check_refused(parse_module_image(elf.bytes()));
    }
}

TEST_CASE("random byte flips never crash the parser", "[elf]") {
    // A crude, deterministic fuzz: mt19937's sequence is fixed by the standard. Every parse must
    // return ENOEXEC or a sane result; run under ASan to catch reads out of bounds.
    std::mt19937 rng(20240601);
    for (const auto& [file, rounds] :
         {std::pair{"fixture_plain.ko", 3000}, std::pair{"fixture_32.ko", 1000},
          std::pair{"fixture_be64.ko", 1000}, std::pair{"fixture_signed.ko", 500}}) {
        const RawElf elf = fixture_elf(file);
        const Bytes& original = elf.bytes();
        // A third of the rounds aim at the ELF and section headers, where damage matters most.
        const std::size_t headers_at = elf.shoff();
        std::size_t refused = 0;
        for (int round = 0; round < rounds; ++round) {
            Bytes image = original;
            const int flips = 1 + static_cast<int>(rng() % 8);
            for (int i = 0; i < flips; ++i) {
                std::size_t at = rng() % image.size();
                if (round % 3 == 0) {
                    at = rng() % 2 == 0 ? rng() % 64
                                        : headers_at + rng() % (image.size() - headers_at);
                }
                image[at] ^= std::byte(static_cast<unsigned char>(1 + rng() % 255));
            }
            INFO(file << ", round " << round);
            check_sane(image);
            refused += parse_module_image(image) ? 0 : 1;
        }
        // The fuzz does damage: a good share of rounds must be refused, or it tested nothing.
        CHECK(refused > static_cast<std::size_t>(rounds) / 10);
    }
}

TEST_CASE("strip_modversions clears SHF_ALLOC of __versions and changes nothing else", "[elf]") {
    for (const char* file :
         {"fixture_plain.ko", "fixture_32.ko", "fixture_be64.ko", "fixture_be32.ko"}) {
        INFO(file);
        RawElf elf = fixture_elf(file);
        const Bytes original = elf.bytes();
        const auto before = elf.section("__versions");
        REQUIRE((before.flags & kShfAlloc) != 0);
        auto info = parse_module_image(original);
        REQUIRE(info);
        REQUIRE(strip_modversions(elf.bytes(), *info));

        const auto after = elf.section("__versions");
        CHECK(after.flags == (before.flags & ~kShfAlloc));
        std::size_t changed = 0;
        for (std::size_t i = 0; i < original.size(); ++i) {
            changed += original[i] != elf.bytes()[i] ? 1 : 0;
        }
        CHECK(changed == 1);
        // The stripped copy is still a module, with the same facts.
        auto again = parse_module_image(elf.bytes());
        REQUIRE(again);
        CHECK(again->name == info->name);
        CHECK(again->versions.size() == info->versions.size());
        // Stripping twice is harmless.
        REQUIRE(strip_modversions(elf.bytes(), *info));
        CHECK(elf.section("__versions").flags == after.flags);
    }
}

TEST_CASE("strip_vermagic blanks vermagic= so the module no longer has one", "[elf]") {
    for (const char* file :
         {"fixture_plain.ko", "fixture_32.ko", "fixture_be64.ko", "fixture_be32.ko"}) {
        INFO(file);
        RawElf elf = fixture_elf(file);
        const Bytes original = elf.bytes();
        auto info = parse_module_image(original);
        REQUIRE(info);
        REQUIRE(info->modinfo_value("vermagic"));
        REQUIRE(strip_vermagic(elf.bytes(), *info));

        auto again = parse_module_image(elf.bytes());
        REQUIRE(again);
        CHECK_FALSE(again->modinfo_value("vermagic").has_value());
        CHECK(again->modinfo.size() == info->modinfo.size() - 1);
        CHECK(again->modinfo_value("license") == "GPL");
        CHECK(again->name == info->name);

        // Exactly the bytes of "vermagic=...", found here by search, became NULs.
        const auto modinfo = elf.section(".modinfo");
        const Bytes key = bytes_of("vermagic=");
        const auto section_begin = original.begin() + static_cast<std::ptrdiff_t>(modinfo.offset);
        const auto section_end = section_begin + static_cast<std::ptrdiff_t>(modinfo.size);
        const auto begin = std::search(section_begin, section_end, key.begin(), key.end());
        REQUIRE(begin != section_end);
        const auto end = std::find(begin, section_end, std::byte{0});
        const auto from = static_cast<std::size_t>(begin - original.begin());
        const auto to = static_cast<std::size_t>(end - original.begin());
        for (std::size_t i = 0; i < original.size(); ++i) {
            if (i >= from && i < to) {
                CHECK(elf.bytes()[i] == std::byte{0});
            } else if (original[i] != elf.bytes()[i]) {
                FAIL("byte " << i << " outside vermagic= changed");
            }
        }
    }
}

TEST_CASE("stripping a module that has no __versions or vermagic changes nothing", "[elf]") {
    Bytes image = read_bytes(fixture_module("fixture_plain.ko"));
    const Bytes original = image;
    const ModuleInfo info;  // no force layout
    CHECK(strip_modversions(image, info));
    CHECK(strip_vermagic(image, info));
    CHECK(same_bytes(image, original));
}

TEST_CASE("stripping refuses a force layout outside the image", "[elf]") {
    Bytes image(100, std::byte{0x7f});
    const Bytes original = image;
    ModuleInfo info;
    SECTION("sh_flags running off the end") {
        info.identity.bits = 64;
        for (const std::size_t at : {std::size_t{93}, std::size_t{100}, SIZE_MAX - 2}) {
            info.force_layout.versions_flags_offset = at;
            const auto r = strip_modversions(image, info);
            REQUIRE_FALSE(r);
            CHECK(r.error().code == ENOEXEC);
        }
        info.identity.bits = 32;
        info.force_layout.versions_flags_offset = 97;
        CHECK_FALSE(strip_modversions(image, info));
        info.force_layout.versions_flags_offset = 96;  // the last 4 bytes: fits
        CHECK(strip_modversions(image, info));
        CHECK(image[96] == (std::byte{0x7f} & ~std::byte{0x02}));
        image = original;
    }
    SECTION("vermagic running off the end") {
        for (const auto& [at, length] :
             {std::pair{std::size_t{95}, std::size_t{6}},
              std::pair{std::size_t{101}, std::size_t{0}}, std::pair{SIZE_MAX, std::size_t{2}},
              std::pair{std::size_t{1}, SIZE_MAX}}) {
            info.force_layout.vermagic_offset = at;
            info.force_layout.vermagic_length = length;
            const auto r = strip_vermagic(image, info);
            REQUIRE_FALSE(r);
            CHECK(r.error().code == ENOEXEC);
        }
    }
    CHECK(same_bytes(image, original));
}
