// Who holds a module: each source of references on a fixture root, the /proc scan that stands in
// for BPF, and lsmod --refs's words.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <string>

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <modload/references.hpp>
#include <modload/snapshot.hpp>

#include "../../libmodload/src/open_files.hpp"
#include "fixtures.hpp"

namespace fs = std::filesystem;
using modload::HoldVia;
using modload::Reference;
using modload::ReferenceKind;
using modload::testing::run_tool;
using modload::testing::ScratchDir;
using modload::testing::write_text;

namespace {

constexpr const char* kRelease = "6.1.0-test";

// A system with lab_dev (held by lab_user and two processes), vfat on a loop device with its NLS
// tables, and a crypto module in use; each source of references has something to find.
struct RefsWorld {
    ScratchDir dir;
    fs::path root = dir.path();

    RefsWorld() {
        write_text(root / "proc/modules",
                   "lab_user 16384 0 - Live 0x0\n"
                   "lab_dev 16384 4 lab_user, Live 0x0 (OE)\n"
                   "vfat 20480 1 - Live 0x0\n"
                   "fat 86016 1 vfat, Live 0x0\n"
                   "nls_cp437 20480 1 - Live 0x0\n"
                   "nls_ascii 16384 1 - Live 0x0\n"
                   "loop 32768 2 - Live 0x0\n"
                   "sha3_generic 16384 2 - Live 0x0\n"
                   "brd 16384 1 - Live 0x0\n");
        write_text(root / "lib/modules" / kRelease / "modules.alias",
                   "alias fs-vfat vfat\n"
                   "alias fs-msdos msdos\n"
                   "alias block-major-7-* loop\n"
                   "alias block-major-1-* brd\n"
                   "alias devname:loop-control loop\n"
                   "alias net-pf-15 af_key\n"
                   "alias pci:v00008086d* e1000\n");
        write_text(root / "proc/filesystems", "nodev\tsysfs\n\text4\n\tvfat\n");
        // Two processes with /dev/lab_dev open (on a real system /dev/null stands in: a character
        // device whose sysfs folder is named after the module), one with a file of no module.
        const dev_t null_dev = device_of("/dev/null");
        const std::string number =
            std::to_string(major(null_dev)) + ":" + std::to_string(minor(null_dev));
        fs::create_directories(root / "sys/devices/virtual/misc/lab_dev");
        fs::create_directories(root / "sys/dev/char");
        fs::create_directory_symlink("../../devices/virtual/misc/lab_dev",
                                     root / "sys/dev/char" / number);
        process(100, "holder", {{3, "/dev/null"}, {4, "/etc/hostname"}});
        process(200, "second one", {{0, "/dev/null"}});
        process(300, "idle", {{1, "/etc/hostname"}});
        // vfat on /dev/loop0 (7:0), bound to /tmp/v.img, and mounted twice (a bind mount).
        fs::create_directories(root / "sys/devices/virtual/block/loop0/loop");
        write_text(root / "sys/devices/virtual/block/loop0/loop/backing_file", "/tmp/v.img\n");
        fs::create_directories(root / "sys/dev/block");
        fs::create_directory_symlink("../../devices/virtual/block/loop0",
                                     root / "sys/dev/block/7:0");
        fs::create_directories(root / "sys/block");
        fs::create_directory_symlink("../devices/virtual/block/loop0", root / "sys/block/loop0");
        fs::create_directories(root / "sys/devices/virtual/block/loop1");
        fs::create_directory_symlink("../devices/virtual/block/loop1", root / "sys/block/loop1");
        write_text(root / "proc/self/mountinfo",
                   "21 1 0:20 / /proc rw,nosuid - proc proc rw\n"
                   "40 1 7:0 / /mnt/v\\040disk rw,relatime - vfat /dev/loop0 "
                   "rw,fmask=0022,codepage=437,iocharset=ascii,errors=remount-ro\n"
                   "41 1 7:0 / /srv/again rw,relatime shared:5 - vfat /dev/loop0 "
                   "rw,codepage=437,iocharset=ascii\n");
        write_text(root / "proc/crypto",
                   "name         : sha3-256\n"
                   "driver       : sha3-256-generic\n"
                   "module       : sha3_generic\n"
                   "priority     : 0\n"
                   "refcnt       : 3\n"
                   "type         : shash\n"
                   "\n"
                   "name         : sha3-512\n"
                   "driver       : sha3-512-generic\n"
                   "module       : sha3_generic\n"
                   "refcnt       : 1\n"
                   "\n"
                   "name         : sha256\n"
                   "driver       : sha256-generic\n"
                   "module       : kernel\n"
                   "refcnt       : 9\n");
    }

