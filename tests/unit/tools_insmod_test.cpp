#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <modload/kernel.hpp>
#include <modload/module_info.hpp>
#include <modload/unique_fd.hpp>

#include "fixtures.hpp"

using modload::kInitCompressedFile;
using modload::kInitIgnoreModversions;
using modload::kInitIgnoreVermagic;
using modload::UniqueFd;
using modload::testing::copy_fixture_root;
using modload::testing::FakeKernel;
using modload::testing::fixture_module;
using modload::testing::fixture_root;
using modload::testing::read_bytes;
using modload::testing::run_tool;
using modload::testing::ScratchDir;
using modload::testing::ToolRun;
using modload::testing::write_bytes;
using modload::testing::write_text;

namespace {

using Bytes = std::vector<std::byte>;

// A copy of the fixture root `name` in which fixture_plain's dependencies (depends=
// fixture_provider,crc-itu-t) are loaded: insmod then has nothing to add about them, and its
// messages can be checked whole. Made once per root, removed at exit.
std::filesystem::path ready_root(const std::string& name) {
    static const ScratchDir dir;
    static std::map<std::string, std::filesystem::path> made;
    if (const auto it = made.find(name); it != made.end()) {
        return it->second;
    }
    const std::filesystem::path root = copy_fixture_root(name, dir);
    std::ofstream(root / "proc/modules", std::ios::app)
        << "fixture_provider 16384 0 - Live 0xffffffffc1000000\n"
        << "crc_itu_t 16384 0 - Live 0xffffffffc1100000\n";
    return made[name] = root;
}

ToolRun insmod(FakeKernel& kernel, const std::vector<std::string>& args,
               const std::string& root = "basic") {
    return run_tool("insmod", kernel, ready_root(root), args);
}

ToolRun insmod_stdin(FakeKernel& kernel, const std::vector<std::string>& args, int stdin_fd,
                     const std::string& root = "basic") {
    return run_tool("insmod", kernel, ready_root(root), args, "6.1.0-test", stdin_fd);
}

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

// A pipe holding `data`, its write end closed: what a shell gives `cat m.ko | insmod -`.
UniqueFd pipe_holding(const Bytes& data) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    UniqueFd read_end(fds[0]);
    UniqueFd write_end(fds[1]);
    REQUIRE(data.size() <= static_cast<std::size_t>(::fcntl(write_end.get(), F_GETPIPE_SZ)));
    REQUIRE(::write(write_end.get(), data.data(), data.size()) ==
            static_cast<ssize_t>(data.size()));
    return read_end;
}

// insmod's one line for a module the kernel refused, or that is no module.
std::string insert_error(const std::string& file, const std::string& text) {
    return "insmod: ERROR: could not insert module " + file + ": " + text + "\n";
}

}  // namespace

TEST_CASE("insmod loads a plain module with finit_module and its parameters", "[insmod]") {
    FakeKernel kernel;
    const auto run = run_tool("insmod", kernel, fixture_root("basic"),
                              {fixture_module("fixture_plain.ko"), "count=3", "tag=two words"});
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].syscall == "finit_module");
    CHECK(kernel.calls()[0].parameters == "count=3 tag=\"two words\"");
    CHECK(kernel.calls()[0].flags == 0);
}

TEST_CASE("insmod succeeds silently: exit 0, nothing printed", "[insmod]") {
    FakeKernel kernel;
    const auto run = insmod(kernel, {fixture_module("fixture_plain.ko")});
    CHECK(run.status == 0);
    CHECK(run.out.empty());
    CHECK(run.err.empty());
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].parameters.empty());
    CHECK(kernel.calls()[0].fd_was_open);
}

