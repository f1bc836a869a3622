// Libraries that only some calls need, opened on first use: lsmod and rmmod never decompress or
// read ELF, so they should not pay for loading libzstd, liblzma, zlib, libelf and libbpf at every
// start, as kmod 34 does not for its decompression libraries. The library opens them with
// dlopen; the static modload (-Dstatic=true compiles it with MODLOAD_STATIC_LIBRARIES) links them
// in and binds the same tables to the linked functions, so the code reads the same either way.
#pragma once

#include <string>

#include <modload/result.hpp>

namespace modload::detail {

/// A library opened with dlopen and never closed: the functions bound from it stay valid for the
/// life of the process.
class SharedLibrary {
  public:
    /// dlopen(soname). `purpose` says what needs it, for the error ("zstd decompression"). A
    /// library that is not installed is ELIBACC, with dlerror's words.
    static Result<SharedLibrary> open(const char* soname, const char* purpose);

    /// Sets `function` to the library's symbol `name`; false when the library lacks it (an older
    /// version), which missing() then reports.
    template <class F>
    bool bind(F*& function, const char* name) {
        void* address = lookup(name);
        // POSIX guarantees that dlsym's result converts to a function pointer.
        function = reinterpret_cast<F*>(address);
        if (address == nullptr) {
            missing_ = name;
        }
        return address != nullptr;
    }

    /// ELIBACC naming the library and the first symbol bind() did not find.
    Error missing() const;

  private:
    SharedLibrary(void* handle, const char* soname, const char* purpose)
        : handle_(handle), soname_(soname), purpose_(purpose) {}
    void* lookup(const char* name) const;

    void* handle_;
    const char* soname_;
    const char* purpose_;
    const char* missing_ = "";
};

/// Opens `soname` and fills a `Table` of its functions with `bind_all(library, table)`, which
/// returns false when a bind() failed: the library's functions, or why they cannot be had.
template <class Table, class BindAll>
Result<Table> bind_library(const char* soname, const char* purpose, BindAll bind_all) {
    Result<SharedLibrary> library = SharedLibrary::open(soname, purpose);
    if (!library) {
        return library.error();
    }
    Table table{};
    if (!bind_all(*library, table)) {
        return library->missing();
    }
    return table;
}

/// The table that a function-local static bind_library() result holds, or its error: a library
/// is opened once, and a failure (not installed) is kept and reported on later calls too.
template <class Table>
Result<const Table*> bound_table(const Result<Table>& once) {
    if (!once) {
        return once.error();
    }
    return &*once;
}

}  // namespace modload::detail
