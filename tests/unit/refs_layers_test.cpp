// In-kernel users of a module's block devices (swap, dm, md) and the layers sockets carry (a TCP
// upper-layer protocol), on fixture roots and recorded sock_diag answers; lsmod and rmmod's words.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <modload/references.hpp>
#include <modload/snapshot.hpp>

#include "../../libmodload/src/refs_sources.hpp"
#include "fixtures.hpp"

namespace fs = std::filesystem;
using modload::HoldVia;
using modload::Reference;
using modload::ReferenceKind;
using modload::testing::run_tool;
using modload::testing::ScratchDir;
using modload::testing::write_text;

namespace {

template <class T>
void put(std::vector<std::byte>& out, const T& value) {
    const auto* p = reinterpret_cast<const std::byte*>(&value);
    out.insert(out.end(), p, p + sizeof value);
}

void pad(std::vector<std::byte>& out) {
    out.resize((out.size() + 3) & ~std::size_t{3});
}

void message(std::vector<std::byte>& out, std::uint16_t type, const std::vector<std::byte>& body) {
    nlmsghdr h{};
    h.nlmsg_len = static_cast<std::uint32_t>(sizeof h + body.size());
    h.nlmsg_type = type;
    h.nlmsg_flags = NLM_F_MULTI;
    put(out, h);
    out.insert(out.end(), body.begin(), body.end());
    pad(out);
}

// An inet_diag_msg for a TCP socket 127.0.0.1:SPORT -> 127.0.0.1:DPORT of `inode`, with an
// INET_DIAG_ULP_INFO naming `ulp` when it is not empty.
std::vector<std::byte> diag_socket(std::uint32_t inode, std::uint16_t sport, std::uint16_t dport,
                                   const std::string& ulp) {
    inet_diag_msg msg{};
    msg.idiag_family = AF_INET;
    msg.idiag_state = 1;  // TCP_ESTABLISHED
    msg.id.idiag_sport = htons(sport);
    msg.id.idiag_dport = htons(dport);
    msg.id.idiag_src[0] = htonl(INADDR_LOOPBACK);
    msg.id.idiag_dst[0] = htonl(INADDR_LOOPBACK);
    msg.idiag_inode = inode;
    std::vector<std::byte> body;
    put(body, msg);
    if (!ulp.empty()) {
        nlattr outer{};
        nlattr name{};
        name.nla_len = static_cast<std::uint16_t>(sizeof name + ulp.size() + 1);
        name.nla_type = INET_ULP_INFO_NAME;
        outer.nla_len = static_cast<std::uint16_t>(sizeof outer + NLA_ALIGN(name.nla_len));
        outer.nla_type = NLA_F_NESTED | INET_DIAG_ULP_INFO;
        put(body, outer);
        put(body, name);
        const auto* p = reinterpret_cast<const std::byte*>(ulp.c_str());
        body.insert(body.end(), p, p + ulp.size() + 1);
        pad(body);
    }
    return body;
}

void write_bytes(const fs::path& path, const std::vector<std::byte>& bytes) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
}

// The recording of the IPv4 TCP dump: NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, AF_INET.
fs::path ipv4_dump(const fs::path& root) {
    return root / (".netlink/" + std::to_string(NETLINK_SOCK_DIAG) + "-" +
                   std::to_string(SOCK_DIAG_BY_FAMILY) + "-" + std::to_string(AF_INET));
}

// zram0 (252:0, found through /proc/devices) with swap on it and a dm device and an md array
// built on it and its partition; tls held by one socket of lab-hold, another socket carries mptcp.
struct LayersWorld {
    ScratchDir dir;
    fs::path root = dir.path();
    std::string release = "6.1.0-test";