    static dev_t device_of(const char* path) {
        struct stat st {};
        REQUIRE(::stat(path, &st) == 0);
        return st.st_rdev;
    }

    void process(int pid, const std::string& comm,
                 std::initializer_list<std::pair<int, std::string>> fds) const {
        const fs::path dir = root / "proc" / std::to_string(pid);
        write_text(dir / "comm", comm + "\n");
        fs::create_directories(dir / "fd");
        for (const auto& [fd, target] : fds) {
            fs::create_symlink(target, dir / "fd" / std::to_string(fd));
        }
    }

    modload::ReferenceReport attribute(std::vector<std::string> names) const {
        const modload::testing::FixtureSystem system(root);
        auto snapshot = modload::Snapshot::read(system);
        REQUIRE(snapshot);
        modload::ReferenceOptions options;
        options.use_bpf = false;
        options.kernel_release = kRelease;
        return modload::attribute_references(system, *snapshot, names, options);
    }
};

}  // namespace

TEST_CASE("holder modules and open files, found through /proc, are each a reference", "[refs]") {
    const RefsWorld world;
    const auto report = world.attribute({"lab_dev"});
    CHECK(report.files == modload::FileScan::proc);
    REQUIRE(report.modules.size() == 1);
    const auto& m = report.modules[0];
    CHECK(m.refcount == 4);
    REQUIRE(m.references.size() == 3);
    CHECK(m.references[0].kind == ReferenceKind::module);
    CHECK(m.references[0].name == "lab_user");
    CHECK_FALSE(m.references[0].approximate);
    for (int i : {1, 2}) {
        const Reference& file = m.references[i];
        CHECK(file.kind == ReferenceKind::open_file);
        CHECK(file.approximate);  // matched by the device's name, not the kernel's pointer
        CHECK(file.via == HoldVia::file_operations);
        CHECK(file.name == "/dev/null");
        REQUIRE(file.users.size() == 1);
    }
    CHECK(m.references[1].users[0].pid == 100);
    CHECK(m.references[1].users[0].command == "holder");
    CHECK(m.references[1].users[0].fd == 3);
    CHECK(m.references[2].users[0].pid == 200);
    CHECK(m.references[2].users[0].command == "second one");
    CHECK(m.unattributed == 1);
    CHECK_FALSE(m.changed_while_read);
}

TEST_CASE(
    "a mount holds its filesystem, its NLS tables and its block device's driver once per "
    "superblock",
    "[refs]") {
    const RefsWorld world;
    const auto report = world.attribute({"vfat", "nls_cp437", "nls_ascii", "loop", "fat"});
    REQUIRE(report.modules.size() == 5);
    for (int i : {0, 1, 2}) {
        const auto& m = report.modules[i];
        INFO(m.module);
        REQUIRE(m.references.size() == 1);  // the bind mount is the same superblock
        const Reference& mount = m.references[0];
        CHECK(mount.kind == ReferenceKind::mount);
        CHECK(mount.name == "/mnt/v disk");
        CHECK(mount.fstype == "vfat");
        CHECK(mount.source == "/dev/loop0");
        CHECK(mount.via == (i == 0 ? HoldVia::filesystem : HoldVia::nls_table));
        CHECK_FALSE(mount.approximate);
        CHECK(m.unattributed == 0);
    }
    const auto& loop = report.modules[3];
    REQUIRE(loop.references.size() == 2);
    CHECK(loop.references[0].kind == ReferenceKind::mount);
    CHECK(loop.references[0].via == HoldVia::block_device);
    CHECK_FALSE(loop.references[0].approximate);  // the loop driver's own sysfs attributes
    CHECK(loop.references[1].kind == ReferenceKind::loop_device);
    CHECK(loop.references[1].name == "/dev/loop0");  // loop1 is not bound
    CHECK(loop.references[1].source == "/tmp/v.img");
    CHECK(loop.unattributed == 0);
    const auto& fat = report.modules[4];
    REQUIRE(fat.references.size() == 1);
    CHECK(fat.references[0].kind == ReferenceKind::module);
    CHECK(fat.references[0].name == "vfat");
}

