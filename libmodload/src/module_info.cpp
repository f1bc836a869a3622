// Reading a module's ELF image with elfutils' libelf. libelf checks the headers it decodes; on top
// of that every section this file reads is checked to lie inside the image before its data is used.
#include <modload/module_info.hpp>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <memory>

#include <gelf.h>
#include <libelf.h>

#include "libelf_binding.hpp"

namespace modload {

namespace {

constexpr std::string_view kSignatureMagic = "~Module signature appended~\n";
// struct module_signature: five u8 fields, three pad bytes, then sig_len as big-endian u32.
constexpr std::size_t kSignatureInfoSize = 12;
// struct modversion_info { unsigned long crc; char name[64 - sizeof(unsigned long)]; }
constexpr std::size_t kModversionEntrySize = 64;

Error invalid(std::string detail) {
    return make_error(ENOEXEC, std::move(detail));
}

std::uint64_t read_uint(const std::byte* p, std::size_t width, bool big_endian) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < width; ++i) {
        const auto byte = static_cast<std::uint64_t>(p[big_endian ? i : width - 1 - i]);
        v = (v << 8) | byte;
    }
    return v;
}

// A NUL-terminated string inside [begin, end), or the bytes up to end when there is no NUL.
std::string_view bounded_string(const std::byte* begin, const std::byte* end) {
    const auto* s = reinterpret_cast<const char*>(begin);
    const auto limit = static_cast<std::size_t>(end - begin);
    return {s, strnlen(s, limit)};
}

// The length of the image without an appended signature, when there is one.
Result<std::size_t> elf_length(std::span<const std::byte> image, bool& signed_module) {
    signed_module = false;
    if (image.size() < kSignatureMagic.size() ||
        std::memcmp(image.data() + image.size() - kSignatureMagic.size(), kSignatureMagic.data(),
                    kSignatureMagic.size()) != 0) {
        return image.size();
    }
    signed_module = true;
    const std::size_t trailer = kSignatureMagic.size() + kSignatureInfoSize;
    if (image.size() < trailer) {
        return invalid("truncated module signature");
    }
    const std::byte* info = image.data() + image.size() - trailer;
    const std::uint64_t sig_len = read_uint(info + 8, 4, true);
    if (sig_len > image.size() - trailer) {
        return invalid("module signature longer than the file");
    }
    return image.size() - trailer - static_cast<std::size_t>(sig_len);
}

struct ElfCloser {
    decltype(&::elf_end) end;
    void operator()(Elf* elf) const { (void)end(elf); }
};

class ImageReader {
  public:
    ImageReader(const detail::Libelf& lib, std::span<const std::byte> image,
                std::unique_ptr<Elf, ElfCloser> elf)
        : lib_(lib), image_(image), elf_(std::move(elf)) {}

    Result<ModuleInfo> read(ModuleParts parts);

  private:
    struct Section {
        std::size_t index;
        GElf_Shdr header;
    };

    Result<void> read_sections();
    const Section* find(std::string_view name) const;
    // The bytes of a section, checked to lie inside the image. Empty for SHT_NOBITS.
    Result<std::span<const std::byte>> bytes(const Section& section) const;
    // The bytes of the section called `name`; nullopt when there is none.
    Result<std::optional<std::span<const std::byte>>> named_bytes(std::string_view name) const;
    Result<void> read_modinfo(ModuleInfo& info) const;
    Result<void> read_this_module_name(ModuleInfo& info) const;
    Result<void> read_versions_layout(ModuleInfo& info) const;
    Result<void> read_versions(ModuleInfo& info) const;
    Result<void> read_exports(ModuleInfo& info) const;
    Result<void> read_symbols(ModuleInfo& info) const;

    const detail::Libelf& lib_;
    std::span<const std::byte> image_;
    std::unique_ptr<Elf, ElfCloser> elf_;
    GElf_Ehdr ehdr_{};
    std::vector<Section> sections_;
    std::vector<std::string> names_;
};

