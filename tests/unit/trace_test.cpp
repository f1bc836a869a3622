#include <cerrno>
#include <chrono>
#include <csignal>
#include <deque>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <modload/trace.hpp>
#include <modload/unique_fd.hpp>

#include "fixtures.hpp"

using namespace modload;
using modload::testing::FakeKernel;
using modload::testing::fixture_root;
using modload::testing::FixtureSystem;
using modload::testing::read_text;
using modload::testing::run_tool;
using modload::testing::ScratchDir;
using modload::testing::write_text;

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kEventNames = {"module_get", "module_put", "module_free"};

// The files of tracefs that a trace touches: the module events with their enable and filter
// files, as the kernel fills the top level and each new instance.
void fill_events(const fs::path& folder) {
    for (const std::string& event : kEventNames) {
        write_text(folder / "events/module" / event / "enable", "0\n");
        write_text(folder / "events/module" / event / "filter", "none\n");
    }
}

// Stands in for the kernel: mount fills the mount point with a tracefs tree, mkdir in
// instances/ fills the new folder, rmdir takes it along; calls are recorded relative to the root.
class FakeTracefs final : public TracefsInterface {
  public:
    explicit FakeTracefs(fs::path root) : root_(std::move(root)) {}

    std::vector<std::string> calls;
    std::map<std::string, int> failures;  ///< "mount", "unmount", ... -> errno
    bool with_events = true;              ///< the mounted tracefs has the module events
    bool fifo = false;                    ///< trace_pipe is a FIFO, not a regular file
    /// Each enable file of the instance when it was removed.
    std::map<std::string, std::string> enable_at_removal;

    Result<void> mount(const fs::path& target) override {
        if (auto r = record("mount", target); !r) {
            return r;
        }
        fs::create_directories(target / "instances");
        if (with_events) {
            fill_events(target);
        }
        return {};
    }
    Result<void> unmount(const fs::path& target) override {
        if (auto r = record("unmount", target); !r) {
            return r;
        }
        for (const auto& entry : fs::directory_iterator(target)) {
            fs::remove_all(entry.path());
        }
        return {};
    }
    Result<void> make_instance(const fs::path& folder) override {
        if (auto r = record("make_instance", folder); !r) {
            return r;
        }
        if (!fs::create_directory(folder)) {
            return make_error(EEXIST, folder.string());
        }
        fill_events(folder);
        write_text(folder / "buffer_percent", "50\n");
        if (fifo) {
            REQUIRE(::mkfifo((folder / "trace_pipe").c_str(), 0600) == 0);
        } else {
            write_text(folder / "trace_pipe", "");
        }
        return {};
    }
    Result<void> remove_instance(const fs::path& folder) override {
        if (auto r = record("remove_instance", folder); !r) {
            return r;
        }
        for (const std::string& event : kEventNames) {
            const fs::path enable = folder / "events/module" / event / "enable";
            enable_at_removal[event] = fs::is_regular_file(enable) ? read_text(enable) : "?";
        }
        fs::remove_all(folder);
        return {};
    }

  private:
    Result<void> record(const std::string& call, const fs::path& path) {
        calls.push_back(call + " " + path.lexically_relative(root_).string());
        if (const auto it = failures.find(call); it != failures.end()) {
            return make_error(it->second, call);
        }
        return {};
    }

    fs::path root_;
};

// A root whose /proc/self/mountinfo has tracefs at `mount_point` (none: not mounted), with the
// mount point's folder in place.
void make_root(const fs::path& root, const std::string& mount_point = "/sys/kernel/tracing") {
    std::string mountinfo =
        "22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
        "23 1 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n";
    fs::create_directories(root / "sys/kernel/tracing");
    if (!mount_point.empty()) {
        mountinfo += "31 22 0:12 / " + mount_point +
                     " rw,nosuid,nodev,noexec,relatime shared:14 - tracefs tracefs rw\n";
        const fs::path tracefs = FixtureSystem(root)->path(mount_point);
        fs::create_directories(tracefs / "instances");
        fill_events(tracefs);
    }
    write_text(root / "proc/self/mountinfo", mountinfo);
}

const std::vector<std::string> kLabDev = {"lab_dev"};

// A fixture system that outlives the trace that keeps it (to the end of the program).
modload::System& kept_system(const fs::path& root) {
    static std::deque<FixtureSystem> systems;
    return systems.emplace_back(root);
}