    LayersWorld() {
        write_text(root / "proc/modules",
                   "zram 36864 4 - Live 0x0\n"
                   "tls 118784 1 - Live 0x0\n"
                   "dm_mod 184320 0 - Live 0x0\n");
        for (const char* kver : {"6.1.0-test", "6.12.0-test"}) {
            write_text(root / "lib/modules" / kver / "modules.alias",
                       "alias tcp-ulp-tls tls\n"
                       "alias devname:mapper/control dm_mod\n"
                       "alias block-major-7-* loop\n");
        }
        // sock_diag is asked only when its modules are loaded: asking would load them.
        fs::create_directories(root / "sys/module/inet_diag");
        fs::create_directories(root / "sys/module/tcp_diag");
        write_text(root / "proc/devices",
                   "Character devices:\n  1 mem\n252 not_this\n\nBlock devices:\n  7 loop\n"
                   "252 zram\n253 device-mapper\n");
        write_text(root / "proc/swaps",
                   "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
                   "/dev/zram0                              partition\t65532\t\t0\t\t100\n"
                   "/swap\\040file                           file\t\t1024\t\t0\t\t-2\n");
        const fs::path zram0 = root / "sys/devices/virtual/block/zram0";
        const fs::path dm0 = root / "sys/devices/virtual/block/dm-0";
        const fs::path md0 = root / "sys/devices/virtual/block/md0";
        write_text(zram0 / "dev", "252:0\n");
        write_text(zram0 / "zram0p1/dev", "252:1\n");
        write_text(zram0 / "zram0p1/partition", "1\n");
        fs::create_directories(zram0 / "holders/dm-0");
        fs::create_directories(zram0 / "zram0p1/holders/md0");
        fs::create_directories(zram0 / "power");
        write_text(dm0 / "dev", "253:0\n");
        write_text(dm0 / "dm/name", "vg-lv\n");
        fs::create_directories(dm0 / "holders");
        write_text(md0 / "dev", "9:0\n");
        fs::create_directories(md0 / "holders");
        fs::create_directories(root / "sys/block");
        fs::create_directories(root / "sys/class/block");
        fs::create_directories(root / "sys/dev/block");
        for (const char* d : {"zram0", "dm-0", "md0"}) {
            fs::create_directory_symlink(fs::path("../devices/virtual/block") / d,
                                         root / "sys/block" / d);
            fs::create_directory_symlink(fs::path("../../devices/virtual/block") / d,
                                         root / "sys/class/block" / d);
        }
        fs::create_directory_symlink("../../devices/virtual/block/zram0/zram0p1",
                                     root / "sys/class/block/zram0p1");
        fs::create_directory_symlink("../../devices/virtual/block/zram0",
                                     root / "sys/dev/block/252:0");
        // lab-hold's tls socket (inode 4242) and its peer; another process's mptcp socket.
        process(77, "lab-hold", {{3, "socket:[4242]"}, {4, "socket:[4243]"}, {5, "/dev/null"}});
        process(90, "other", {{6, "socket:[5000]"}});
        std::vector<std::byte> dump;
        message(dump, SOCK_DIAG_BY_FAMILY, diag_socket(4242, 40000, 443, "tls"));
        message(dump, SOCK_DIAG_BY_FAMILY, diag_socket(4243, 443, 40000, ""));
        message(dump, SOCK_DIAG_BY_FAMILY, diag_socket(5000, 40001, 80, "mptcp"));
        message(dump, NLMSG_DONE, std::vector<std::byte>(4));
        write_bytes(ipv4_dump(root), dump);
    }

    void process(int pid, const std::string& comm,
                 std::initializer_list<std::pair<int, std::string>> fds) const {
        const fs::path folder = root / "proc" / std::to_string(pid);
        write_text(folder / "comm", comm + "\n");
        fs::create_directories(folder / "fd");
        for (const auto& [fd, target] : fds) {
            fs::create_symlink(target, folder / "fd" / std::to_string(fd));
        }
    }

    modload::ReferenceReport attribute(std::vector<std::string> names,
                                       std::vector<modload::UnreadSource>& unread) const {
        const modload::testing::FixtureSystem system(root);
        auto snapshot = modload::Snapshot::read(system);
        REQUIRE(snapshot);
        modload::ReferenceOptions options;
        options.use_bpf = false;
        options.kernel_release = release;
        return modload::attribute_references(system, *snapshot, names, options, unread);
    }
    modload::ReferenceReport attribute(std::vector<std::string> names) const {
        std::vector<modload::UnreadSource> unread;
        return attribute(std::move(names), unread);
    }
};

const Reference* find_kind(const modload::ModuleReferences& m, ReferenceKind kind) {
    auto it = std::find_if(m.references.begin(), m.references.end(),
                           [&](const Reference& r) { return r.kind == kind; });
    return it == m.references.end() ? nullptr : &*it;
}

}  // namespace

TEST_CASE(
    "a swap area holds the module that drives its block device, as many times as swapon "
    "opened it",
    "[refs]") {
    LayersWorld world;
    const auto report = world.attribute({"zram"});
    REQUIRE(report.modules.size() == 1);
    const auto& zram = report.modules[0];
    const Reference* swap = find_kind(zram, ReferenceKind::swap);
    REQUIRE(swap != nullptr);
    CHECK(swap->name == "/dev/zram0");
    CHECK(swap->count == 2);  // before 6.9: the swap file and claim_swapfile's open
    CHECK(swap->via == HoldVia::block_device);
    CHECK(swap->approximate);  // zram has no driver link: /proc/devices names it
    CHECK(swap->release_command == "swapoff /dev/zram0");
    CHECK(zram.unattributed == 0);  // 2 swap + dm-0 + md0

    SECTION("since 6.9 the swap file's open is the claim: one reference, the other left over") {
        world.release = "6.12.0-test";
        const auto later = world.attribute({"zram"});
        CHECK(find_kind(later.modules[0], ReferenceKind::swap)->count == 1);
        CHECK(later.modules[0].unattributed == 1);
    }
    SECTION("a swap file on a filesystem, and a device of no known module, hold nothing") {
        write_text(world.root / "proc/swaps",
                   "Filename Type Size Used Priority\n/swap\\040file file 1024 0 -2\n"
                   "/dev/sdz partition 1 0 -3\n");
        const auto none = world.attribute({"zram"});
        CHECK(find_kind(none.modules[0], ReferenceKind::swap) == nullptr);
        CHECK(none.modules[0].unattributed == 2);
    }
    SECTION("no /proc/swaps: nothing, and nothing unread") {
        fs::remove(world.root / "proc/swaps");
        std::vector<modload::UnreadSource> unread;
        const auto none = world.attribute({"zram"}, unread);
        CHECK(find_kind(none.modules[0], ReferenceKind::swap) == nullptr);
        CHECK(unread.empty());
    }
}

