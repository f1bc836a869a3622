// The administrator's configuration, read from fixture roots built here as kmod 30 reads /:
// modprobe.d folders, modules.softdep, /proc/cmdline.
#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <modload/modprobe_config.hpp>

#include "faulting_system.hpp"
#include "fixtures.hpp"

using namespace modload;
using modload::testing::FaultingSystem;
using modload::testing::FixtureSystem;
using modload::testing::ScratchDir;
using modload::testing::write_text;
namespace fs = std::filesystem;

namespace {

constexpr const char* kRelease = "6.1.0-test";

// A root with nothing in it yet; `write` puts a file under it ("/etc/modprobe.d/a.conf").
struct Root {
    ScratchDir dir;
    fs::path path = dir.path();

    void write(const std::string& absolute, const std::string& text) const {
        write_text(path / absolute.substr(1), text);
    }
    fs::path at(const std::string& absolute) const { return path / absolute.substr(1); }
    ModprobeConfig read() const {
        auto config = read_modprobe_config(FixtureSystem(path), kRelease);
        if (!config) {
            FAIL(config.error().message());
        }
        return std::move(*config);
    }
};

ModprobeConfig parsed(const std::string& text) {
    ModprobeConfig config;
    parse_modprobe_config(text, "/etc/modprobe.d/t.conf", ConfigSource::modprobe_d, config);
    return config;
}

ModprobeConfig cmdline(const std::string& text) {
    ModprobeConfig config;
    parse_kernel_cmdline(text, "/proc/cmdline", config);
    return config;
}

std::vector<std::string> names_of(const std::vector<fs::path>& paths, const fs::path& root) {
    std::vector<std::string> names;
    for (const fs::path& p : paths) {
        names.push_back("/" + p.lexically_relative(root).string());
    }
    return names;
}

std::vector<std::string> options_of(const ModprobeConfig& config, const std::string& module) {
    std::vector<std::string> found;
    for (const ConfigOptions* o : config.options_for(module)) {
        found.push_back(o->options);
    }
    return found;
}

ModuleInfo module_with_softdeps(const std::string& name, std::vector<std::string> values) {
    ModuleInfo info;
    info.name = name;
    for (std::string& v : values) {
        info.modinfo.push_back(ModinfoEntry{"softdep", std::move(v)});
    }
    return info;
}

}  // namespace

TEST_CASE(
    "configuration files are read by name across folders, the first of a name hiding "
    "the others",
    "[config]") {
    Root r;
    r.write("/lib/modprobe.d/harden.conf", "blacklist from_lib\n");
    r.write("/etc/modprobe.d/harden.conf", "blacklist from_etc\n");
    r.write("/usr/lib/modprobe.d/a.conf", "options m a=usr\n");
    r.write("/run/modprobe.d/z.conf", "options m a=run\n");
    r.write("/usr/local/lib/modprobe.d/m.alias", "alias x m\n");
    r.write("/etc/modprobe.d/.hidden.conf", "blacklist hidden\n");
    r.write("/etc/modprobe.d/notes.txt", "blacklist txt\n");
    r.write("/etc/modprobe.d/.conf", "blacklist dotconf\n");
    r.write("/lib/modules/6.1.0-test/modules.softdep", "softdep m pre: n\n");
    const ModprobeConfig config = r.read();
    CHECK(names_of(config.files, r.path) ==
          std::vector<std::string>{"/usr/lib/modprobe.d/a.conf", "/etc/modprobe.d/harden.conf",
                                   "/usr/local/lib/modprobe.d/m.alias",
                                   "/lib/modules/6.1.0-test/modules.softdep",
                                   "/run/modprobe.d/z.conf"});
    CHECK(config.blacklisted("from_etc") != nullptr);
    CHECK(config.blacklisted("from_lib") == nullptr);
    CHECK(config.blacklisted("hidden") == nullptr);
    CHECK(config.blacklisted("txt") == nullptr);
    CHECK(config.blacklisted("dotconf") == nullptr);
    CHECK(options_of(config, "m") == std::vector<std::string>{"a=usr", "a=run"});
    CHECK(config.options_text("m") == "a=usr a=run");
    REQUIRE(config.aliases.size() == 1);
    CHECK(config.aliases[0].module == "m");
    CHECK(config.refused.empty());
}