TEST_CASE("insmod words the kernel's refusals as kmod's mod_strerror does", "[insmod]") {
    const std::string file = fixture_module("fixture_plain.ko");
    for (const auto& [code, text] :
         {std::pair{ENOEXEC, "Invalid module format"},
          std::pair{ENOENT, "Unknown symbol in module"},
          std::pair{ESRCH, "Module has wrong symbol version"},
          std::pair{EINVAL, "Invalid parameters"}, std::pair{EEXIST, "File exists"},
          // Anything else is strerror's.
          std::pair{EPERM, "Operation not permitted"}, std::pair{EBUSY, "Device or resource busy"},
          std::pair{ENOKEY, "Required key not available"},
          std::pair{ENOMEM, "Cannot allocate memory"}}) {
        INFO(text);
        FakeKernel kernel;
        kernel.fail_next("finit_module", code);
        const auto run = insmod(kernel, {file});
        CHECK(run.status == 1);
        CHECK(run.out.empty());
        CHECK(run.err == insert_error(file, text));
        CHECK(kernel.calls().size() == 1);
    }
}

TEST_CASE("insmod's refusal line is kmod's even when it has more to say", "[insmod]") {
    // In the unmodified basic root fixture_provider is not loaded; whatever insmod adds about
    // that, its first line is kmod's.
    const std::string file = fixture_module("fixture_plain.ko");
    FakeKernel kernel;
    kernel.fail_next("finit_module", ENOENT);
    const auto run = run_tool("insmod", kernel, fixture_root("basic"), {file});
    CHECK(run.status == 1);
    CHECK(run.err.rfind(insert_error(file, "Unknown symbol in module"), 0) == 0);
}

TEST_CASE("insmod words init_module's refusals the same way", "[insmod]") {
    const std::string file = fixture_module("fixture_plain.ko.zst");
    FakeKernel kernel;
    kernel.fail_next("init_module", ESRCH);
    const auto run = insmod(kernel, {file});
    CHECK(run.status == 1);
    CHECK(run.err == insert_error(file, "Module has wrong symbol version"));
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].syscall == "init_module");
}

TEST_CASE("insmod on a missing file cannot load it", "[insmod]") {
    FakeKernel kernel;
    const auto run = insmod(kernel, {"/nonexistent/module.ko"});
    CHECK(run.status == 1);
    CHECK(run.out.empty());
    CHECK(run.err ==
          "insmod: ERROR: could not load module /nonexistent/module.ko: No such file or "
          "directory\n");
    CHECK(kernel.calls().empty());
}

TEST_CASE("insmod on a folder or a device cannot load it", "[insmod]") {
    FakeKernel kernel;
    ScratchDir dir;
    const auto folder = insmod(kernel, {dir.path().string()});
    CHECK(folder.status == 1);
    CHECK(folder.err ==
          "insmod: ERROR: could not load module " + dir.path().string() + ": Is a directory\n");
    const auto device = insmod(kernel, {"/dev/zero"});
    CHECK(device.status == 1);
    CHECK(device.err ==
          "insmod: ERROR: could not load module /dev/zero: Invalid argument (not a regular "
          "file)\n");
    CHECK(kernel.calls().empty());
}

