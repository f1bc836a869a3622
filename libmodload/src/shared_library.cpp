#include "shared_library.hpp"

// The static modload (MODLOAD_STATIC_LIBRARIES) opens nothing: dlopen in a static program needs
// the shared C library it was meant to do without.
#ifndef MODLOAD_STATIC_LIBRARIES

#include <cerrno>
#include <cstdint>

#include <dlfcn.h>

namespace modload::detail {

namespace {

// The libraries opened with dlopen, declared as an ELF note in the format packaging tools read
// (https://systemd.io/ELF_DLOPEN_METADATA/), since ldd cannot see them: Debian's and Fedora's
// dependency generators, and tests/vm/lab, which copies them into the VM.
constexpr char kDlopenMetadata[] =
    R"([{"feature":"elf","description":"insmod: reading module files","priority":"required",)"
    R"("soname":["libelf.so.1"]},)"
    R"({"feature":"zstd","description":"insmod: zstd-compressed modules","priority":"recommended",)"
    R"("soname":["libzstd.so.1"]},)"
    R"({"feature":"xz","description":"insmod: xz-compressed modules","priority":"recommended",)"
    R"("soname":["liblzma.so.5"]},)"
    R"({"feature":"gzip","description":"insmod: gzip-compressed modules",)"
    R"("priority":"recommended","soname":["libz.so.1"]},)"
    R"({"feature":"bpf","description":"lsmod --refs, rmmod: naming the processes that hold a )"
    R"(module","priority":"suggested","soname":["libbpf.so.1"]}])";

struct DlopenNote {
    std::uint32_t name_size;
    std::uint32_t description_size;
    std::uint32_t type;
    char name[4];
    // Padded to a multiple of four, as note descriptors are.
    char description[(sizeof kDlopenMetadata + 3) / 4 * 4];
};

constexpr DlopenNote make_note() {
    DlopenNote note{4, sizeof DlopenNote::description, 0x407c0c0a, {'F', 'D', 'O', '\0'}, {}};
    for (std::size_t i = 0; i < sizeof kDlopenMetadata; ++i) {
        note.description[i] = kDlopenMetadata[i];
    }
    return note;
}

[[gnu::used, gnu::section(".note.dlopen"), gnu::aligned(4)]] constexpr DlopenNote kDlopenNote =
    make_note();

}  // namespace

Result<SharedLibrary> SharedLibrary::open(const char* soname, const char* purpose) {
    // RTLD_NOW: a library too old for a function is found here, not in the middle of a call.
    void* handle = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* why = ::dlerror();
        return make_error(ELIBACC, std::string(purpose) + " needs " + soname + ": " +
                                       (why != nullptr ? why : "dlopen failed"));
    }
    return SharedLibrary(handle, soname, purpose);
}

void* SharedLibrary::lookup(const char* name) const {
    return ::dlsym(handle_, name);
}

Error SharedLibrary::missing() const {
    return make_error(ELIBACC, std::string(purpose_) + " needs " + missing_ + " from " + soname_ +
                                   ", which the installed one lacks");
}

}  // namespace modload::detail

#endif
