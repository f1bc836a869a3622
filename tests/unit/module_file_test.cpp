#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <modload/module_file.hpp>

#include "fixtures.hpp"

using namespace modload;
using modload::testing::fixture_module;
using modload::testing::read_bytes;
using modload::testing::ScratchDir;
using modload::testing::write_bytes;

namespace {

using Bytes = std::vector<std::byte>;

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

// A pipe whose write end a thread fills and closes, as a shell would for `cat m.ko | insmod -`;
// the thread lets the data be larger than the pipe's buffer.
class FilledPipe {
  public:
    explicit FilledPipe(Bytes data) : data_(std::move(data)) {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        read_end_.reset(fds[0]);
        writer_ = std::thread([this, fd = fds[1]] {
            // A reader that stops early must not kill the test run with SIGPIPE: with the signal
            // blocked in this thread, write() fails with EPIPE instead.
            sigset_t pipe_signal;
            sigemptyset(&pipe_signal);
            sigaddset(&pipe_signal, SIGPIPE);
            (void)pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
            std::size_t done = 0;
            while (done < data_.size()) {
                const ssize_t n = ::write(fd, data_.data() + done, data_.size() - done);
                if (n <= 0) {
                    break;  // the reader went away early: nothing more to do
                }
                done += static_cast<std::size_t>(n);
            }
            ::close(fd);
        });
    }
    ~FilledPipe() {
        read_end_.reset();  // if no reader took it, this unblocks the writer
        writer_.join();
    }
    FilledPipe(const FilledPipe&) = delete;
    FilledPipe& operator=(const FilledPipe&) = delete;

    UniqueFd take_read_end() { return std::move(read_end_); }

  private:
    Bytes data_;
    UniqueFd read_end_;
    std::thread writer_;
};

// A pipe holding `data` (which must fit the pipe's buffer), its write end already closed. No
// thread writes into it, so a reader that stops early leaves no writer blocked or signalled.
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

void check_error(const Result<ModuleFile>& r, int code) {
    REQUIRE_FALSE(r);
    CHECK(r.error().code == code);
}

}  // namespace

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

TEST_CASE("a plain module's image is the file's bytes", "[module_file]") {
    const std::string path = fixture_module("fixture_plain.ko");
    const Bytes plain = read_bytes(path);
    auto file = ModuleFile::open(path);
    REQUIRE(file);
    CHECK(file->display_name() == path);
    CHECK(file->is_regular_file());
    CHECK(file->compression() == Compression::none);
    CHECK(same_bytes(file->contents(), plain));
    auto image = file->image();
    REQUIRE(image);
    CHECK(same_bytes(*image, plain));
    // The descriptor stays open for finit_module, read-only.
    CHECK((::fcntl(file->fd(), F_GETFL) & O_ACCMODE) == O_RDONLY);
    struct stat by_fd {};
    struct stat by_path {};
    REQUIRE(::fstat(file->fd(), &by_fd) == 0);
    REQUIRE(::stat(path.c_str(), &by_path) == 0);
    CHECK(by_fd.st_ino == by_path.st_ino);
    CHECK(by_fd.st_dev == by_path.st_dev);
}

TEST_CASE("a compressed module's image is the decompressed ELF", "[module_file]") {
    const Bytes plain = read_bytes(fixture_module("fixture_plain.ko"));
    for (const auto& [name, compression] : {std::pair{"fixture_plain.ko.zst", Compression::zstd},
                                            std::pair{"fixture_plain.ko.xz", Compression::xz},
                                            std::pair{"fixture_plain.ko.gz", Compression::gzip}}) {
        INFO(name);
        auto file = ModuleFile::open(fixture_module(name));
        REQUIRE(file);
        CHECK(file->is_regular_file());
        CHECK(file->compression() == compression);
        CHECK(same_bytes(file->contents(), read_bytes(fixture_module(name))));
        auto image = file->image();
        REQUIRE(image);
        CHECK(same_bytes(*image, plain));
        auto info = file->info();
        REQUIRE(info);
        CHECK((*info)->name == "fixture_plain");
        // Asking again gives the same bytes, from the same decompressed buffer.
        auto again = file->image();
        REQUIRE(again);
        CHECK(again->data() == image->data());
    }
}