TEST_CASE("insmod refuses a file that is no module, and never asks the kernel", "[insmod]") {
    ScratchDir dir;
    const Bytes plain = read_bytes(fixture_module("fixture_plain.ko"));
    FakeKernel kernel;
    SECTION("empty") {
        const std::string file = (dir / "empty.ko").string();
        write_bytes(file, {});
        const auto run = insmod(kernel, {file});
        CHECK(run.status == 1);
        CHECK(run.err == insert_error(file, "Invalid module format (empty file)"));
    }
    SECTION("text") {
        const std::string file = (dir / "text.ko").string();
        write_text(file, "obj-m += text.o\n");
        const auto run = insmod(kernel, {file});
        CHECK(run.status == 1);
        CHECK(run.err == insert_error(file, "Invalid module format (not an ELF file)"));
    }
    SECTION("truncated") {
        const std::string file = (dir / "truncated.ko").string();
        write_bytes(file, Bytes(plain.begin(), plain.begin() + 1000));
        const auto run = insmod(kernel, {file});
        CHECK(run.status == 1);
        const std::string prefix =
            "insmod: ERROR: could not insert module " + file + ": Invalid module format (";
        CHECK(run.err.rfind(prefix, 0) == 0);
        CHECK(run.err.size() > prefix.size() + 2);  // a detail says what is wrong
        CHECK(run.err.substr(run.err.size() - 2) == ")\n");
        CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
    }
    SECTION("corrupt zstd") {
        const std::string file = (dir / "corrupt.ko.zst").string();
        Bytes packed = read_bytes(fixture_module("fixture_plain.ko.zst"));
        packed[packed.size() / 2] ^= std::byte{0xff};
        write_bytes(file, packed);
        const auto run = insmod(kernel, {file});
        CHECK(run.status == 1);
        const std::string prefix = "insmod: ERROR: could not insert module " + file +
                                   ": Invalid module format (corrupt zstd data: ";
        CHECK(run.err.rfind(prefix, 0) == 0);
        CHECK(run.err.substr(run.err.size() - 2) == ")\n");
    }
    SECTION("no .modinfo") {
        const std::string file = fixture_module("fixture_nomodinfo.ko");
        const auto run = insmod(kernel, {file});
        CHECK(run.status == 1);
        CHECK(run.err == insert_error(file, "Invalid module format (no .modinfo section)"));
    }
    SECTION("no .modinfo, forced") {
        const std::string file = fixture_module("fixture_nomodinfo.ko");
        const auto run = insmod(kernel, {"-f", file});
        CHECK(run.status == 1);
        CHECK(run.err == insert_error(file, "Invalid module format (no .modinfo section)"));
    }
    CHECK(kernel.calls().empty());
}

TEST_CASE("insmod without a file name says so and exits 1", "[insmod]") {
    FakeKernel kernel;
    for (const auto& args : {std::vector<std::string>{}, std::vector<std::string>{"-f"},
                             std::vector<std::string>{"-v"}}) {
        const auto run = insmod(kernel, args);
        CHECK(run.status == 1);
        CHECK(run.out.empty());
        CHECK(run.err == "insmod: ERROR: missing filename.\n");
    }
    CHECK(kernel.calls().empty());
}

TEST_CASE("insmod with an unknown option exits 1 with an error", "[insmod]") {
    FakeKernel kernel;
    for (const char* option : {"--bogus", "-x"}) {
        INFO(option);
        const auto run = insmod(kernel, {option, fixture_module("fixture_plain.ko")});
        CHECK(run.status == 1);
        CHECK(run.out.empty());
        CHECK(run.err.rfind("insmod: ERROR: ", 0) == 0);
        CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
    }
    CHECK(kernel.calls().empty());
}

TEST_CASE("insmod -h prints its usage and exits 0", "[insmod]") {
    FakeKernel kernel;
    for (const char* option : {"-h", "--help"}) {
        INFO(option);
        const auto run = insmod(kernel, {option});
        CHECK(run.status == 0);
        CHECK(run.err.empty());
        CHECK(run.out.find("--force") != std::string::npos);
        CHECK(run.out.find("--syslog") != std::string::npos);
    }
    CHECK(kernel.calls().empty());
}

TEST_CASE("insmod -V prints the version and loads nothing", "[insmod]") {
    FakeKernel kernel;
    for (const char* option : {"-V", "--version"}) {
        INFO(option);
        const auto run = insmod(kernel, {option, fixture_module("fixture_plain.ko")});
        CHECK(run.status == 0);
        CHECK(run.err.empty());
        CHECK(run.out.rfind("modload version ", 0) == 0);
        CHECK(run.out.find("+ZSTD +XZ +ZLIB") != std::string::npos);
    }
    CHECK(kernel.calls().empty());
}

TEST_CASE("insmod -f ignores both symbol versions and the version magic", "[insmod]") {
    for (const auto& [option, flags] :
         {std::pair{"-f", kInitIgnoreModversions | kInitIgnoreVermagic},
          std::pair{"--force", kInitIgnoreModversions | kInitIgnoreVermagic},
          std::pair{"--force-modversion", kInitIgnoreModversions},
          std::pair{"--force-vermagic", kInitIgnoreVermagic}}) {
        INFO(option);
        FakeKernel kernel;
        const auto run = insmod(kernel, {option, fixture_module("fixture_plain.ko")});
        CHECK(run.status == 0);
        CHECK(run.err.empty());
        REQUIRE(kernel.calls().size() == 1);
        CHECK(kernel.calls()[0].syscall == "finit_module");
        CHECK(kernel.calls()[0].flags == flags);
    }
    FakeKernel kernel;
    const auto both = insmod(
        kernel, {"--force-modversion", "--force-vermagic", fixture_module("fixture_plain.ko")});
    CHECK(both.status == 0);
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].flags == (kInitIgnoreModversions | kInitIgnoreVermagic));
}