TEST_CASE("a missing folder or file is normal; a modprobe.d that is a file is not", "[config]") {
    Root r;
    const ModprobeConfig config = r.read();
    CHECK(config.files.empty());
    CHECK(config.ignored.empty());
    r.write("/run/modprobe.d", "not a folder");
    auto refused = read_modprobe_config(FixtureSystem(r.path), kRelease);
    REQUIRE(!refused);
    CHECK(refused.error().code == ENOTDIR);
    CHECK(refused.error().detail == r.at("/run/modprobe.d").string());
}

TEST_CASE("each directive is kept with where it came from", "[config]") {
    Root r;
    r.write("/etc/modprobe.d/harden.conf",
            "install nf_conntrack /bin/false\n"
            "# a comment\n"
            "\n"
            "remove nf-conntrack   /bin/echo removing\n"
            "blacklist pcspkr\n"
            "options snd-hda-intel\tmodel=auto  power_save=1\n"
            "softdep crc32c pre: crc32c-intel post: a-b c\n"
            "alias net-pf-10 ipv6\n"
            "frobnicate x\n"
            "include /etc/other.conf\n");
    const ModprobeConfig config = r.read();
    const std::string file = r.at("/etc/modprobe.d/harden.conf").string();

    const ConfigCommand* install = config.install_command("nf_conntrack");
    REQUIRE(install != nullptr);
    CHECK(install->command == "/bin/false");
    CHECK(install->origin.where() == file + ":1");
    CHECK(install->origin.text == "install nf_conntrack /bin/false");
    CHECK(install->origin.source == ConfigSource::modprobe_d);

    const ConfigCommand* remove = config.remove_command("nf_conntrack");
    REQUIRE(remove != nullptr);
    CHECK(remove->command == "/bin/echo removing");
    CHECK(remove->origin.line == 4);
    CHECK(config.install_command("xfs") == nullptr);

    const ConfigBlacklist* black = config.blacklisted("pcspkr");
    REQUIRE(black != nullptr);
    CHECK(black->origin.where() == file + ":5");

    REQUIRE(config.options_for("snd_hda_intel").size() == 1);
    CHECK(config.options_for("snd_hda_intel")[0]->options == "model=auto  power_save=1");
    CHECK(config.options_for("snd_hda_intel")[0]->origin.line == 6);

    auto softdeps = config.softdeps_for("crc32c");
    REQUIRE(softdeps);
    CHECK(softdeps->pre == std::vector<std::string>{"crc32c_intel"});
    CHECK(softdeps->post == std::vector<std::string>{"a_b", "c"});
    CHECK(softdeps->origin.line == 7);

    REQUIRE(config.aliases.size() == 1);
    CHECK(config.aliases[0].alias == "net_pf_10");
    CHECK(config.aliases[0].module == "ipv6");

    REQUIRE(config.ignored.size() == 2);
    CHECK(config.ignored[0].origin.where() == file + ":9");
    CHECK(config.ignored[0].origin.text == "frobnicate x");
    CHECK(config.ignored[0].reason == "unknown directive");
    CHECK(config.ignored[1].origin.line == 10);
    CHECK(config.ignored[1].reason == "deprecated directive, not read");
}

TEST_CASE("a trailing backslash continues a line, which keeps the line it starts on", "[config]") {
    const ModprobeConfig config = parsed(
        "# one\n"
        "options m a=1 \\\n"
        "   b=2 \\\n"
        "c=3\n"
        "blacklist x\\y\n"
        "install n /bin/sh -c \\\n"
        "'exit 1'\n");
    REQUIRE(config.options.size() == 1);
    CHECK(config.options[0].options == "a=1    b=2 c=3");
    CHECK(config.options[0].origin.line == 2);
    CHECK(config.options[0].origin.text == "options m a=1    b=2 c=3");
    REQUIRE(config.blacklist.size() == 1);
    CHECK(config.blacklist[0].module == "xy");  // a backslash before anything else is dropped
    CHECK(config.blacklist[0].origin.line == 5);
    REQUIRE(config.install_commands.size() == 1);
    CHECK(config.install_commands[0].command == "/bin/sh -c 'exit 1'");
    CHECK(config.install_commands[0].origin.line == 6);
}