void append(const fs::path& path, const std::string& text) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    REQUIRE(fd.valid());
    REQUIRE(::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()));
}

extern "C" void on_test_alarm(int) {}

}  // namespace

TEST_CASE("a trace line of module_get gives the task, the call site and /proc/modules' refcount",
          "[trace]") {
    const auto event = parse_module_event(
        "             cat-4242    [001] ..... 12.345678: module_get: lab_dev call_site=misc_open "
        "refcnt=2\n");
    REQUIRE(event);
    CHECK(event->kind == ModuleEventKind::get);
    CHECK(event->module == "lab_dev");
    CHECK(event->command == "cat");
    CHECK(event->pid == 4242);
    CHECK(event->cpu == 1);
    CHECK(event->time == std::chrono::microseconds(12345678));
    CHECK(event->call_site == "misc_open");
    CHECK(event->refcount == 1);  // the kernel's counter holds the base reference as well

    const auto put = parse_module_event(
        "  cat-4242  [000] d..1.   900.000001: module_put: lab_dev call_site=__fput refcnt=1");
    REQUIRE(put);
    CHECK(put->kind == ModuleEventKind::put);
    CHECK(put->call_site == "__fput");
    CHECK(put->refcount == 0);
    CHECK(put->time == std::chrono::microseconds(900000001));
}

TEST_CASE("a comm with spaces, dashes and brackets keeps its pid apart", "[trace]") {
    SECTION("spaces and dashes: the pid follows the last dash") {
        const auto event = parse_module_event(
            "  busybox-my cat-77      [000] ..... 5.000010: module_put: lab_dev "
            "call_site=__fput refcnt=1");
        REQUIRE(event);
        CHECK(event->command == "busybox-my cat");
        CHECK(event->pid == 77);
    }
    SECTION("a comm that looks like a cpu field") {
        const auto event = parse_module_event(
            "  a-1 [2] b-9-31337 [003] .... 1.5: module_get: lab_dev call_site=misc_open "
            "refcnt=3");
        REQUIRE(event);
        CHECK(event->command == "a-1 [2] b-9");
        CHECK(event->pid == 31337);
        CHECK(event->cpu == 3);
        CHECK(event->time == std::chrono::microseconds(1500000));
        CHECK(event->refcount == 2);
    }
    SECTION("an unknown comm, no flags column, and a tgid column") {
        const auto unknown = parse_module_event(
            "           <...>-12      [000] 3.000000: module_get: lab_dev call_site=misc_open "
            "refcnt=2");
        REQUIRE(unknown);
        CHECK(unknown->command == "<...>");
        CHECK(unknown->pid == 12);
        const auto tgid = parse_module_event(
            "   kworker/0:1-20 (     20) [000] ..... 3.000000: module_put: lab_hold "
            "call_site=lab_hold_release [lab_hold] refcnt=1");
        REQUIRE(tgid);
        CHECK(tgid->command == "kworker/0:1");
        CHECK(tgid->pid == 20);
        CHECK(tgid->call_site == "lab_hold_release [lab_hold]");
    }
}

TEST_CASE("module_free is the module going away, with no refcount", "[trace]") {
    const auto event =
        parse_module_event("          rmmod-300     [000] ..... 20.000000: module_free: lab_dev");
    REQUIRE(event);
    CHECK(event->kind == ModuleEventKind::free);
    CHECK(event->module == "lab_dev");
    CHECK(event->command == "rmmod");
    CHECK(event->pid == 300);
    CHECK_FALSE(event->refcount);
    CHECK(event->call_site.empty());
}