TEST_CASE("insmod -f on the init_module path sends a stripped image", "[insmod]") {
    FakeKernel kernel;
    const auto run = insmod(kernel, {"-f", fixture_module("fixture_plain.ko.zst")}, "xz_kernel");
    CHECK(run.status == 0);
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].syscall == "init_module");
    CHECK(kernel.calls()[0].flags == 0);  // init_module has no flags
    auto sent = modload::parse_module_image(kernel.calls()[0].image);
    REQUIRE(sent);
    CHECK_FALSE(sent->modinfo_value("vermagic").has_value());
}

TEST_CASE("insmod - reads the module from standard input", "[insmod]") {
    const Bytes plain = read_bytes(fixture_module("fixture_plain.ko"));
    FakeKernel kernel;
    SECTION("a pipe goes to init_module") {
        UniqueFd in = pipe_holding(plain);
        const auto run = insmod_stdin(kernel, {"-", "count=2"}, in.get());
        CHECK(run.status == 0);
        CHECK(run.err.empty());
        REQUIRE(kernel.calls().size() == 1);
        CHECK(kernel.calls()[0].syscall == "init_module");
        CHECK(kernel.calls()[0].parameters == "count=2");
        CHECK(same_bytes(kernel.calls()[0].image, plain));
        // insmod reads a copy of the descriptor: the caller's standard input stays open.
        CHECK(::fcntl(in.get(), F_GETFD) != -1);
    }
    SECTION("a compressed pipe is decompressed here") {
        UniqueFd in = pipe_holding(read_bytes(fixture_module("fixture_plain.ko.xz")));
        const auto run = insmod_stdin(kernel, {"-"}, in.get(), "xz_kernel");
        CHECK(run.status == 0);
        REQUIRE(kernel.calls().size() == 1);
        CHECK(kernel.calls()[0].syscall == "init_module");
        CHECK(same_bytes(kernel.calls()[0].image, plain));
    }
    SECTION("a redirected file goes to finit_module") {
        UniqueFd in(::open(fixture_module("fixture_plain.ko").c_str(), O_RDONLY | O_CLOEXEC));
        REQUIRE(in.valid());
        const auto run = insmod_stdin(kernel, {"-"}, in.get());
        CHECK(run.status == 0);
        REQUIRE(kernel.calls().size() == 1);
        CHECK(kernel.calls()[0].syscall == "finit_module");
        CHECK(kernel.calls()[0].fd_was_open);
        CHECK(::fcntl(in.get(), F_GETFD) != -1);
    }
    SECTION("an empty pipe is no module") {
        UniqueFd in = pipe_holding({});
        const auto run = insmod_stdin(kernel, {"-"}, in.get());
        CHECK(run.status == 1);
        CHECK(run.err == insert_error("-", "Invalid module format (empty file)"));
        CHECK(kernel.calls().empty());
    }
    SECTION("a closed standard input") {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        ::close(fds[0]);
        ::close(fds[1]);
        const auto run = insmod_stdin(kernel, {"-"}, fds[0]);
        CHECK(run.status == 1);
        CHECK(run.err.rfind("insmod: ERROR: could not load module -: Bad file descriptor", 0) == 0);
        CHECK(kernel.calls().empty());
    }
}

TEST_CASE("insmod passes parameters as the kernel will parse them", "[insmod]") {
    FakeKernel kernel;
    const auto run = insmod(kernel, {fixture_module("fixture_plain.ko"), "tag=a\tb", "flag",
                                     "quoted=\"kept as is\"", "empty="});
    CHECK(run.status == 0);
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].parameters == "tag=\"a\tb\" flag quoted=\"kept as is\" empty=");
}