TEST_CASE("crypto algorithms in use hold their module; the registration does not", "[refs]") {
    const RefsWorld world;
    const auto report = world.attribute({"sha3_generic"});
    const auto& m = report.modules[0];
    REQUIRE(m.references.size() == 1);
    CHECK(m.references[0].kind == ReferenceKind::crypto);
    CHECK(m.references[0].name == "sha3-256-generic");
    CHECK(m.references[0].source == "sha3-256");
    CHECK(m.references[0].count == 2);
    CHECK(m.unattributed == 0);
}

TEST_CASE("what no source accounts for is counted, never guessed; more than the count is said",
          "[refs]") {
    RefsWorld world;
    auto report = world.attribute({"brd", "not_loaded"});
    CHECK(report.modules[0].references.empty());
    CHECK(report.modules[0].unattributed == 1);
    CHECK_FALSE(report.modules[1].refcount.has_value());
    CHECK(report.modules[1].references.empty());
    CHECK(report.modules[1].unattributed == 0);

    // A third process opened the device after /proc/modules was read.
    world.process(400, "late", {{5, "/dev/null"}});
    world.process(401, "later", {{5, "/dev/null"}});
    report = world.attribute({"lab_dev"});
    CHECK(report.modules[0].unattributed == 0);
    CHECK(report.modules[0].changed_while_read);
}

TEST_CASE("modules.alias says which module provides a device, a filesystem or a family", "[refs]") {
    const auto aliases = modload::detail::ProvidedAliases::parse(
        "# Aliases extracted from modules themselves.\n"
        "alias fs-vfat vfat\n"
        "alias char-major-10-237 loop\n"
        "alias block-major-7-* loop\n"
        "alias net-pf-15 af_key\n"
        "alias net-pf-2-proto-132 sctp\n"
        "alias pci:v*d* some-driver\n"
        "alias broken\n"
        "softdep x pre: y\n");
    CHECK(aliases.module_for("block-major-7-3") == "loop");
    CHECK(aliases.module_for("char-major-10-237") == "loop");
    CHECK(aliases.module_for("char-major-10-238").empty());
    CHECK(aliases.module_for("net-pf-15") == "af_key");
    CHECK(aliases.module_for("net-pf-2-proto-132") == "sctp");
    CHECK(aliases.module_for("pci:v1d2").empty());  // not what a module provides to a holder
    CHECK(aliases.filesystems_of("vfat") == std::vector<std::string>{"vfat"});
    CHECK(aliases.filesystems_of("loop").empty());
}

