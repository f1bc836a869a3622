#include <cerrno>

#include <fcntl.h>

#include <catch2/catch.hpp>

#include <modload/module_file.hpp>

#include "fixtures.hpp"

using namespace modload;
using modload::testing::fixture_module;

TEST_CASE("a module file is read once through one close-on-exec descriptor", "[module_file]") {
    auto file = ModuleFile::open(fixture_module("fixture_plain.ko.xz"));
    REQUIRE(file);
    CHECK(file->is_regular_file());
    CHECK(file->compression() == Compression::xz);
    CHECK((::fcntl(file->fd(), F_GETFD) & FD_CLOEXEC) != 0);
    auto info = file->info();
    REQUIRE(info);
    CHECK((*info)->name == "fixture_plain");
}

TEST_CASE("a missing module file gives ENOENT", "[module_file]") {
    auto file = ModuleFile::open("/nonexistent/module.ko");
    REQUIRE_FALSE(file);
    CHECK(file.error().code == ENOENT);
}