TEST_CASE("image_copy is a private copy of the image", "[module_file]") {
    const Bytes plain = read_bytes(fixture_module("fixture_plain.ko"));
    for (const char* name : {"fixture_plain.ko", "fixture_plain.ko.zst"}) {
        INFO(name);
        auto file = ModuleFile::open(fixture_module(name));
        REQUIRE(file);
        auto copy = file->image_copy();
        REQUIRE(copy);
        CHECK(same_bytes(*copy, plain));
        std::fill(copy->begin(), copy->end(), std::byte{0});
        auto image = file->image();
        REQUIRE(image);
        CHECK(same_bytes(*image, plain));
        CHECK(same_bytes(file->contents(), read_bytes(fixture_module(name))));
    }
}

TEST_CASE("a module's info is parsed once and kept", "[module_file]") {
    auto file = ModuleFile::open(fixture_module("fixture_plain.ko"));
    REQUIRE(file);
    auto first = file->info();
    auto second = file->info();
    REQUIRE(first);
    REQUIRE(second);
    CHECK(*first == *second);
    // Kept across a move: the tools hand the file around.
    ModuleFile moved = std::move(*file);
    auto third = moved.info();
    REQUIRE(third);
    CHECK(*third == *first);
    CHECK((*third)->name == "fixture_plain");
}

TEST_CASE("a folder gives EISDIR", "[module_file]") {
    ScratchDir dir;
    check_error(ModuleFile::open(dir.path().string()), EISDIR);
    check_error(ModuleFile::open(modload::testing::fixture_root("basic").string()), EISDIR);
}

TEST_CASE("a character device gives EINVAL rather than reading forever", "[module_file]") {
    for (const char* device : {"/dev/null", "/dev/zero", "/dev/urandom"}) {
        INFO(device);
        struct stat st {};
        REQUIRE(::stat(device, &st) == 0);
        REQUIRE(S_ISCHR(st.st_mode));
        check_error(ModuleFile::open(device), EINVAL);
    }
}

TEST_CASE("a missing file gives ENOENT, a path through a file ENOTDIR", "[module_file]") {
    check_error(ModuleFile::open("/nonexistent/module.ko"), ENOENT);
    ScratchDir dir;
    check_error(ModuleFile::open((dir / "absent.ko").string()), ENOENT);
    check_error(ModuleFile::open(""), ENOENT);
    check_error(ModuleFile::open(fixture_module("fixture_plain.ko") + "/inner.ko"), ENOTDIR);
}

TEST_CASE("a descriptor that cannot be read gives read's errno", "[module_file]") {
    ScratchDir dir;
    write_bytes(dir / "m.ko", read_bytes(fixture_module("fixture_plain.ko")));
    UniqueFd write_only(::open((dir / "m.ko").c_str(), O_WRONLY | O_CLOEXEC));
    REQUIRE(write_only.valid());
    check_error(ModuleFile::adopt(std::move(write_only), "m.ko"), EBADF);
}

TEST_CASE("a file without read permission gives EACCES", "[module_file]") {
    // The tests run as root, and root's CAP_DAC_OVERRIDE reads any file whatever its mode. So
    // the open happens in a child that has given up root for nobody; the child reports the errno
    // it saw as its exit status.
    ScratchDir dir;
    const auto path = dir / "unreadable.ko";
    write_bytes(path, read_bytes(fixture_module("fixture_plain.ko")));
    ::chmod(path.c_str(), 0200);        // owner may write, nobody may read
    ::chmod(dir.path().c_str(), 0755);  // so that the mode refuses, not the folder
    const auto open_as_other_user = [&]() -> int {
        auto file = ModuleFile::open(path.string());
        return file ? 0 : file.error().code;
    };
    if (::geteuid() != 0) {
        CHECK(open_as_other_user() == EACCES);
        return;
    }
    const struct passwd* nobody = ::getpwnam("nobody");
    const uid_t uid = nobody != nullptr ? nobody->pw_uid : 65534;
    const gid_t gid = nobody != nullptr ? nobody->pw_gid : 65534;
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
            ::_exit(255);
        }
        ::_exit(open_as_other_user());
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    INFO("255 means the child could not drop root");
    CHECK(WEXITSTATUS(status) == EACCES);
}