TEST_CASE("comments begin a line; malformed lines are listed, not applied", "[config]") {
    const ModprobeConfig config = parsed(
        "#blacklist a\n"
        "  # indented: not a comment to kmod\n"
        "blacklist b # a '#' later is a word\n"
        "options m\n"
        "install m   \n"
        "blacklist\n"
        "blacklist bad]name\n"
        "alias only_one\n"
        "softdep m\n"
        "   \t  \n");
    CHECK(config.blacklist.size() == 1);
    CHECK(config.blacklisted("b") != nullptr);
    CHECK(config.options.empty());
    CHECK(config.install_commands.empty());
    CHECK(config.aliases.empty());
    CHECK(config.softdeps.empty());
    std::vector<std::pair<unsigned, std::string>> ignored;
    for (const ConfigIgnored& i : config.ignored) {
        ignored.emplace_back(i.origin.line, i.reason);
    }
    CHECK(ignored == std::vector<std::pair<unsigned, std::string>>{{2, "unknown directive"},
                                                                   {4, "no options"},
                                                                   {5, "no command"},
                                                                   {6, "no module name"},
                                                                   {7, "bad module name"},
                                                                   {8, "no module name"},
                                                                   {9, "no dependencies"}});
}

TEST_CASE("module names are normalized as kmod does, patterns keep their brackets", "[config]") {
    const ModprobeConfig config = parsed(
        "blacklist crc-itu-t\n"
        "install snd-[a-z]* /bin/true\n"
        "options foo-bar x-y=1\n");
    CHECK(config.blacklisted("crc_itu_t") != nullptr);
    CHECK(config.blacklisted("crc-itu-t") == nullptr);  // callers pass normalized names
    REQUIRE(config.install_commands.size() == 1);
    CHECK(config.install_commands[0].module == "snd_[a-z]*");
    CHECK(config.install_command("snd_hda") != nullptr);
    CHECK(config.install_command("snd_x") != nullptr);
    CHECK(config.install_command("snd_") == nullptr);
    CHECK(config.install_command("usb_storage") == nullptr);
    CHECK(options_of(config, "foo_bar") == std::vector<std::string>{"x-y=1"});
}

TEST_CASE("install and softdep take the first matching line; options gather all", "[config]") {
    const ModprobeConfig config = parsed(
        "install m /bin/first\n"
        "install m /bin/second\n"
        "softdep m pre: a\n"
        "softdep m post: b\n"
        "options m x=1\n"
        "options other y=1\n"
        "options m x=2\n");
    CHECK(config.install_command("m")->command == "/bin/first");
    auto softdeps = config.softdeps_for("m");
    REQUIRE(softdeps);
    CHECK(softdeps->pre == std::vector<std::string>{"a"});
    CHECK(softdeps->post.empty());
    CHECK(config.options_text("m") == "x=1 x=2");
    CHECK(config.options_text("none").empty());
    CHECK(!config.softdeps_for("none"));
}