TEST_CASE("insmod -v says how the module went in", "[insmod]") {
    SECTION("finit_module") {
        FakeKernel kernel;
        const auto run = insmod(kernel, {"-v", fixture_module("fixture_plain.ko")});
        CHECK(run.status == 0);
        CHECK(run.out.empty());
        CHECK(run.err == "insmod: INFO: inserted fixture_plain via finit_module\n");
    }
    SECTION("decompressed by the kernel") {
        FakeKernel kernel;
        const auto run =
            insmod(kernel, {"--verbose", fixture_module("fixture_plain.ko.xz")}, "xz_kernel");
        CHECK(run.status == 0);
        CHECK(run.err ==
              "insmod: INFO: inserted fixture_plain via finit_module, decompressed by the "
              "kernel\n");
    }
    SECTION("decompressed here") {
        FakeKernel kernel;
        const auto run = insmod(kernel, {"-v", fixture_module("fixture_plain.ko.gz")});
        CHECK(run.status == 0);
        CHECK(run.err ==
              "insmod: INFO: inserted fixture_plain via init_module, decompressed here: the "
              "kernel decompresses no module itself\n");
    }
    SECTION("a failure says only the error") {
        FakeKernel kernel;
        kernel.fail_next("finit_module", EEXIST);
        const std::string file = fixture_module("fixture_plain.ko");
        const auto run = insmod(kernel, {"-v", file});
        CHECK(run.status == 1);
        CHECK(run.err == insert_error(file, "File exists"));
    }
}

TEST_CASE("insmod -s sends its errors to syslog, not stderr", "[insmod]") {
    FakeKernel kernel;
    kernel.fail_next("finit_module", EEXIST);
    const auto refused = insmod(kernel, {"-s", fixture_module("fixture_plain.ko")});
    CHECK(refused.status == 1);
    CHECK(refused.err.empty());
    CHECK(refused.out.empty());
    const auto missing = insmod(kernel, {"--syslog", "/nonexistent/module.ko"});
    CHECK(missing.status == 1);
    CHECK(missing.err.empty());
    const auto ok = insmod(kernel, {"-s", fixture_module("fixture_plain.ko")});
    CHECK(ok.status == 0);
    CHECK(ok.err.empty());
    CHECK(kernel.calls().size() == 2);
}

TEST_CASE("insmod lets a kernel that decompresses xz read an xz module itself", "[insmod]") {
    FakeKernel kernel;
    const auto run = insmod(kernel, {fixture_module("fixture_plain.ko.xz")}, "xz_kernel");
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].syscall == "finit_module");
    CHECK(kernel.calls()[0].flags == kInitCompressedFile);
    CHECK(kernel.calls()[0].fd_was_open);
}

TEST_CASE("insmod decompresses a zstd module itself for a kernel that only knows xz", "[insmod]") {
    FakeKernel kernel;
    const auto run =
        insmod(kernel, {fixture_module("fixture_plain.ko.zst"), "count=1"}, "xz_kernel");
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].syscall == "init_module");
    CHECK(kernel.calls()[0].parameters == "count=1");
    CHECK(same_bytes(kernel.calls()[0].image, read_bytes(fixture_module("fixture_plain.ko"))));
}

TEST_CASE("insmod decompresses an xz module itself when the kernel does not", "[insmod]") {
    FakeKernel kernel;
    const auto run = insmod(kernel, {fixture_module("fixture_plain.ko.xz")}, "basic");
    CHECK(run.status == 0);
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].syscall == "init_module");
    CHECK(same_bytes(kernel.calls()[0].image, read_bytes(fixture_module("fixture_plain.ko"))));
}

TEST_CASE("insmod accepts and ignores -p, as kmod does", "[insmod]") {
    FakeKernel kernel;
    const auto run = insmod(kernel, {"-p", fixture_module("fixture_plain.ko")});
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    REQUIRE(kernel.calls().size() == 1);
    CHECK(kernel.calls()[0].flags == 0);
}