TEST_CASE("a device's module: the driver link, the loop driver, an alias, then its name",
          "[refs]") {
    ScratchDir dir;
    const fs::path root = dir.path();
    fs::create_directories(root / "sys/module/e1000");
    fs::create_directories(root / "sys/bus/pci/drivers/e1000");
    fs::create_directory_symlink("../../../../module/e1000",
                                 root / "sys/bus/pci/drivers/e1000/module");
    fs::create_directories(root / "sys/devices/pci0/0000:00:03.0/block/sda/sda1");
    write_text(root / "sys/devices/pci0/0000:00:03.0/block/sda/sda1/partition", "1\n");
    fs::create_directory_symlink("../../../bus/pci/drivers/e1000",
                                 root / "sys/devices/pci0/0000:00:03.0/driver");
    fs::create_directory_symlink("../..", root / "sys/devices/pci0/0000:00:03.0/block/sda/device");
    fs::create_directories(root / "sys/dev/block");
    fs::create_directory_symlink("../../devices/pci0/0000:00:03.0/block/sda/sda1",
                                 root / "sys/dev/block/8:1");
    fs::create_directories(root / "sys/devices/virtual/block/ram0");
    fs::create_directory_symlink("../../devices/virtual/block/ram0", root / "sys/dev/block/1:0");
    const modload::testing::FixtureSystem system(root);
    const auto aliases = modload::detail::ProvidedAliases::parse("alias block-major-1-* brd\n");

    const auto sda1 = modload::detail::device_owner(system, true, 8, 1, aliases);
    CHECK(sda1.module == "e1000");
    CHECK_FALSE(sda1.approximate);
    const auto ram0 = modload::detail::device_owner(system, true, 1, 0, aliases);
    CHECK(ram0.module == "brd");
    CHECK(ram0.approximate);
    const auto unknown = modload::detail::device_owner(system, false, 250, 0, aliases);
    CHECK(unknown.module.empty());
}

TEST_CASE("lsmod --refs names each reference, then what is left; --json the same", "[refs]") {
    const RefsWorld world;
    modload::testing::FakeKernel kernel;
    const auto run = run_tool("lsmod", kernel, world.root, {"--refs", "lab_dev", "loop", "brd"});
    CHECK(run.status == 0);
    CHECK(run.out ==
          "lab_dev: refcount 4\n"
          "  module lab_user\n"
          "  pid 100 (holder) fd 3 /dev/null (approximate)\n"
          "  pid 200 (second one) fd 0 /dev/null (approximate)\n"
          "  1 reference not attributed\n"
          "loop: refcount 2\n"
          "  mount /mnt/v disk (vfat on /dev/loop0, block device)\n"
          "  loop device /dev/loop0 (backing file /tmp/v.img)\n"
          "brd: refcount 1\n"
          "  1 reference not attributed\n");
    CHECK(run.err == "lsmod: open files found through /proc, marked approximate\n");

    const auto json = run_tool("lsmod", kernel, world.root, {"--refs", "--json", "nls_cp437"});
    CHECK(json.status == 0);
    CHECK(json.out ==
          "{\"files\": \"proc\", \"why_not_bpf\": \"\", \"unread\": [], \"modules\": [\n"
          "  {\"name\": \"nls_cp437\", \"refcount\": 1, \"unattributed\": 0, "
          "\"changed_while_read\": false, \"references\": [\n"
          "    {\"kind\": \"mount\", \"count\": 1, \"approximate\": false, "
          "\"via\": \"character set table\", \"name\": \"/mnt/v disk\", \"fstype\": \"vfat\", "
          "\"source\": \"/dev/loop0\"}\n"
          "  ]}\n"
          "]}\n");

    const auto missing = run_tool("lsmod", kernel, world.root, {"--refs", "nope"});
    CHECK(missing.status == 1);
    CHECK(missing.err == "lsmod: ERROR: Module nope is not currently loaded\n");
    const auto bare = run_tool("lsmod", kernel, world.root, {"--refs"});
    CHECK(bare.status == 1);
    CHECK(bare.err == "lsmod: ERROR: --refs needs the names of modules\n");
}

TEST_CASE("rmmod keeps kmod's line first, then names each holder it finds", "[refs]") {
    const RefsWorld world;
    modload::testing::FakeKernel kernel;
    const auto run = run_tool("rmmod", kernel, world.root, {"lab_dev"});
    CHECK(run.status == 1);
    CHECK(run.err ==
          "rmmod: ERROR: Module lab_dev is in use by: lab_user\n"
          "rmmod: open files found through /proc, marked approximate\n"
          "rmmod: lab_dev is held by pid 100 (holder) fd 3 /dev/null (approximate)\n"
          "rmmod: lab_dev is held by pid 200 (second one) fd 0 /dev/null (approximate)\n"
          "rmmod: lab_dev: 1 reference not attributed\n");
    CHECK(kernel.calls().empty());

    const auto mount = run_tool("rmmod", kernel, world.root, {"nls_cp437"});
    CHECK(mount.status == 1);
    CHECK(mount.err ==
          "rmmod: ERROR: Module nls_cp437 is in use\n"
          "rmmod: nls_cp437 is held by mount /mnt/v disk (vfat on /dev/loop0, character set "
          "table)\n");
}