TEST_CASE("the kernel command line gives options after the files', and a blacklist", "[config]") {
    Root r;
    r.write("/etc/modprobe.d/a.conf", "options nf_conntrack hashsize=2\n");
    r.write("/proc/cmdline",
            "BOOT_IMAGE=/vmlinuz-6.1 root=/dev/vda1 ro nf-conntrack.hashsize=1 "
            "modprobe.blacklist=pcspkr,snd-pcsp quiet\n");
    const ModprobeConfig config = r.read();
    const auto options = config.options_for("nf_conntrack");
    REQUIRE(options.size() == 2);
    CHECK(options[0]->options == "hashsize=2");
    CHECK(options[1]->options == "hashsize=1");
    CHECK(options[1]->origin.source == ConfigSource::kernel_cmdline);
    CHECK(options[1]->origin.where() == r.at("/proc/cmdline").string());
    CHECK(options[1]->origin.text == "nf-conntrack.hashsize=1");
    CHECK(config.options_text("nf_conntrack") == "hashsize=2 hashsize=1");
    const ConfigBlacklist* black = config.blacklisted("snd_pcsp");
    REQUIRE(black != nullptr);
    CHECK(black->origin.text == "modprobe.blacklist=pcspkr,snd-pcsp");
    CHECK(config.blacklisted("pcspkr") != nullptr);
    // Neither root= nor BOOT_IMAGE= nor ro names a module parameter.
    CHECK(config.options.size() == 2);
    CHECK(config.blacklist.size() == 2);
}

TEST_CASE("the kernel command line is read with kmod's quoting rules", "[config]") {
    SECTION("a quoted value keeps its spaces and its quotes, for the kernel to parse") {
        const ModprobeConfig config = cmdline("m.tag=\"two words\" n.x=1");
        CHECK(options_of(config, "m") == std::vector<std::string>{"tag=\"two words\""});
        CHECK(options_of(config, "n") == std::vector<std::string>{"x=1"});
    }
    SECTION("a quote the bootloader moved to the start of the word goes back to the value") {
        const ModprobeConfig config =
            cmdline("\"parport.dyndbg=file drivers/parport/ieee1284_ops.c +mpf\" q.y=2");
        CHECK(options_of(config, "parport") ==
              std::vector<std::string>{"dyndbg=\"file drivers/parport/ieee1284_ops.c +mpf\""});
        REQUIRE(config.options_for("parport").size() == 1);
        CHECK(config.options_for("parport")[0]->origin.text ==
              "\"parport.dyndbg=file drivers/parport/ieee1284_ops.c +mpf\"");
        CHECK(options_of(config, "q") == std::vector<std::string>{"y=2"});
    }
    SECTION("a parameter without a value, dashes in the name, a dot too many") {
        const ModprobeConfig config = cmdline("usbcore.nousb snd-hda.x=1 rd.luks.uuid=abc a.b.c");
        CHECK(options_of(config, "usbcore") == std::vector<std::string>{"nousb"});
        CHECK(options_of(config, "snd_hda") == std::vector<std::string>{"x=1"});
        CHECK(config.options.size() == 2);
    }
    SECTION("a quote anywhere but in a value or at the start spoils all up to the next") {
        CHECK(cmdline("a\"b.c=1 m.p=v").options.empty());
        const ModprobeConfig config = cmdline("a\"b\".c=1 m.p=v");
        CHECK(options_of(config, "m") == std::vector<std::string>{"p=v"});
        CHECK(config.options.size() == 1);
    }
    SECTION("an unclosed quote in a value loses the rest, as kmod does") {
        const ModprobeConfig config = cmdline("k.z=0 m.p=\"a b n.x=1");
        CHECK(options_of(config, "k") == std::vector<std::string>{"z=0"});
        CHECK(config.options.size() == 1);
    }
    SECTION("a bad module name is listed") {
        const ModprobeConfig config = cmdline("a]b.x=1");
        CHECK(config.options.empty());
        REQUIRE(config.ignored.size() == 1);
        CHECK(config.ignored[0].reason == "bad module name");
    }
}

