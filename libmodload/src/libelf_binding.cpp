// Binding libelf: dlopen on the first module read, or the linked functions in the static build.
#include "libelf_binding.hpp"

#include "shared_library.hpp"

namespace modload::detail {

Result<const Libelf*> libelf() {
#ifndef MODLOAD_STATIC_LIBRARIES
    static const Result<Libelf> once = bind_library<Libelf>(
        "libelf.so.1", "reading a module's ELF", [](SharedLibrary& lib, Libelf& f) {
            if (!(lib.bind(f.elf_end, "elf_end") && lib.bind(f.elf_errmsg, "elf_errmsg") &&
                  lib.bind(f.elf_getdata, "elf_getdata") && lib.bind(f.elf_getscn, "elf_getscn") &&
                  lib.bind(f.elf_getshdrnum, "elf_getshdrnum") &&
                  lib.bind(f.elf_getshdrstrndx, "elf_getshdrstrndx") &&
                  lib.bind(f.elf_kind, "elf_kind") && lib.bind(f.elf_memory, "elf_memory") &&
                  lib.bind(f.elf_strptr, "elf_strptr") && lib.bind(f.elf_version, "elf_version") &&
                  lib.bind(f.gelf_fsize, "gelf_fsize") &&
                  lib.bind(f.gelf_getclass, "gelf_getclass") &&
                  lib.bind(f.gelf_getehdr, "gelf_getehdr") &&
                  lib.bind(f.gelf_getshdr, "gelf_getshdr") &&
                  lib.bind(f.gelf_getsym, "gelf_getsym"))) {
                return false;
            }
            (void)f.elf_version(EV_CURRENT);
            return true;
        });
    return bound_table(once);
#else
    static const Libelf linked = [] {
        (void)::elf_version(EV_CURRENT);
        return Libelf{&::elf_end,        &::elf_errmsg,        &::elf_getdata, &::elf_getscn,
                      &::elf_getshdrnum, &::elf_getshdrstrndx, &::elf_kind,    &::elf_memory,
                      &::elf_strptr,     &::elf_version,       &::gelf_fsize,  &::gelf_getclass,
                      &::gelf_getehdr,   &::gelf_getshdr,      &::gelf_getsym};
    }();
    return &linked;
#endif
}

}  // namespace modload::detail