TEST_CASE("lines that are no module event are not taken for one", "[trace]") {
    const std::vector<std::string> lines = {
        "",
        "# tracer: nop",
        "CPU:0 [LOST 3 EVENTS]",
        "  cat-1 [000] ..... 1.000000: sched_switch: prev_comm=cat",
        "  cat-1 [000] ..... 1.000000: module_load: lab_dev OE",
        "  cat-1 [000] ..... 1.000000: module_get: lab_dev call_site=misc_open",
        "  cat-1 [000] ..... 1.000000: module_get: lab_dev call_site=misc_open refcnt=x",
        "  cat-1 [000] ..... 1.000000: module_get: lab_dev refcnt=2",
        "  cat-1 [000] ..... 1.000000: module_get: lab/dev call_site=misc_open refcnt=2",
        "  cat-1 [000] ..... 1.000000: module_free: two words",
        "  cat-1 [000] ..... 1.x: module_get: lab_dev call_site=misc_open refcnt=2",
        "  cat-1 [000] a b 1.000000: module_get: lab_dev call_site=misc_open refcnt=2",
        "  cat-x [000] ..... 1.000000: module_get: lab_dev call_site=misc_open refcnt=2",
        "  cat [000] ..... 1.000000: module_get: lab_dev call_site=misc_open refcnt=2",
        "  cat-1 [0x0] ..... 1.000000: module_get: lab_dev call_site=misc_open refcnt=2",
        "  cat-1 [000] ..... 1.000000 module_get: lab_dev call_site=misc_open refcnt=2",
        "  cat-1 [000",
        "\x01\xff garbage [[[ ]]] -- : :",
    };
    for (const std::string& line : lines) {
        INFO(line);
        CHECK_FALSE(parse_module_event(line));
    }
}

TEST_CASE("the event filter keeps the named modules only", "[trace]") {
    const std::vector<std::string> one = {"lab_dev"};
    CHECK(module_event_filter(one).value() == "name == \"lab_dev\"");
    const std::vector<std::string> two = {"lab_dev", "lab_provider"};
    CHECK(module_event_filter(two).value() == "name == \"lab_dev\" || name == \"lab_provider\"");

    CHECK(module_event_filter(std::vector<std::string>{}).error().code == EINVAL);
    for (const std::string bad : {"a\"b", "a/b", "", "a b", "a\\b"}) {
        INFO(bad);
        CHECK(module_event_filter(std::vector<std::string>{"lab_dev", bad}).error().code == EINVAL);
    }
}

TEST_CASE("a trace on mounted tracefs makes its instance and takes it away again", "[trace]") {
    ScratchDir root;
    make_root(root.path());
    FakeTracefs tracefs(root.path());
    const fs::path top = root / "sys/kernel/tracing";
    const fs::path instance = top / "instances/test-1";
    const std::vector<std::string> names = {"lab_dev", "lab_user"};
    {
        auto trace = ModuleTrace::open(kept_system(root.path()), names, "test-1", tracefs);
        REQUIRE(trace);
        CHECK(trace->tracefs() == top);
        CHECK(trace->instance() == instance);
        CHECK_FALSE(trace->mounted_tracefs());
        CHECK(tracefs.calls ==
              std::vector<std::string>{"make_instance sys/kernel/tracing/instances/test-1"});
        for (const std::string& event : kEventNames) {
            INFO(event);
            const fs::path folder = instance / "events/module" / event;
            CHECK(read_text(folder / "filter") == "name == \"lab_dev\" || name == \"lab_user\"\n");
            CHECK(read_text(folder / "enable") == "1\n");
            // The system's own trace is left alone.
            CHECK(read_text(top / "events/module" / event / "enable") == "0\n");
            CHECK(read_text(top / "events/module" / event / "filter") == "none\n");
        }
        CHECK(read_text(instance / "buffer_percent") == "0\n");

        REQUIRE(trace->close());
        CHECK_FALSE(fs::exists(instance));
        CHECK(tracefs.calls ==
              std::vector<std::string>{"make_instance sys/kernel/tracing/instances/test-1",
                                       "remove_instance sys/kernel/tracing/instances/test-1"});
        for (const std::string& event : kEventNames) {
            CHECK(tracefs.enable_at_removal[event] == "0\n");
        }
        REQUIRE(trace->close());  // a second close does nothing
    }
    CHECK(tracefs.calls.size() == 2);  // nor does the destructor after close
}

TEST_CASE("a trace mounts tracefs when it is not mounted, and unmounts it at the end", "[trace]") {
    ScratchDir root;
    make_root(root.path(), "");
    FakeTracefs tracefs(root.path());
    {
        auto trace = ModuleTrace::open(kept_system(root.path()), kLabDev, "t", tracefs);
        REQUIRE(trace);
        CHECK(trace->mounted_tracefs());
        CHECK(fs::exists(root / "sys/kernel/tracing/instances/t/trace_pipe"));
        // No close(): the destructor undoes it all.
    }
    CHECK(tracefs.calls ==
          std::vector<std::string>{
              "mount sys/kernel/tracing", "make_instance sys/kernel/tracing/instances/t",
              "remove_instance sys/kernel/tracing/instances/t", "unmount sys/kernel/tracing"});
    CHECK(fs::is_empty(root / "sys/kernel/tracing"));
}