TEST_CASE("softdeps: the module's own modinfo stands in for modules.softdep, in its place",
          "[config]") {
    Root r;
    r.write("/lib/modules/6.1.0-test/modules.softdep",
            "# Soft dependencies extracted from modules themselves.\n"
            "softdep m pre: stale\n"
            "softdep other pre: o1\n");
    const ModuleInfo own = module_with_softdeps("m", {"pre: crc32c post: x-y", "pre: second"});
    const ModuleInfo none = module_with_softdeps("m", {});
    SECTION("alone, modules.softdep is what depmod wrote") {
        const ModprobeConfig config = r.read();
        auto deps = config.softdeps_for("m");
        REQUIRE(deps);
        CHECK(deps->pre == std::vector<std::string>{"stale"});
        CHECK(deps->origin.source == ConfigSource::modules_softdep);
        CHECK(deps->origin.where() ==
              r.at("/lib/modules/6.1.0-test/modules.softdep").string() + ":2");
    }
    SECTION("with the module file, its first softdep= counts, as depmod's first line would") {
        const ModprobeConfig config = r.read();
        auto deps = config.softdeps_for("m", &own, "/tmp/m.ko");
        REQUIRE(deps);
        CHECK(deps->pre == std::vector<std::string>{"crc32c"});
        CHECK(deps->post == std::vector<std::string>{"x_y"});
        CHECK(deps->origin.source == ConfigSource::modinfo);
        CHECK(deps->origin.where() == "/tmp/m.ko");
        CHECK(deps->origin.text == "softdep=pre: crc32c post: x-y");
        CHECK(!config.softdeps_for("m", &none, "/tmp/m.ko"));
        CHECK(config.softdeps_for("other")->pre == std::vector<std::string>{"o1"});
    }
    SECTION("a file sorting before modules.softdep overrides the modinfo") {
        r.write("/etc/modprobe.d/local.conf", "softdep m pre: mine\n");
        const ModprobeConfig config = r.read();
        CHECK(config.softdeps_for("m", &own)->pre == std::vector<std::string>{"mine"});
        CHECK(config.softdeps_for("m")->pre == std::vector<std::string>{"mine"});
    }
    SECTION("a file sorting after modules.softdep does not") {
        r.write("/etc/modprobe.d/zz.conf", "softdep m pre: mine\n");
        const ModprobeConfig config = r.read();
        CHECK(config.softdeps_for("m", &own)->pre == std::vector<std::string>{"crc32c"});
        CHECK(config.softdeps_for("m")->pre == std::vector<std::string>{"stale"});
        CHECK(config.softdeps_for("m", &none)->pre == std::vector<std::string>{"mine"});
    }
    SECTION("without modules.softdep, the modinfo still sits in its place") {
        fs::remove(r.at("/lib/modules/6.1.0-test/modules.softdep"));
        r.write("/etc/modprobe.d/zz.conf", "softdep m pre: late\n");
        r.write("/etc/modprobe.d/aa.conf", "blacklist nothing\n");
        const ModprobeConfig config = r.read();
        CHECK(config.softdeps_for("m", &own)->pre == std::vector<std::string>{"crc32c"});
        CHECK(config.softdeps_for("m")->pre == std::vector<std::string>{"late"});
    }
}