TEST_CASE("dm and md devices built on a module's disk or its partitions each hold it once",
          "[refs]") {
    const LayersWorld world;
    const auto report = world.attribute({"zram", "dm_mod"});
    std::vector<const Reference*> users;
    for (const Reference& r : report.modules[0].references) {
        if (r.kind == ReferenceKind::block_user) {
            users.push_back(&r);
        }
    }
    REQUIRE(users.size() == 2);
    CHECK(users[0]->name == "dm-0 (vg-lv)");
    CHECK(users[0]->source == "/dev/zram0");
    CHECK(users[0]->count == 1);
    CHECK(users[0]->release_command == "dmsetup remove vg-lv");
    CHECK(users[1]->name == "md0");
    CHECK(users[1]->source == "/dev/zram0p1");
    CHECK(users[1]->release_command == "mdadm --stop /dev/md0");
    // The holder's own module is not the one held.
    CHECK(report.modules[1].references.empty());
}

TEST_CASE("a TCP socket's upper-layer protocol holds its module, named by process and descriptor",
          "[refs]") {
    LayersWorld world;
    std::vector<modload::UnreadSource> unread;
    const auto report = world.attribute({"tls"}, unread);
    const auto& tls = report.modules[0];
    REQUIRE(tls.references.size() == 1);
    const Reference& layer = tls.references[0];
    CHECK(layer.kind == ReferenceKind::socket_layer);
    CHECK(layer.name == "TCP 127.0.0.1:40000 -> 127.0.0.1:443");
    CHECK(layer.source == "tls");
    REQUIRE(layer.users.size() == 1);
    CHECK(layer.users[0].pid == 77);
    CHECK(layer.users[0].command == "lab-hold");
    CHECK(layer.users[0].fd == 3);
    CHECK(tls.unattributed == 0);
    CHECK(unread.empty());  // no IPv6 recording: a fixture without those sockets

    SECTION("a socket no process has open still holds it") {
        fs::remove(world.root / "proc/77/fd/3");
        const auto orphan = world.attribute({"tls"});
        REQUIRE(orphan.modules[0].references.size() == 1);
        CHECK(orphan.modules[0].references[0].users.empty());
    }
    SECTION("without CAP_NET_ADMIN the kernel leaves the layer out: said, nothing guessed") {
        write_text(world.root / "proc/self/status", "Name:\tlsmod\nCapEff:\t0000000000000000\n");
        std::vector<modload::UnreadSource> denied;
        const auto none = world.attribute({"tls"}, denied);
        CHECK(none.modules[0].references.empty());
        CHECK(none.modules[0].unattributed == 1);
        REQUIRE(denied.size() == 1);
        CHECK(denied[0].path == "netlink:sock_diag");
        CHECK(denied[0].error.code == EPERM);
    }
    SECTION("without tcp_diag loaded sock_diag is not asked (asking would load it): said") {
        fs::remove_all(world.root / "sys/module/tcp_diag");
        std::vector<modload::UnreadSource> skipped;
        const auto none = world.attribute({"tls"}, skipped);
        CHECK(none.modules[0].references.empty());
        CHECK(none.modules[0].unattributed == 1);
        REQUIRE(skipped.size() == 1);
        CHECK(skipped[0].path == "netlink:sock_diag");
        CHECK(skipped[0].error.code == EPROTONOSUPPORT);
        CHECK(skipped[0].error.detail == "tcp_diag is not loaded, and asking would load it");
    }
    SECTION("a module with no upper-layer protocol asks nothing") {
        fs::remove(ipv4_dump(world.root));
        write_text(world.root / "proc/self/status", "CapEff:\t0\n");
        std::vector<modload::UnreadSource> none;
        (void)world.attribute({"zram"}, none);
        CHECK(none.empty());
    }
}