TEST_CASE("tracefs below debugfs is used where it is", "[trace]") {
    ScratchDir root;
    make_root(root.path(), "/sys/kernel/debug/tracing");
    FakeTracefs tracefs(root.path());
    auto trace = ModuleTrace::open(kept_system(root.path()), kLabDev, "t", tracefs);
    REQUIRE(trace);
    CHECK(trace->tracefs() == root / "sys/kernel/debug/tracing");
    CHECK_FALSE(trace->mounted_tracefs());
    REQUIRE(trace->close());
    CHECK(tracefs.calls ==
          std::vector<std::string>{"make_instance sys/kernel/debug/tracing/instances/t",
                                   "remove_instance sys/kernel/debug/tracing/instances/t"});
}

TEST_CASE("a kernel without tracefs or its module events fails clearly and leaves nothing",
          "[trace]") {
    ScratchDir root;
    FakeTracefs tracefs(root.path());
    SECTION("no mount point: no tracefs") {
        make_root(root.path(), "");
        fs::remove(root / "sys/kernel/tracing");
        auto trace = ModuleTrace::open(kept_system(root.path()), kLabDev, "t", tracefs);
        REQUIRE_FALSE(trace);
        CHECK(trace.error().code == ENODEV);
        CHECK(tracefs.calls.empty());
    }
    SECTION("mounting it fails: nothing to unmount") {
        make_root(root.path(), "");
        tracefs.failures["mount"] = EPERM;
        auto trace = ModuleTrace::open(kept_system(root.path()), kLabDev, "t", tracefs);
        REQUIRE_FALSE(trace);
        CHECK(trace.error().code == EPERM);
        CHECK(tracefs.calls == std::vector<std::string>{"mount sys/kernel/tracing"});
    }
    SECTION("no module events in a tracefs it mounted: unmounted again") {
        make_root(root.path(), "");
        tracefs.with_events = false;
        auto trace = ModuleTrace::open(kept_system(root.path()), kLabDev, "t", tracefs);
        REQUIRE_FALSE(trace);
        CHECK(trace.error().code == ENOENT);
        CHECK(trace.error().detail.find("module:module_get") != std::string::npos);
        CHECK(tracefs.calls ==
              std::vector<std::string>{"mount sys/kernel/tracing", "unmount sys/kernel/tracing"});
    }
    SECTION("no /proc/self/mountinfo") {
        auto trace = ModuleTrace::open(kept_system(root.path()), kLabDev, "t", tracefs);
        REQUIRE_FALSE(trace);
        CHECK(trace.error().code == ENOENT);
        CHECK(tracefs.calls.empty());
    }
}

// The fake tracefs with one file of each new instance spoilt (a folder where the kernel has a
// file, or nothing), and optionally an instance that cannot be removed.
struct SpoiltTracefs final : TracefsInterface {
    FakeTracefs& inner;
    fs::path spoilt;             // relative to the instance
    bool folder_instead = true;  // else the file is just gone
    int remove_error = 0;
    SpoiltTracefs(FakeTracefs& f, fs::path file) : inner(f), spoilt(std::move(file)) {}
    Result<void> mount(const fs::path& t) override { return inner.mount(t); }
    Result<void> unmount(const fs::path& t) override { return inner.unmount(t); }
    Result<void> make_instance(const fs::path& folder) override {
        auto r = inner.make_instance(folder);
        fs::remove(folder / spoilt);
        if (folder_instead) {
            fs::create_directory(folder / spoilt);
        }
        return r;
    }
    Result<void> remove_instance(const fs::path& f) override {
        if (remove_error != 0) {
            return make_error(remove_error, "removing the instance");
        }
        return inner.remove_instance(f);
    }
};

