// elfutils' libelf, bound on first use (internal): the one table of its functions the module
// reader calls, opened with dlopen (see shared_library.hpp), or linked in the static build.
#pragma once

#include <gelf.h>
#include <libelf.h>

#include <modload/result.hpp>

namespace modload::detail {

// libelf's functions, bound on the first module read: lsmod and rmmod never load libelf.
struct Libelf {
    decltype(&::elf_end) elf_end;
    decltype(&::elf_errmsg) elf_errmsg;
    decltype(&::elf_getdata) elf_getdata;
    decltype(&::elf_getscn) elf_getscn;
    decltype(&::elf_getshdrnum) elf_getshdrnum;
    decltype(&::elf_getshdrstrndx) elf_getshdrstrndx;
    decltype(&::elf_kind) elf_kind;
    decltype(&::elf_memory) elf_memory;
    decltype(&::elf_strptr) elf_strptr;
    decltype(&::elf_version) elf_version;
    decltype(&::gelf_fsize) gelf_fsize;
    decltype(&::gelf_getclass) gelf_getclass;
    decltype(&::gelf_getehdr) gelf_getehdr;
    decltype(&::gelf_getshdr) gelf_getshdr;
    decltype(&::gelf_getsym) gelf_getsym;
};

/// libelf, opened and initialised once (elf_version).
Result<const Libelf*> libelf();

}  // namespace modload::detail