Result<void> ImageReader::read_sections() {
    std::size_t count = 0;
    std::size_t shstrndx = 0;
    if (lib_.elf_getshdrnum(elf_.get(), &count) != 0 ||
        lib_.elf_getshdrstrndx(elf_.get(), &shstrndx) != 0) {
        return invalid(std::string("bad section headers: ") + lib_.elf_errmsg(-1));
    }
    const std::size_t entry_size =
        lib_.gelf_getclass(elf_.get()) == ELFCLASS32 ? sizeof(Elf32_Shdr) : sizeof(Elf64_Shdr);
    if (count > 0 && ehdr_.e_shentsize != entry_size) {
        return invalid("unexpected section header size");
    }
    const std::uint64_t table_end =
        ehdr_.e_shoff + static_cast<std::uint64_t>(count) * ehdr_.e_shentsize;
    if (count > 0 &&
        (ehdr_.e_shoff > image_.size() || table_end > image_.size() || table_end < ehdr_.e_shoff)) {
        return invalid("section header table outside the file");
    }
    for (std::size_t i = 1; i < count; ++i) {
        Elf_Scn* scn = lib_.elf_getscn(elf_.get(), i);
        GElf_Shdr shdr;
        if (scn == nullptr || lib_.gelf_getshdr(scn, &shdr) == nullptr) {
            return invalid("bad section header " + std::to_string(i));
        }
        const char* name = lib_.elf_strptr(elf_.get(), shstrndx, shdr.sh_name);
        sections_.push_back(Section{i, shdr});
        names_.emplace_back(name != nullptr ? name : "");
    }
    return {};
}

const ImageReader::Section* ImageReader::find(std::string_view name) const {
    for (std::size_t i = 0; i < sections_.size(); ++i) {
        if (names_[i] == name) {
            return &sections_[i];
        }
    }
    return nullptr;
}

Result<std::span<const std::byte>> ImageReader::bytes(const Section& section) const {
    const GElf_Shdr& h = section.header;
    if (h.sh_type == SHT_NOBITS) {
        return std::span<const std::byte>{};
    }
    if (h.sh_offset > image_.size() || h.sh_size > image_.size() - h.sh_offset) {
        return invalid("section " + names_[&section - sections_.data()] + " outside the file");
    }
    return image_.subspan(h.sh_offset, h.sh_size);
}

Result<std::optional<std::span<const std::byte>>> ImageReader::named_bytes(
    std::string_view name) const {
    const Section* section = find(name);
    if (section == nullptr) {
        return std::optional<std::span<const std::byte>>();
    }
    auto data = bytes(*section);
    if (!data) {
        return data.error();
    }
    return std::optional(*data);
}

Result<void> ImageReader::read_modinfo(ModuleInfo& info) const {
    auto found = named_bytes(".modinfo");
    if (!found) {
        return found.error();
    }
    if (!*found) {
        return invalid("no .modinfo section");
    }
    const auto data = *found;
    const std::byte* p = data->data();
    const std::byte* end = p + data->size();
    while (p < end) {
        const std::string_view entry = bounded_string(p, end);
        const std::size_t offset = static_cast<std::size_t>(p - image_.data());
        p += entry.size() + 1;
        if (entry.empty()) {
            continue;  // alignment padding between entries
        }
        const auto eq = entry.find('=');
        ModinfoEntry e{std::string(entry.substr(0, eq)), eq == std::string_view::npos
                                                             ? std::string()
                                                             : std::string(entry.substr(eq + 1))};
        if (e.key == "vermagic" && !info.force_layout.vermagic_offset) {
            info.force_layout.vermagic_offset = offset;
            info.force_layout.vermagic_length = entry.size();
        }
        info.modinfo.push_back(std::move(e));
    }
    return {};
}

Result<void> ImageReader::read_this_module_name(ModuleInfo& info) const {
    auto found = named_bytes(".gnu.linkonce.this_module");
    if (!found) {
        return found.error();
    }
    if (!*found) {
        return {};
    }
    const auto data = *found;
    // struct module begins { enum module_state state; struct list_head list; char name[]; }:
    // the name sits after an int and two pointers, aligned to a pointer.
    const std::size_t offset = info.identity.bits == 64 ? 24 : 12;
    constexpr std::size_t kNameField = 56;
    if (data->size() <= offset) {
        return {};
    }
    const auto field = data->subspan(offset, std::min(kNameField, data->size() - offset));
    info.name = std::string(bounded_string(field.data(), field.data() + field.size()));
    return {};
}