TEST_CASE("a source there but unreadable is said, with its path and error; one not there is not",
          "[refs]") {
    const RefsWorld world;
    // What the kernel would not let be read: processes' descriptors (EACCES on another user's
    // process), here files where folders should be (ENOTDIR); the mounts, here a folder (EISDIR).
    for (const char* process : {"proc/200/fd", "proc/300/fd"}) {
        fs::remove_all(world.root / process);
        write_text(world.root / process, "");
    }
    fs::remove(world.root / "proc/self/mountinfo");
    fs::create_directories(world.root / "proc/self/mountinfo");
    // Not there, as on a kernel without crypto: nothing to say.
    fs::remove(world.root / "proc/crypto");
    const std::string root = world.root.string();

    std::vector<modload::Error> unread;
    const modload::testing::FixtureSystem system(world.root);
    auto snapshot = modload::Snapshot::read(system);
    REQUIRE(snapshot);
    modload::ReferenceOptions options;
    options.use_bpf = false;
    options.kernel_release = kRelease;
    const std::vector<std::string> names{"lab_dev", "nls_cp437"};
    const auto report = modload::attribute_references(system, *snapshot, names, options, unread);
    // Each source once, with its errno, in the order read: the processes, then the mounts.
    REQUIRE(unread.size() == 3);
    const std::set<std::string> processes{unread[0].detail, unread[1].detail};
    CHECK(processes == std::set<std::string>{root + "/proc/200/fd", root + "/proc/300/fd"});
    CHECK(unread[0].code == ENOTDIR);
    CHECK(unread[1].code == ENOTDIR);
    CHECK(unread[2].code == EISDIR);
    CHECK(unread[2].detail == root + "/proc/self/mountinfo");
    REQUIRE(report.modules.size() == 2);
    CHECK(report.modules[0].references.size() == 2);  // lab_user, pid 100
    CHECK(report.modules[0].unattributed == 2);       // pid 200's is among these now
    CHECK(report.modules[1].references.empty());      // the mount was not read
    CHECK(report.modules[1].unattributed == 1);

    // rmmod keeps kmod's line; processes that fail alike are one line.
    modload::testing::FakeKernel kernel;
    const std::string mountinfo_line = "could not read " + root +
                                       "/proc/self/mountinfo: Is a directory; references found "
                                       "through it are not named\n";
    const std::string processes_line = "could not read " + root +
                                       "/proc/200/fd and the like of 1 other process: Not a "
                                       "directory; references found through them are not named\n";
    const auto rmmod = run_tool("rmmod", kernel, world.root, {"nls_cp437"});
    CHECK(rmmod.status == 1);
    const std::string proc_only = "open files looked for through /proc only, which misses some\n";
    CHECK(rmmod.err == "rmmod: ERROR: Module nls_cp437 is in use\nrmmod: " + mountinfo_line +
                           "rmmod: " + processes_line + "rmmod: " + proc_only +
                           "rmmod: nls_cp437: 1 reference not attributed\n");
    CHECK(kernel.calls().empty());

    // lsmod --refs --json lists each in "unread", and says them on stderr as rmmod does.
    const auto json = run_tool("lsmod", kernel, world.root, {"--refs", "--json", "nls_cp437"});
    CHECK(json.status == 0);
    for (const std::string unread_json :
         {"/proc/200/fd\", \"error\": \"Not a directory\"}",
          "/proc/300/fd\", \"error\": \"Not a directory\"}",
          "/proc/self/mountinfo\", \"error\": \"Is a directory\"}]"}) {
        CHECK(json.out.find("{\"path\": \"" + root + unread_json) != std::string::npos);
    }
    CHECK(json.err ==
          "lsmod: " + mountinfo_line + "lsmod: " + processes_line + "lsmod: " + proc_only);
}
