// Libraries opened on first use (libmodload/src/shared_library.hpp): one that is not installed, or
// that lacks a function, is an error naming it and what needed it, never a crash later.
#include <catch2/catch.hpp>

#include <cerrno>
#include <string>

#include "shared_library.hpp"

using modload::detail::bind_library;
using modload::detail::bound_table;
using modload::detail::SharedLibrary;

namespace {

struct Zlib {
    unsigned long (*zlib_compile_flags)() = nullptr;
    int (*no_such_function)() = nullptr;
};

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a library that is not installed is ELIBACC, naming it and what needed it",
          "[libraries]") {
    const auto lib = SharedLibrary::open("libmodload-test-absent.so.9", "a test's decompression");
    REQUIRE_FALSE(lib);
    CHECK(lib.error().code == ELIBACC);
    CHECK(contains(lib.error().detail, "a test's decompression needs libmodload-test-absent.so.9"));
}

TEST_CASE("a library is opened and its functions bound; one it lacks is named", "[libraries]") {
    auto lib = SharedLibrary::open("libz.so.1", "gzip decompression");
    REQUIRE(lib);
    Zlib table;
    REQUIRE(lib->bind(table.zlib_compile_flags, "zlibCompileFlags"));
    CHECK(table.zlib_compile_flags() != 0);
    CHECK_FALSE(lib->bind(table.no_such_function, "modload_no_such_function"));
    CHECK(table.no_such_function == nullptr);
    const modload::Error missing = lib->missing();
    CHECK(missing.code == ELIBACC);
    CHECK(contains(missing.detail,
                   "gzip decompression needs modload_no_such_function from "
                   "libz.so.1, which the installed one lacks"));
}

TEST_CASE("bind_library gives the whole table or the first reason it cannot", "[libraries]") {
    const auto complete = bind_library<Zlib>("libz.so.1", "gzip", [](SharedLibrary& l, Zlib& t) {
        return l.bind(t.zlib_compile_flags, "zlibCompileFlags");
    });
    const auto table = bound_table(complete);
    REQUIRE(table);
    CHECK((*table)->zlib_compile_flags != nullptr);

    const auto lacking = bind_library<Zlib>("libz.so.1", "gzip", [](SharedLibrary& l, Zlib& t) {
        return l.bind(t.zlib_compile_flags, "zlibCompileFlags") &&
               l.bind(t.no_such_function, "modload_no_such_function");
    });
    REQUIRE_FALSE(bound_table(lacking));
    CHECK(contains(bound_table(lacking).error().detail, "modload_no_such_function"));

    const auto absent = bind_library<Zlib>("libmodload-test-absent.so.9", "gzip",
                                           [](SharedLibrary&, Zlib&) { return true; });
    REQUIRE_FALSE(bound_table(absent));
    CHECK(bound_table(absent).error().code == ELIBACC);
}