Result<void> ImageReader::read_versions_layout(ModuleInfo& info) const {
    auto found = named_bytes("__versions");
    if (!found) {
        return found.error();
    }
    if (!*found) {
        return {};
    }
    if ((*found)->size() % kModversionEntrySize != 0) {
        return invalid("__versions is not a whole number of entries");
    }
    info.force_layout.versions_flags_offset =
        ehdr_.e_shoff + find("__versions")->index * ehdr_.e_shentsize + 8;  // after two words
    return {};
}

Result<void> ImageReader::read_versions(ModuleInfo& info) const {
    auto found = named_bytes("__versions");
    if (!found) {
        return found.error();
    }
    if (!*found) {
        return {};
    }
    const auto data = *found;
    const std::size_t crc_width = info.identity.bits == 64 ? 8 : 4;
    for (std::size_t at = 0; at < data->size(); at += kModversionEntrySize) {
        const std::byte* entry = data->data() + at;
        info.versions.push_back(SymbolVersion{
            std::string(bounded_string(entry + crc_width, entry + kModversionEntrySize)),
            read_uint(entry, crc_width, info.identity.big_endian)});
    }
    return {};
}

Result<void> ImageReader::read_exports(ModuleInfo& info) const {
    // The names of EXPORT_SYMBOL()s, one after another, NUL-separated.
    auto found = named_bytes("__ksymtab_strings");
    if (!found) {
        return found.error();
    }
    if (!*found) {
        return {};
    }
    const auto data = *found;
    const std::byte* p = data->data();
    const std::byte* end = p + data->size();
    while (p < end) {
        const std::string_view name = bounded_string(p, end);
        p += name.size() + 1;
        if (!name.empty()) {
            info.exported_symbols.emplace_back(name);
        }
    }
    return {};
}

Result<void> ImageReader::read_symbols(ModuleInfo& info) const {
    for (const Section& section : sections_) {
        if (section.header.sh_type != SHT_SYMTAB) {
            continue;
        }
        if (auto b = bytes(section); !b) {
            return b.error();
        }
        const std::size_t link = section.header.sh_link;
        if (link == 0 || link > sections_.size()) {
            return invalid("symbol table without a string table");
        }
        if (auto b = bytes(sections_[link - 1]); !b) {
            return b.error();
        }
        Elf_Data* data = lib_.elf_getdata(lib_.elf_getscn(elf_.get(), section.index), nullptr);
        const std::size_t symbol_size = lib_.gelf_fsize(elf_.get(), ELF_T_SYM, 1, EV_CURRENT);
        if (data == nullptr || symbol_size == 0) {
            return invalid("unreadable symbol table");
        }
        // Counted in the class's Elf_Sym, as the kernel's simplify_symbols() does: sh_entsize is
        // not trusted. Dividing by it refused 0, and a larger one silently skipped symbols.
        const std::size_t count = section.header.sh_size / symbol_size;
        for (std::size_t i = 1; i < count; ++i) {
            GElf_Sym sym;
            if (lib_.gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) {
                return invalid("bad symbol " + std::to_string(i));
            }
            if (sym.st_shndx != SHN_UNDEF || sym.st_name == 0) {
                continue;
            }
            const char* name = lib_.elf_strptr(elf_.get(), link, sym.st_name);
            if (name == nullptr) {
                return invalid("symbol name outside its string table");
            }
            info.undefined_symbols.emplace_back(name);
        }
    }
    return {};
}