TEST_CASE("a failure half-way through the setup undoes what was done", "[trace]") {
    ScratchDir root;
    make_root(root.path(), "");
    FakeTracefs tracefs(root.path());
    const fs::path instance = root / "sys/kernel/tracing/instances/t";
    const std::vector<std::string> mounted_and_removed = {
        "mount sys/kernel/tracing", "make_instance sys/kernel/tracing/instances/t",
        "remove_instance sys/kernel/tracing/instances/t", "unmount sys/kernel/tracing"};
    SECTION("the instance is there already: it is not ours to remove") {
        tracefs.failures["make_instance"] = EEXIST;
        auto trace = ModuleTrace::open(kept_system(root.path()), kLabDev, "t", tracefs);
        REQUIRE_FALSE(trace);
        CHECK(trace.error().code == EEXIST);
        CHECK(tracefs.calls ==
              std::vector<std::string>{"mount sys/kernel/tracing",
                                       "make_instance sys/kernel/tracing/instances/t",
                                       "unmount sys/kernel/tracing"});
    }
    SECTION("a filter cannot be written") {
        // The fake's mkdir is not the kernel's: replace a file it made by a folder afterwards.
        SpoiltTracefs bad(tracefs, "events/module/module_put/filter");
        auto trace = ModuleTrace::open(kept_system(root.path()), kLabDev, "t", bad);
        REQUIRE_FALSE(trace);
        CHECK(trace.error().code == EISDIR);
        CHECK(trace.error().detail.find("module_put/filter") != std::string::npos);
        CHECK(tracefs.calls == mounted_and_removed);
        CHECK_FALSE(fs::exists(instance));
    }
    SECTION("an event cannot be enabled: those enabled are disabled again") {
        SpoiltTracefs bad(tracefs, "events/module/module_free/enable");
        auto trace = ModuleTrace::open(kept_system(root.path()), kLabDev, "t", bad);
        REQUIRE_FALSE(trace);
        CHECK(trace.error().code == EISDIR);
        CHECK(tracefs.calls == mounted_and_removed);
        CHECK(tracefs.enable_at_removal["module_get"] == "0\n");
        CHECK(tracefs.enable_at_removal["module_put"] == "0\n");
    }
    SECTION("cleaning up fails too: both are said, and the rest is still undone") {
        tracefs.with_events = true;
        SpoiltTracefs bad(tracefs, "trace_pipe");
        bad.folder_instead = false;
        bad.remove_error = EBUSY;
        auto trace = ModuleTrace::open(kept_system(root.path()), kLabDev, "t", bad);
        REQUIRE_FALSE(trace);
        CHECK(trace.error().code == ENOENT);
        CHECK(trace.error().detail.find("trace_pipe") != std::string::npos);
        CHECK(trace.error().detail.find("then cleaning up: Device or resource busy") !=
              std::string::npos);
        CHECK(tracefs.calls.back() == "unmount sys/kernel/tracing");
    }
}

TEST_CASE("a bad module name or instance name is refused before anything is touched", "[trace]") {
    ScratchDir root;
    make_root(root.path(), "");
    FakeTracefs tracefs(root.path());
    const std::vector<std::string> bad = {"lab\"dev"};
    CHECK(ModuleTrace::open(kept_system(root.path()), bad, "t", tracefs).error().code == EINVAL);
    CHECK(ModuleTrace::open(kept_system(root.path()), kLabDev, "../t", tracefs).error().code ==
          EINVAL);
    CHECK(ModuleTrace::open(kept_system(root.path()), kLabDev, "", tracefs).error().code == EINVAL);
    CHECK(tracefs.calls.empty());
}

TEST_CASE("reading the trace gives whole lines as events, losses and the rest", "[trace]") {
    ScratchDir root;
    make_root(root.path());
    FakeTracefs tracefs(root.path());
    auto trace = ModuleTrace::open(kept_system(root.path()), kLabDev, "t", tracefs);
    REQUIRE(trace);
    const fs::path pipe = trace->instance() / "trace_pipe";

    auto empty = trace->read(std::chrono::milliseconds(0));
    REQUIRE(empty);
    CHECK(empty->events.empty());

    append(pipe,
           "  cat-5 [000] ..... 1.000001: module_get: lab_dev call_site=misc_open refcnt=2\n"
           "  cat-5 [000] ..... 1.000002: module_put: lab_dev call_site=__fput refcnt=1\n"
           "  rmmod-6 [000] ..... 2.0000");
    auto first = trace->read(std::chrono::milliseconds(0));
    REQUIRE(first);
    REQUIRE(first->events.size() == 2);
    CHECK(first->events[0].kind == ModuleEventKind::get);
    CHECK(first->events[1].kind == ModuleEventKind::put);
    CHECK(first->lost == 0);
    CHECK(first->unparsed.empty());

    append(pipe, "00: module_free: lab_dev\nCPU:1 [LOST 17 EVENTS]\nsomething else\n");
    auto second = trace->read(std::chrono::milliseconds(0));
    REQUIRE(second);
    REQUIRE(second->events.size() == 1);
    CHECK(second->events[0].kind == ModuleEventKind::free);
    CHECK(second->events[0].pid == 6);
    CHECK(second->lost == 17);
    CHECK(second->unparsed == std::vector<std::string>{"something else"});

    REQUIRE(trace->close());
    CHECK(trace->read(std::chrono::milliseconds(0)).error().code == EBADF);
}