TEST_CASE("a file or folder another user could write is not read, and is listed", "[config]") {
    Root r;
    r.write("/lib/modprobe.d/harden.conf", "install nf_conntrack /bin/false\n");
    r.write("/etc/modprobe.d/harden.conf", "blacklist from_etc\n");
    const fs::path etc_file = r.at("/etc/modprobe.d/harden.conf");
    SECTION("a file writable by others: it neither applies nor hides the next of its name") {
        REQUIRE(::chmod(etc_file.c_str(), 0666) == 0);
        const ModprobeConfig config = r.read();
        CHECK(config.blacklisted("from_etc") == nullptr);
        CHECK(config.install_command("nf_conntrack") != nullptr);
        REQUIRE(config.refused.size() == 1);
        CHECK(config.refused[0].path == etc_file);
        CHECK(config.refused[0].reason == "writable by others (mode 0666)");
    }
    SECTION("a folder writable by others") {
        REQUIRE(::chmod(r.at("/etc/modprobe.d").c_str(), 0777) == 0);
        const ModprobeConfig config = r.read();
        CHECK(config.blacklisted("from_etc") == nullptr);
        CHECK(config.install_command("nf_conntrack") != nullptr);
        REQUIRE(config.refused.size() == 1);
        CHECK(config.refused[0].path == r.at("/etc/modprobe.d"));
        CHECK(config.refused[0].reason == "folder writable by others (mode 0777)");
    }
    SECTION("a file owned by another user") {
        if (::geteuid() != 0) {
            FAIL("only root can give a file away");
        }
        REQUIRE(::chown(etc_file.c_str(), 4242, 4242) == 0);
        const ModprobeConfig config = r.read();
        CHECK(config.blacklisted("from_etc") == nullptr);
        REQUIRE(config.refused.size() == 1);
        CHECK(config.refused[0].reason == "owned by uid 4242");
    }
    SECTION("a link to a file in a folder others can write") {
        const fs::path open_folder = r.at("/tmp/open");
        fs::create_directories(open_folder);
        REQUIRE(::chmod(open_folder.c_str(), 01777) == 0);
        write_text(open_folder / "evil.conf", "install xfs /bin/sh /tmp/open/x\n");
        REQUIRE(::chmod((open_folder / "evil.conf").c_str(), 0644) == 0);
        fs::create_symlink(open_folder / "evil.conf", r.at("/etc/modprobe.d/evil.conf"));
        const ModprobeConfig config = r.read();
        CHECK(config.install_command("xfs") == nullptr);
        REQUIRE(config.refused.size() == 1);
        CHECK(config.refused[0].path == r.at("/etc/modprobe.d/evil.conf"));
        CHECK(config.refused[0].reason ==
              "in folder " + open_folder.string() + ", which is sticky (mode 1777)");
    }
    SECTION("a link to /dev/null masks the file of its name, as systemd's convention has it") {
        fs::create_symlink("/dev/null", r.at("/etc/modprobe.d/masked.conf"));
        r.write("/lib/modprobe.d/masked.conf", "blacklist masked\n");
        const ModprobeConfig config = r.read();
        CHECK(config.blacklisted("masked") == nullptr);
        CHECK(config.refused.empty());
    }
    SECTION("a folder named like a file is skipped, as kmod does") {
        fs::create_directories(r.at("/etc/modprobe.d/sub.conf"));
        r.write("/lib/modprobe.d/sub.conf", "blacklist sub\n");
        const ModprobeConfig config = r.read();
        CHECK(config.blacklisted("sub") != nullptr);
        REQUIRE(config.ignored.size() == 1);
        CHECK(config.ignored[0].reason == "a folder, not read");
    }
}

TEST_CASE("a file or folder that cannot be read is an error naming it; a signal is retried",
          "[config]") {
    Root r;
    r.write("/etc/modprobe.d/harden.conf", "install nf_conntrack /bin/false\n");
    r.write("/lib/modprobe.d/other.conf", "options m x=1\n");
    r.write("/lib/modules/6.1.0-test/modules.softdep", "softdep m pre: n\n");
    r.write("/proc/cmdline", "m.y=2 modprobe.blacklist=q\n");
    const ModprobeConfig whole = r.read();
    REQUIRE(whole.files.size() == 4);
    std::size_t calls = 0;
    {
        const FixtureSystem system(r.path);
        FaultingSystem faults(*system);
        (void)read_modprobe_config(faults, kRelease);
        calls = faults.calls().size();
    }
    REQUIRE(calls > 10);
    // Every call fails once with each errno: the reading stops with an error that names the
    // file or folder, or (a read interrupted by a signal) goes on to the same configuration.
    for (int code : {EINTR, ENOMEM, EPERM, EACCES, EIO}) {
        for (std::size_t at = 1; at <= calls; ++at) {
            const FixtureSystem system(r.path);
            FaultingSystem faults(*system, at, code);
            auto config = read_modprobe_config(faults, kRelease);
            INFO("errno " << code << " at call " << at << " (" << faults.failed().call << " "
                          << faults.failed().path << ")");
            REQUIRE(faults.injected());
            if (config) {
                CHECK(code == EINTR);
                CHECK(faults.failed().call.starts_with("read"));
                CHECK(config->files == whole.files);
                CHECK(config->options.size() == whole.options.size());
                CHECK(config->install_commands.size() == 1);
            } else {
                CHECK(config.error().code == code);
                CHECK(config.error().detail == faults.failed().path);
            }
        }
    }
}