Result<ModuleInfo> ImageReader::read(ModuleParts parts) {
    if (lib_.gelf_getehdr(elf_.get(), &ehdr_) == nullptr) {
        return invalid(std::string("bad ELF header: ") + lib_.elf_errmsg(-1));
    }
    ModuleInfo info;
    info.identity.bits = lib_.gelf_getclass(elf_.get()) == ELFCLASS32 ? 32 : 64;
    info.identity.big_endian = ehdr_.e_ident[EI_DATA] == ELFDATA2MSB;
    info.identity.machine = ehdr_.e_machine;
    if (ehdr_.e_type != ET_REL) {
        return invalid("not a relocatable object (modules are ET_REL)");
    }
    if (auto r = read_sections(); !r) {
        return r.error();
    }
    for (auto step : {&ImageReader::read_modinfo, &ImageReader::read_this_module_name,
                      &ImageReader::read_versions_layout}) {
        if (auto r = (this->*step)(info); !r) {
            return r.error();
        }
    }
    // The symbol walks cost the most and loading needs none of them: only when asked for.
    if (parts == ModuleParts::all) {
        for (auto step : {&ImageReader::read_versions, &ImageReader::read_exports,
                          &ImageReader::read_symbols}) {
            if (auto r = (this->*step)(info); !r) {
                return r.error();
            }
        }
        info.symbols_read = true;
    }
    if (auto name = info.modinfo_value("name"); name && !name->empty()) {
        info.name = std::string(*name);
    }
    if (info.name.empty()) {
        return invalid("no module name in .modinfo or .gnu.linkonce.this_module");
    }
    return info;
}

}  // namespace

std::optional<std::string_view> ModuleInfo::modinfo_value(std::string_view key) const {
    for (const ModinfoEntry& e : modinfo) {
        if (e.key == key) {
            return e.value;
        }
    }
    return std::nullopt;
}

std::vector<std::string_view> ModuleInfo::modinfo_values(std::string_view key) const {
    std::vector<std::string_view> values;
    for (const ModinfoEntry& e : modinfo) {
        if (e.key == key) {
            values.emplace_back(e.value);
        }
    }
    return values;
}

std::vector<std::string> ModuleInfo::depends() const {
    std::vector<std::string> names;
    std::string_view rest = modinfo_value("depends").value_or("");
    while (!rest.empty()) {
        const auto comma = rest.find(',');
        const std::string_view name = rest.substr(0, comma);
        if (!name.empty()) {
            names.emplace_back(name);
        }
        if (comma == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(comma + 1);
    }
    return names;
}

Result<ModuleInfo> parse_module_image(std::span<const std::byte> image, ModuleParts parts) {
    if (image.empty()) {
        return invalid("empty file");
    }
    if (image.size() < EI_NIDENT || std::memcmp(image.data(), ELFMAG, SELFMAG) != 0) {
        return invalid("not an ELF file");
    }
    bool signed_module = false;
    auto length = elf_length(image, signed_module);
    if (!length) {
        return length.error();
    }
    image = image.first(*length);
    const Result<const detail::Libelf*> loaded = detail::libelf();
    if (!loaded) {
        return loaded.error();
    }
    const detail::Libelf& lib = **loaded;
    // libelf may convert a foreign byte order in place in a private mapping, so it reads a copy
    // of such an image; the caller's bytes are what the kernel gets and must stay as they are.
    std::vector<std::byte> swapped;
    const bool host_big = std::endian::native == std::endian::big;
    const bool file_big =
        image.size() > EI_DATA && static_cast<unsigned char>(image[EI_DATA]) == ELFDATA2MSB;
    std::span<const std::byte> view = image;
    if (file_big != host_big) {
        swapped.assign(image.begin(), image.end());
        view = swapped;
    }
    // elf_memory takes a non-const pointer; with ELF_C_READ_MMAP_PRIVATE semantics it writes only
    // for byte-order conversion, which the copy above absorbs.
    std::unique_ptr<Elf, ElfCloser> elf(
        lib.elf_memory(reinterpret_cast<char*>(const_cast<std::byte*>(view.data())), view.size()),
        ElfCloser{lib.elf_end});
    if (!elf || lib.elf_kind(elf.get()) != ELF_K_ELF) {
        return invalid("not an ELF file");
    }
    auto info = ImageReader(lib, view, std::move(elf)).read(parts);
    if (info) {
        info->signature_appended = signed_module;
    }
    return info;
}

}  // namespace modload