TEST_CASE("sock_diag answers whose lengths lie are unread, never read past", "[refs]") {
    LayersWorld world;
    std::vector<std::byte> dump;
    SECTION("a message shorter than inet_diag_msg") {
        message(dump, SOCK_DIAG_BY_FAMILY, std::vector<std::byte>(sizeof(inet_diag_msg) - 1));
    }
    SECTION("a nested attribute longer than its message") {
        std::vector<std::byte> body = diag_socket(4242, 1, 2, "tls");
        nlattr outer{};
        std::memcpy(&outer, body.data() + sizeof(inet_diag_msg), sizeof outer);
        outer.nla_len = 200;
        std::memcpy(body.data() + sizeof(inet_diag_msg), &outer, sizeof outer);
        message(dump, SOCK_DIAG_BY_FAMILY, body);
    }
    SECTION("a name attribute longer than the nest") {
        std::vector<std::byte> body = diag_socket(4242, 1, 2, "tls");
        nlattr name{};
        const std::size_t at = sizeof(inet_diag_msg) + sizeof(nlattr);
        std::memcpy(&name, body.data() + at, sizeof name);
        name.nla_len = 60;
        std::memcpy(body.data() + at, &name, sizeof name);
        message(dump, SOCK_DIAG_BY_FAMILY, body);
    }
    SECTION("a message header longer than the answer") {
        message(dump, SOCK_DIAG_BY_FAMILY, diag_socket(4242, 1, 2, "tls"));
        dump.resize(dump.size() - 8);
    }
    write_bytes(ipv4_dump(world.root), dump);
    std::vector<modload::UnreadSource> unread;
    const auto report = world.attribute({"tls"}, unread);
    CHECK(report.modules[0].references.empty());
    CHECK(report.modules[0].unattributed == 1);
    REQUIRE(unread.size() == 1);
    CHECK(unread[0].path == "netlink:sock_diag");
    CHECK(unread[0].error.code == EBADMSG);
}

TEST_CASE("lsmod --refs and rmmod name swap, dm and socket-layer holders in their words",
          "[refs]") {
    const LayersWorld world;
    modload::testing::FakeKernel kernel;
    const auto run = run_tool("lsmod", kernel, world.root, {"--refs", "zram", "tls"});
    CHECK(run.status == 0);
    CHECK(
        run.out.starts_with("zram: refcount 4\n  swap on /dev/zram0 (2 references) "
                            "(approximate); let go with: swapoff /dev/zram0\n"));
    CHECK(run.out.find("\n  block device dm-0 (vg-lv) uses /dev/zram0 (approximate); let go "
                       "with: dmsetup remove vg-lv\n"
                       "  block device md0 uses /dev/zram0p1 (approximate); let go with: mdadm "
                       "--stop /dev/md0\n") != std::string::npos);
    CHECK(
        run.out.ends_with("tls: refcount 1\n  pid 77 (lab-hold) fd 3 TCP 127.0.0.1:40000 -> "
                          "127.0.0.1:443 with upper-layer protocol tls\n"));

    const auto json = run_tool("lsmod", kernel, world.root, {"--refs", "--json", "tls"});
    CHECK(json.out.find("{\"kind\": \"socket layer\", \"count\": 1, \"approximate\": false, "
                        "\"via\": \"\", \"name\": \"TCP 127.0.0.1:40000 -> 127.0.0.1:443\", "
                        "\"users\": [{\"pid\": 77, \"command\": \"lab-hold\", \"fd\": 3}], "
                        "\"source\": \"tls\"}") != std::string::npos);

    // A forked child shares the socket: named after the first, the others said.
    world.process(78, "child", {{5, "socket:[4242]"}});
    const auto shared = run_tool("lsmod", kernel, world.root, {"--refs", "tls"});
    CHECK(shared.out ==
          "tls: refcount 1\n  pid 77 (lab-hold) fd 3 TCP 127.0.0.1:40000 -> "
          "127.0.0.1:443 with upper-layer protocol tls (shared with pid 78 (child) "
          "fd 5)\n");

    const auto rmmod = run_tool("rmmod", kernel, world.root, {"tls"});
    CHECK(rmmod.status == 1);
    CHECK(rmmod.err.find("rmmod: tls is held by pid 77 (lab-hold) fd 3 TCP 127.0.0.1:40000 -> "
                         "127.0.0.1:443 with upper-layer protocol tls (shared with pid 78 "
                         "(child) fd 5)\n") != std::string::npos);
}

TEST_CASE("release commands quote what a shell would split", "[refs]") {
    using modload::detail::shell_quoted;
    CHECK(shell_quoted("/dev/zram0") == "/dev/zram0");
    CHECK(shell_quoted("/swap file") == "'/swap file'");
    CHECK(shell_quoted("it's") == "'it'\\''s'");
    CHECK(shell_quoted("") == "''");
}