TEST_CASE("a pipe is read to its end and is not a regular file", "[module_file]") {
    const Bytes plain = read_bytes(fixture_module("fixture_plain.ko"));
    SECTION("a module") {
        FilledPipe pipe(plain);
        auto file = ModuleFile::adopt(pipe.take_read_end(), "-");
        REQUIRE(file);
        CHECK(file->display_name() == "-");
        CHECK_FALSE(file->is_regular_file());
        CHECK(file->compression() == Compression::none);
        auto image = file->image();
        REQUIRE(image);
        CHECK(same_bytes(*image, plain));
        auto info = file->info();
        REQUIRE(info);
        CHECK((*info)->name == "fixture_plain");
    }
    SECTION("a compressed module") {
        FilledPipe pipe(read_bytes(fixture_module("fixture_plain.ko.xz")));
        auto file = ModuleFile::adopt(pipe.take_read_end(), "-");
        REQUIRE(file);
        CHECK_FALSE(file->is_regular_file());
        CHECK(file->compression() == Compression::xz);
        auto image = file->image();
        REQUIRE(image);
        CHECK(same_bytes(*image, plain));
    }
    SECTION("many times the pipe's buffer") {
        // 3 MiB and a bit: many reads, none of them at a convenient boundary.
        Bytes data(3 * (std::size_t{1} << 20) + 12345);
        for (std::size_t i = 0; i < data.size(); ++i) {
            data[i] = std::byte(static_cast<unsigned char>(i * 7 + i / 4096));
        }
        FilledPipe pipe(data);
        auto file = ModuleFile::adopt(pipe.take_read_end(), "-");
        REQUIRE(file);
        CHECK(file->contents().size() == data.size());
        CHECK(same_bytes(file->contents(), data));
    }
    SECTION("nothing at all") {
        FilledPipe pipe(Bytes{});
        auto file = ModuleFile::adopt(pipe.take_read_end(), "-");
        REQUIRE(file);
        CHECK(file->contents().empty());
        CHECK(file->compression() == Compression::none);
        auto info = file->info();
        REQUIRE_FALSE(info);
        CHECK(info.error().code == ENOEXEC);
    }
}

TEST_CASE("a file over OpenOptions::max_image_size gives EFBIG", "[module_file]") {
    const std::string path = fixture_module("fixture_plain.ko");
    const std::size_t size = read_bytes(path).size();
    check_error(ModuleFile::open(path, OpenOptions{size - 1}), EFBIG);
    check_error(ModuleFile::open(path, OpenOptions{0}), EFBIG);
    auto exact = ModuleFile::open(path, OpenOptions{size});
    REQUIRE(exact);
    CHECK(exact->contents().size() == size);
}

TEST_CASE("a pipe over OpenOptions::max_image_size gives EFBIG", "[module_file]") {
    const Bytes data(8192, std::byte{'x'});
    check_error(ModuleFile::adopt(pipe_holding(data), "-", OpenOptions{4096}), EFBIG);
    check_error(ModuleFile::adopt(pipe_holding(data), "-", OpenOptions{8191}), EFBIG);
    auto exact = ModuleFile::adopt(pipe_holding(data), "-", OpenOptions{8192});
    REQUIRE(exact);
    CHECK(exact->contents().size() == 8192);
}

TEST_CASE("a compressed file whose image passes max_image_size gives EFBIG", "[module_file]") {
    const std::string path = fixture_module("fixture_plain.ko.zst");
    const std::size_t packed = read_bytes(path).size();
    const std::size_t unpacked = read_bytes(fixture_module("fixture_plain.ko")).size();
    REQUIRE(packed < unpacked);
    // The file itself fits; what it decompresses to does not.
    auto file = ModuleFile::open(path, OpenOptions{packed});
    REQUIRE(file);
    auto image = file->image();
    REQUIRE_FALSE(image);
    CHECK(image.error().code == EFBIG);
    auto info = file->info();
    REQUIRE_FALSE(info);
    CHECK(info.error().code == EFBIG);
    CHECK_FALSE(file->image_copy());

    auto roomy = ModuleFile::open(path, OpenOptions{unpacked});
    REQUIRE(roomy);
    CHECK(roomy->image());
}

TEST_CASE("a corrupt compressed file opens, but its image is refused", "[module_file]") {
    ScratchDir dir;
    Bytes packed = read_bytes(fixture_module("fixture_plain.ko.zst"));
    packed[packed.size() / 2] ^= std::byte{0xff};
    write_bytes(dir / "bad.ko.zst", packed);
    auto file = ModuleFile::open((dir / "bad.ko.zst").string());
    REQUIRE(file);
    CHECK(file->compression() == Compression::zstd);
    auto image = file->image();
    REQUIRE_FALSE(image);
    CHECK(image.error().code == ENOEXEC);
    CHECK(image.error().detail.find("zstd") != std::string::npos);
    auto info = file->info();
    REQUIRE_FALSE(info);
    CHECK(info.error().code == ENOEXEC);
}

TEST_CASE("an empty file opens as uncompressed, and its info is refused", "[module_file]") {
    ScratchDir dir;
    write_bytes(dir / "empty.ko", {});
    auto file = ModuleFile::open((dir / "empty.ko").string());
    REQUIRE(file);
    CHECK(file->is_regular_file());
    CHECK(file->contents().empty());
    CHECK(file->compression() == Compression::none);
    auto info = file->info();
    REQUIRE_FALSE(info);
    CHECK(info.error().code == ENOEXEC);
}