TEST_CASE("reading waits for the trace_pipe up to the timeout, and a signal ends the wait",
          "[trace]") {
    ScratchDir root;
    make_root(root.path());
    FakeTracefs tracefs(root.path());
    tracefs.fifo = true;
    auto trace = ModuleTrace::open(kept_system(root.path()), kLabDev, "t", tracefs);
    REQUIRE(trace);
    // The writer keeps the FIFO open, as the kernel keeps trace_pipe: no end of file.
    UniqueFd writer(::open((trace->instance() / "trace_pipe").c_str(), O_WRONLY | O_CLOEXEC));
    REQUIRE(writer.valid());

    using Clock = std::chrono::steady_clock;
    auto start = Clock::now();
    auto quiet = trace->read(std::chrono::milliseconds(100));
    REQUIRE(quiet);
    CHECK(quiet->events.empty());
    CHECK(Clock::now() - start >= std::chrono::milliseconds(90));

    const std::string line =
        "  cat-5 [000] ..... 1.000001: module_get: lab_dev call_site=misc_open refcnt=2\n";
    REQUIRE(::write(writer.get(), line.data(), line.size()) == static_cast<ssize_t>(line.size()));
    start = Clock::now();
    auto one = trace->read(std::chrono::seconds(10));
    REQUIRE(one);
    CHECK(one->events.size() == 1);
    CHECK(Clock::now() - start < std::chrono::seconds(5));

    // A handler installed without SA_RESTART, as the tools' StopSignals are.
    struct sigaction action {};
    struct sigaction saved {};
    action.sa_handler = on_test_alarm;
    sigemptyset(&action.sa_mask);
    REQUIRE(sigaction(SIGALRM, &action, &saved) == 0);
    itimerval timer{};
    timer.it_value.tv_usec = 50000;
    REQUIRE(setitimer(ITIMER_REAL, &timer, nullptr) == 0);
    start = Clock::now();
    auto interrupted = trace->read(std::chrono::seconds(10));
    const auto waited = Clock::now() - start;
    (void)sigaction(SIGALRM, &saved, nullptr);
    REQUIRE(interrupted);
    CHECK(interrupted->events.empty());
    CHECK(waited < std::chrono::seconds(5));
}

TEST_CASE("a moved trace is undone once, by its new owner", "[trace]") {
    ScratchDir root;
    make_root(root.path());
    FakeTracefs tracefs(root.path());
    auto trace = ModuleTrace::open(kept_system(root.path()), kLabDev, "t", tracefs);
    REQUIRE(trace);
    {
        ModuleTrace moved = std::move(*trace);
        CHECK(tracefs.calls.size() == 1);
    }
    CHECK(tracefs.calls.back() == "remove_instance sys/kernel/tracing/instances/t");
    CHECK(trace->close());
    CHECK(tracefs.calls.size() == 2);
}

TEST_CASE("lsmod --trace of a module that is not loaded says so and traces nothing", "[trace]") {
    FakeKernel kernel;
    const auto run =
        run_tool("lsmod", kernel, fixture_root("basic"), {"--trace", "lab_dev", "nope"});
    CHECK(run.status == 1);
    CHECK(run.out.empty());
    CHECK(run.err == "lsmod: ERROR: Module nope is not currently loaded\n");
}

TEST_CASE("lsmod --trace says which /proc/modules line it left out", "[trace]") {
    FakeKernel kernel;
    const auto run = run_tool("lsmod", kernel, fixture_root("corrupt"), {"--trace", "nope"});
    CHECK(run.status == 1);
    CHECK(run.err ==
          "lsmod: /proc/modules line 2 not understood, left out: this line is not a module\n"
          "lsmod: ERROR: Module nope is not currently loaded\n");
}