TEST_CASE("the file is told compressed by its magic, not by its name", "[module_file]") {
    ScratchDir dir;
    write_bytes(dir / "looks-plain.ko", read_bytes(fixture_module("fixture_plain.ko.gz")));
    write_bytes(dir / "looks-packed.ko.xz", read_bytes(fixture_module("fixture_plain.ko")));
    auto gz = ModuleFile::open((dir / "looks-plain.ko").string());
    REQUIRE(gz);
    CHECK(gz->compression() == Compression::gzip);
    CHECK(gz->info());
    auto plain = ModuleFile::open((dir / "looks-packed.ko.xz").string());
    REQUIRE(plain);
    CHECK(plain->compression() == Compression::none);
    CHECK(plain->info());
}

TEST_CASE("each open has its own descriptor, closed with the file", "[module_file]") {
    int fd = -1;
    {
        auto file = ModuleFile::open(fixture_module("fixture_plain.ko"));
        REQUIRE(file);
        fd = file->fd();
        REQUIRE(fd >= 0);
        auto other = ModuleFile::open(fixture_module("fixture_plain.ko"));
        REQUIRE(other);
        CHECK(other->fd() != fd);
        CHECK(::fcntl(fd, F_GETFD) != -1);
    }
    // Nothing else in this single-threaded test opened a file since: the number is free again.
    const int closed = ::fcntl(fd, F_GETFD);
    const int error = errno;
    CHECK(closed == -1);
    CHECK(error == EBADF);
}

TEST_CASE("a size limit of SIZE_MAX means no limit", "[module_file]") {
    for (const char* name : {"fixture_plain.ko", "fixture_plain.ko.zst", "fixture_plain.ko.xz",
                             "fixture_plain.ko.gz"}) {
        INFO(name);
        auto file = ModuleFile::open(fixture_module(name), OpenOptions{SIZE_MAX});
        REQUIRE(file);
        auto image = file->image();
        REQUIRE(image);
        CHECK(same_bytes(*image, read_bytes(fixture_module("fixture_plain.ko"))));
    }
}

TEST_CASE("a .ko.gz of two gzip members, as `cat a.gz b.gz` makes, is read whole",
          "[module_file]") {
    ScratchDir dir;
    const Bytes elf = read_bytes(fixture_module("fixture_plain.ko"));
    const std::size_t half = elf.size() / 2;
    write_bytes(dir / "a", Bytes(elf.begin(), elf.begin() + static_cast<std::ptrdiff_t>(half)));
    write_bytes(dir / "b", Bytes(elf.begin() + static_cast<std::ptrdiff_t>(half), elf.end()));
    const std::string command = "gzip -nc '" + (dir / "a").string() + "' '" + (dir / "b").string() +
                                "' > '" + (dir / "two.ko.gz").string() + "'";
    REQUIRE(std::system(command.c_str()) == 0);  // gzip writes one member per input file

    auto file = ModuleFile::open((dir / "two.ko.gz").string());
    REQUIRE(file);
    CHECK(file->compression() == Compression::gzip);
    auto image = file->image();
    REQUIRE(image);
    CHECK(std::equal(image->begin(), image->end(), elf.begin(), elf.end()));
    auto info = file->info();
    REQUIRE(info);
    CHECK((*info)->name == "fixture_plain");
}

TEST_CASE("a module file reads what loading needs; the symbol walks only when asked",
          "[module_file]") {
    auto file = ModuleFile::open(fixture_module("fixture_plain.ko"));
    REQUIRE(file);
    auto light = file->info();
    REQUIRE(light);
    CHECK((*light)->name == "fixture_plain");
    CHECK((*light)->depends() == std::vector<std::string>{"fixture_provider", "crc-itu-t"});
    CHECK((*light)->modinfo_value("vermagic").has_value());
    CHECK_FALSE((*light)->symbols_read);
    CHECK((*light)->versions.empty());
    CHECK((*light)->undefined_symbols.empty());
    CHECK((*light)->force_layout.versions_flags_offset.has_value());  // forcing still works

    auto full = file->info(ModuleParts::all);
    REQUIRE(full);
    CHECK((*full)->symbols_read);
    CHECK_FALSE((*full)->versions.empty());
    CHECK_FALSE((*full)->undefined_symbols.empty());
    auto again = file->info();  // the fuller parse is kept
    REQUIRE(again);
    CHECK(*again == *full);
}
