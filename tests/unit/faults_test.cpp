// A fault at every system call ("Trust nothing"), in SQLite's way: each tool path runs once to
// count its calls, then again and again with call 1, 2, 3... failing, for each errno, until a run
// makes fewer calls than the one chosen. File calls fail through the library's seam to the
// system, a FaultingSystem around the test's root (EINTR, ENOMEM, EPERM, EACCES, EIO, and each
// call's own errnos); the module system calls through FaultyKernel, with every errno the kernel
// gives that call (kernel_can_answer). Each run must
//   1. say on stderr what failed: the file (or /proc/modules) or the module, and the error;
//   2. exit 1, or exit 0 where the tool rightly carries on: each such case is listed with its
//      scenario below, with the reason;
//   3. have done nothing it does not report: the model's module table before and after differ by
//      exactly the modules a stopped run names ("still loaded: ...", "stopped: removed ...").
// A read interrupted by a signal (EINTR) is retried, as a read of a regular file or of /proc
// may be, and the run is then the same as without the fault; a module system call interrupted
// by a signal is not retried: the tools stop at SIGINT and SIGTERM.
//
// What the walk finds that is not right yet, outside the files this test may change, is listed in
// each scenario's `known` gaps; a gap that no longer happens fails the test, so that the list
// shrinks as they are fixed.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <modload/module_file.hpp>
#include <modload/snapshot.hpp>

#include "basic_world.hpp"
#include "faulting_system.hpp"
#include "faulty_kernel.hpp"
#include "tool.hpp"

using modload::testing::BasicWorld;
using modload::testing::FaultingSystem;
using modload::testing::FaultyKernel;
using modload::testing::fixture_module;
using modload::testing::FixtureSystem;
using modload::testing::IoCall;
using modload::testing::kernel_can_answer;
using modload::testing::ModelCall;
using modload::testing::ScratchDir;
using modload::testing::ToolRun;
using modload::testing::write_text;
namespace fs = std::filesystem;

namespace {

const std::vector<int> kFileErrnos{EINTR, ENOMEM, EPERM, EACCES, EIO};

// Each file call's own answers (its manual page's ERRORS) beyond the five above: the file is not
// there (after it was seen), a path that loops or grew too long, no descriptor left, a read of a
// folder, a folder removed while listed, a link that is not one. Every call of the walk fails once
// with each of its own.
std::vector<int> own_errnos(const std::string& call) {
    if (call == "opendir") {
        return {ENOENT, ENOTDIR, EMFILE, ENFILE};
    }
    if (call == "fdopendir") {
        return {ENOTDIR};
    }
    if (call == "readdir") {
        return {ENOENT, ENOTDIR, EINVAL};
    }
    if (call == "readlink" || call == "realpath") {
        return {ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EINVAL};
    }
    if (call == "dup") {
        return {EMFILE};
    }
    if (call.starts_with("open")) {
        return {ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EMFILE, ENFILE};
    }
    if (call.starts_with("read") || call.starts_with("pread")) {
        return {EISDIR, EINVAL};
    }
    if (call.starts_with("lseek")) {
        return {EINVAL, EOVERFLOW};
    }
    if (call.starts_with("fstatat") || call.starts_with("stat") || call.starts_with("lstat")) {
        return {ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EOVERFLOW};
    }
    if (call.starts_with("fstat")) {
        return {EOVERFLOW};
    }
    return {};
}

std::vector<int> kernel_errnos(const std::string& syscall) {
    std::vector<int> errnos;
    for (int code = 1; code < 134; ++code) {
        if (kernel_can_answer(syscall, code)) {
            errnos.push_back(code);
        }
    }
    return errnos;
}

std::string errno_name(int code) {
    const char* name = ::strerrorname_np(code);
    return name != nullptr ? name : std::to_string(code);
}

// A known gap: a problem the walk reports whose fix belongs in a file this test does not own.
// It matches the problems whose text contains both `where` and `what` (empty: any problem there).
struct KnownGap {
    std::string where;
    std::string what;
    std::string why;
};

struct Scenario {
    std::string name;  // "insmod --deps FILE"
    std::string tool;
    std::vector<std::string> args;  // "@" stands for the root
    /// Files, relative to the root, whose faults the tool rightly carries on through (the run is
    /// then what it is without the fault, messages included), and why.
    std::map<std::string, std::string> optional;
    /// Files read only to name who holds a module (a key ending in '/' stands for everything
    /// below it), and why: a fault there may cost names, but the run keeps its exit status, its
    /// ERROR lines (kmod's "is in use") and what it did, and says which file could not be read
    /// and why.
    std::map<std::string, std::string> naming = {};
    /// Kernel answers the tool rightly takes as something other than a failure (exit 0 allowed,
    /// the table at most the baseline's change): "delete_module ENOENT", or for one module only
    /// "finit_module EEXIST fixture_base", and why.
    std::map<std::string, std::string> absorbed;
    std::vector<KnownGap> known;
    /// The exit status without a fault.
    int status = 0;
    /// Changes the world before the run (a kernel that refuses, say).
    std::function<void(BasicWorld&)> prepare = {};
};

// tmpfs when there is one: the model rewrites <root>/proc/modules at every change, and on ext4
// closing a file rewritten after truncation waits for its data (auto_da_alloc), which made the
// walk forty times slower.
fs::path scratch_parent() {
    std::error_code ec;
    return fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0
               ? fs::path("/dev/shm")
               : fs::path();
}

// The basic world (BasicWorld: the model with iptable_nat's chain, xfs, lab_dev...; ext4
// builtin), the fixture chain fixture_consumer -> fixture-provider -> fixture_base side by side in
// <root>/modules, an old kernel log, /sys/module/compression, and the files a refusal's
// explanation reads.
struct World : BasicWorld {
    World() : BasicWorld(scratch_parent()) {
        fs::create_directories(root / "modules");
        for (const char* file : {"fixture_consumer.ko", "fixture-provider.ko", "fixture_base.ko"}) {
            fs::copy_file(fixture_module(file), root / "modules" / file);
        }
        write_text(root / "dev/kmsg", "6,1,100,-;an old record\n");
        write_text(root / "sys/module/compression", "zstd\n");
        // What a refusal's explanation reads: an unprivileged user, modules disabled.
        write_text(root / "proc/self/status",
                   "Name:\tinsmod\nUid:\t1000\t1000\t1000\t1000\n"
                   "CapEff:\t0000000000000000\n");
        write_text(root / "proc/self/uid_map", "         0          0 4294967295\n");
        write_text(root / "proc/sys/kernel/modules_disabled", "1\n");
        write_text(root / "proc/cmdline", "root=/dev/vda module_blacklist=fixture_base\n");
        write_text(root / "sys/kernel/security/lockdown", "[none] integrity confidentiality\n");
        write_text(root / "sys/module/module/parameters/sig_enforce", "N\n");
    }
};

// The policy facts a refusal's explanation reads (policy.hpp): unknown when unreadable, and the
// line that rests on one is left out.
const std::vector<std::string> kPolicyFiles{"/proc/self/status",
                                            "/proc/self/uid_map",
                                            "/proc/sys/kernel/modules_disabled",
                                            "/proc/cmdline",
                                            "/sys/kernel/security/lockdown",
                                            "/sys/module/module/parameters/sig_enforce"};

std::set<std::string> table_of(const modload::testing::ModelKernel& kernel) {
    std::set<std::string> names;
    for (const auto& m : kernel.modules()) {
        names.insert(m.name);
    }
    return names;
}

struct Fault {
    enum class Kind { none, file, kernel } kind = Kind::none;
    std::size_t at = 0;
    int errno_value = 0;
};

struct Outcome {
    ToolRun run;
    std::vector<ModelCall> calls;
    std::set<std::string> before;
    std::set<std::string> after;
    std::vector<IoCall> io;
    bool injected = false;
    IoCall failed_io;
    std::string root;

    // The modules added or removed.
    std::set<std::string> changed() const {
        std::set<std::string> out;
        std::set_symmetric_difference(before.begin(), before.end(), after.begin(), after.end(),
                                      std::inserter(out, out.end()));
        return out;
    }
    // `text` with the root, which differs from run to run, written "<root>".
    std::string normalized(std::string text) const {
        for (auto at = text.find(root); at != std::string::npos; at = text.find(root, at)) {
            text.replace(at, root.size(), "<root>");
        }
        return text;
    }
    std::string err() const { return normalized(run.err); }
    std::string out() const { return normalized(run.out); }
    std::string relative(const std::string& path) const {
        return path.rfind(root, 0) == 0 ? path.substr(root.size()) : path;
    }
};

Outcome run_once(const Scenario& s, const Fault& fault) {
    World w;
    if (s.prepare) {
        s.prepare(w);
    }
    Outcome o;
    o.root = w.root.string();
    o.before = table_of(w.kernel);
    std::vector<std::string> args;
    for (const std::string& a : s.args) {
        args.push_back(a.rfind('@', 0) == 0 ? w.root.string() + a.substr(1) : a);
    }
    FaultyKernel kernel(w.kernel, fault.kind == Fault::Kind::kernel ? fault.at : 0,
                        fault.errno_value);
    {
        const FixtureSystem system(w.root, &kernel, &w.clock);
        FaultingSystem faults(*system, fault.kind == Fault::Kind::file ? fault.at : 0,
                              fault.errno_value);
        o.run = run_tool(s.tool, faults, args, "6.1.0-test", 0);
        o.io = faults.calls();
        if (fault.kind == Fault::Kind::file) {
            o.injected = faults.injected();
            o.failed_io = faults.injected() ? faults.failed() : IoCall{};
        }
    }
    if (fault.kind == Fault::Kind::kernel) {
        o.injected = kernel.injected();
    }
    o.calls = w.kernel.calls();
    o.after = table_of(w.kernel);
    modload::tools::clear_stop_signal();
    return o;
}

std::string calls_text(const std::vector<ModelCall>& calls) {
    std::string text;
    for (const ModelCall& c : calls) {
        text += c.syscall + "(" + c.name + ")=" + errno_name(c.answer) + " ";
    }
    return text;
}

std::string names_text(const std::set<std::string>& names) {
    std::string text;
    for (const std::string& n : names) {
        text += (text.empty() ? "" : " ") + n;
    }
    return text.empty() ? "nothing" : text;
}

std::string error_lines(const std::string& err) {
    std::istringstream in(err);
    std::string line;
    std::string out;
    while (std::getline(in, line)) {
        if (line.find(": ERROR: ") != std::string::npos) {
            out += line + '\n';
        }
    }
    return out;
}

// The modules a failed run says it loaded or removed before it stopped.
std::set<std::string> reported_done(const std::string& err) {
    std::set<std::string> names;
    for (const std::string marker : {"still loaded:", "stopped: removed"}) {
        const auto at = err.find(marker);
        if (at == std::string::npos) {
            continue;
        }
        const auto start = at + marker.size();
        const auto end = err.find_first_of(";\n", start);
        std::istringstream words(err.substr(start, end - start));
        std::string word;
        while (words >> word) {
            if (word != "nothing") {
                names.insert(word);
            }
        }
    }
    return names;
}

bool names_module(const std::string& err, const std::string& name) {
    std::string dashed = name;
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    return err.find(name) != std::string::npos || err.find(dashed) != std::string::npos;
}

// What is wrong with a run that had `fault`, compared with the baseline; empty when all is well.
std::vector<std::string> judge(const Scenario& s, const Outcome& base, const Fault& fault,
                               const Outcome& o) {
    std::vector<std::string> problems;
    const bool same_effects = o.changed() == base.changed() && o.out() == base.out();
    std::string subject;       // what a message must name
    std::string optional_why;  // why the tool may carry on
    std::string absorbed_why;
    const ModelCall* failed_call = nullptr;
    std::string naming_why;  // why the fault may cost only names
    if (fault.kind == Fault::Kind::file) {
        subject = o.failed_io.path;
        const std::string relative = o.relative(subject);
        for (const auto& [file, why] : s.optional) {
            if (relative == file) {
                optional_why = why;
            }
        }
        for (const auto& [file, why] : s.naming) {
            if (relative == file || (file.ends_with('/') && relative.starts_with(file))) {
                naming_why = why;
            }
        }
        if (fault.errno_value == EINTR && o.failed_io.call == "read") {
            // A read of a regular file or of /proc that a signal interrupted has read nothing:
            // it is retried, and nothing else changes.
            if (!(same_effects && o.run.status == base.run.status && o.err() == base.err())) {
                problems.push_back("an interrupted read was not retried: exit " +
                                   std::to_string(o.run.status) + ", stderr: " + o.err());
            }
            return problems;
        }
    } else {
        failed_call = &o.calls.at(fault.at - 1);
        subject = failed_call->name;
        const std::string key = failed_call->syscall + " " + errno_name(fault.errno_value);
        for (const std::string& k : {key, key + " " + failed_call->name}) {
            if (const auto it = s.absorbed.find(k); it != s.absorbed.end()) {
                absorbed_why = it->second;
            }
        }
    }

    if (!naming_why.empty()) {
        if (o.run.status != base.run.status || o.changed() != base.changed() ||
            error_lines(o.err()) != error_lines(base.err())) {
            problems.push_back("a fault in naming holders changed the run: exit " +
                               std::to_string(o.run.status) + ", stderr: " + o.err());
        }
        if (o.out() != base.out()) {
            problems.push_back("a fault in naming holders changed the output: " + o.out());
        }
        if (o.err() != base.err() &&
            (o.run.err.find(subject) == std::string::npos ||
             o.run.err.find(std::strerror(fault.errno_value)) == std::string::npos)) {
            problems.push_back("names fewer holders without saying that " + o.relative(subject) +
                               " could not be read (" + std::strerror(fault.errno_value) +
                               "): " + o.err());
        }
        return problems;
    }
    if (!optional_why.empty()) {
        if (o.run.status != base.run.status || !same_effects ||
            error_lines(o.err()) != error_lines(base.err())) {
            problems.push_back("an optional file's fault changed the run: exit " +
                               std::to_string(o.run.status) + ", stderr: " + o.err());
        }
        return problems;
    }
    if (o.run.status == 0) {
        if (!absorbed_why.empty()) {
            const std::set<std::string> changed = o.changed();
            const std::set<std::string> allowed = base.changed();
            if (!std::includes(allowed.begin(), allowed.end(), changed.begin(), changed.end())) {
                problems.push_back("carried on and changed more than without the fault: " +
                                   names_text(changed));
            }
            return problems;
        }
        problems.push_back(std::string("swallowed: exit 0") +
                           (same_effects
                                ? ", the same run as without the fault"
                                : ", a different run: changed " + names_text(o.changed())) +
                           (o.run.err.empty() ? ", and not a word" : ", stderr: " + o.err()));
        return problems;
    }
    if (o.run.status != 1) {
        problems.push_back("exit " + std::to_string(o.run.status));
    }
    if (o.run.err.find(": ERROR: ") == std::string::npos) {
        problems.push_back("no ERROR line: " + o.err());
    }
    if (!o.run.out.empty() && o.out() != base.out()) {
        problems.push_back("printed part of a result: " + o.out());
    }
    if (absorbed_why.empty()) {
        const bool named = fault.kind == Fault::Kind::file
                               ? o.run.err.find(subject) != std::string::npos
                               : names_module(o.run.err, subject);
        if (!named) {
            problems.push_back("does not name " + o.relative(subject) + ": " + o.err());
        }
        const std::string said = std::strerror(fault.errno_value);
        if (o.run.err.find(said) == std::string::npos &&
            (fault.kind == Fault::Kind::file || o.run.err.find(modload::tools::load_error_text(
                                                    fault.errno_value)) == std::string::npos)) {
            problems.push_back("does not say \"" + said + "\": " + o.err());
        }
    }
    if (reported_done(o.run.err) != o.changed()) {
        problems.push_back("changed " + names_text(o.changed()) + " but reports " +
                           names_text(reported_done(o.run.err)) + ": " + o.err());
    }
    if (fault.kind == Fault::Kind::file && o.run.err.find("CAP_SYS_MODULE") != std::string::npos &&
        base.run.err.find("CAP_SYS_MODULE") == std::string::npos) {
        problems.push_back("explains a file error as a policy refusal: " + o.err());
    }
    if (failed_call != nullptr && fault.errno_value == EINTR && o.calls.size() > fault.at &&
        o.calls[fault.at].syscall == failed_call->syscall &&
        o.calls[fault.at].name == failed_call->name) {
        problems.push_back("an interrupted " + failed_call->syscall + " was retried");
    }
    return problems;
}

std::string describe(const Fault& fault, const Outcome& o) {
    if (fault.kind == Fault::Kind::file) {
        return o.failed_io.call + " of " + o.relative(o.failed_io.path) + " (call " +
               std::to_string(fault.at) + ") fails with " + errno_name(fault.errno_value);
    }
    const ModelCall& c = o.calls.at(fault.at - 1);
    return c.syscall + "(" + c.name + ") (call " + std::to_string(fault.at) + ") answers " +
           errno_name(fault.errno_value);
}

struct Walk {
    std::size_t file_runs = 0;
    std::size_t kernel_runs = 0;
    std::vector<std::string> problems;
};

Walk walk(const Scenario& s) {
    Walk result;
    const Outcome base = run_once(s, Fault{});
    INFO("baseline of " << s.name << ": exit " << base.run.status << ", stderr: " << base.run.err
                        << "calls: " << calls_text(base.calls));
    REQUIRE(base.run.status == s.status);
    REQUIRE(base.run.err.empty() == (s.status == 0));
    REQUIRE(!base.io.empty());

    const auto run_all = [&](Fault::Kind kind, int errno_value, std::size_t& runs) {
        for (std::size_t at = 1; at < 10000; ++at) {
            const Fault fault{kind, at, errno_value};
            const Outcome o = run_once(s, fault);
            if (!o.injected) {
                break;  // this run made fewer than `at` calls
            }
            ++runs;
            for (const std::string& problem : judge(s, base, fault, o)) {
                result.problems.push_back(describe(fault, o) + ": " + problem);
            }
        }
    };
    for (const int code : kFileErrnos) {
        run_all(Fault::Kind::file, code, result.file_runs);
    }
    // Until the fault, a run makes the calls the baseline made: call `at` is base.io[at - 1].
    for (std::size_t at = 1; at <= base.io.size(); ++at) {
        const std::string path = base.relative(base.io[at - 1].path);
        std::optional<Outcome> absent;  // the run where `path` is not there, made when needed
        for (const int code : own_errnos(base.io[at - 1].call)) {
            const Fault fault{Fault::Kind::file, at, code};
            const Outcome o = run_once(s, fault);
            if (!o.injected) {
                continue;
            }
            ++result.file_runs;
            const std::vector<std::string> problems = judge(s, base, fault, o);
            if (problems.empty()) {
                continue;
            }
            if (code != ENOENT && code != ENOTDIR) {
                for (const std::string& problem : problems) {
                    result.problems.push_back(describe(fault, o) + ": " + problem);
                }
                continue;
            }
            // "Not there" is an answer as well as a failure: a run that does not fail as the
            // judge wants must be the one where the file (or folder) is gone, message for message.
            if (!absent) {
                Scenario without = s;
                without.prepare = [&s, path](BasicWorld& w) {
                    if (s.prepare) {
                        s.prepare(w);
                    }
                    fs::remove_all(w.root / fs::path(path).relative_path());
                };
                absent = run_once(without, Fault{});
            }
            if (o.run.status != absent->run.status || o.changed() != absent->changed() ||
                o.err() != absent->err() || o.out() != absent->out()) {
                result.problems.push_back(
                    describe(fault, o) + ": " + problems.front() + ", nor the run without " + path +
                    ": exit " + std::to_string(o.run.status) + ", stderr: " + o.err() +
                    "; without it: exit " + std::to_string(absent->run.status) +
                    ", stderr: " + absent->err());
            }
        }
    }
    std::set<int> kernel_codes;
    for (const ModelCall& call : base.calls) {
        for (const int code : kernel_errnos(call.syscall)) {
            kernel_codes.insert(code);
        }
    }
    for (const int code : kernel_codes) {
        run_all(Fault::Kind::kernel, code, result.kernel_runs);
    }
    return result;
}

void check_walk(const Scenario& s) {
    const Walk w = walk(s);
    WARN(s.name << ": " << w.file_runs << " file fault runs, " << w.kernel_runs
                << " kernel fault runs");
    CHECK(w.file_runs > 0);
    std::vector<std::string> unexpected;
    std::vector<bool> seen(s.known.size(), false);
    for (const std::string& problem : w.problems) {
        bool known = false;
        for (std::size_t i = 0; i < s.known.size(); ++i) {
            if (problem.find(s.known[i].where) != std::string::npos &&
                problem.find(s.known[i].what) != std::string::npos) {
                seen[i] = true;
                known = true;
            }
        }
        if (!known) {
            unexpected.push_back(problem);
        }
    }
    for (const std::string& problem : unexpected) {
        FAIL_CHECK(s.name << ": " << problem);
    }
    for (std::size_t i = 0; i < s.known.size(); ++i) {
        INFO(s.name << ": the known gap \"" << s.known[i].where << "\" / \"" << s.known[i].what
                    << "\" no longer happens: remove it from the list");
        CHECK(seen[i]);
    }
}

using Optional = std::map<std::string, std::string>;

Optional with_policy_files(Optional optional) {
    for (const std::string& file : kPolicyFiles) {
        optional.emplace(file,
                         "read only to explain a refusal (policy.hpp): unreadable, the fact "
                         "is unknown and the line that rests on it is left out");
    }
    return optional;
}

// Why each tool may carry on past these files.
const std::pair<std::string, std::string> kBuiltinOptional{
    "/lib/modules/6.1.0-test/modules.builtin",
    "only tells built-in modules apart; unreadable, it is taken as empty (as a missing one is)"};
const std::pair<std::string, std::string> kKmsgOptional{
    "/dev/kmsg", "read only to add what the kernel logged about a refusal"};
const std::pair<std::string, std::string> kCompressionOptional{
    "/sys/module/compression",
    "says which compression the kernel undoes itself; unreadable, the module is decompressed "
    "here and goes by init_module, which every kernel takes"};

}  // namespace

TEST_CASE("the faulting system sees the library's own calls, and fails the one chosen",
          "[faults]") {
    ScratchDir dir;
    const fs::path file = dir / "fixture_base.ko";
    fs::copy_file(fixture_module("fixture_base.ko"), file);
    write_text(dir / "proc/modules", "xfs 16384 0 - Live 0x0\n");
    const FixtureSystem system(dir.path());
    {
        FaultingSystem faults(*system);
        REQUIRE(modload::ModuleFile::open(faults, file.string()));
        REQUIRE(modload::Snapshot::read(faults));
        REQUIRE(faults.list("/proc", [](const modload::FolderEntry&) { return true; }));
        std::vector<std::string> seen;
        for (const IoCall& call : faults.calls()) {
            seen.push_back(call.call + " " + fs::path(call.path).filename().string());
        }
        // A listing: the opendir, "." and "..", "modules", and the readdir that finds the end.
        CHECK(seen == std::vector<std::string>{"open fixture_base.ko", "fstat fixture_base.ko",
                                               "read fixture_base.ko", "read fixture_base.ko",
                                               "open modules", "read modules", "read modules",
                                               "opendir proc", "readdir proc", "readdir proc",
                                               "readdir proc", "readdir proc"});
        CHECK_FALSE(faults.injected());
    }
    {
        FaultingSystem faults(*system, 2, EIO);
        auto opened = modload::ModuleFile::open(faults, file.string());
        REQUIRE(!opened);
        CHECK(opened.error().code == EIO);
        CHECK(faults.failed().call == "fstat");
    }
    {
        FaultingSystem faults(*system, 3, EACCES);  // opendir, ".", then the listing breaks
        std::vector<std::string> names;
        auto listed = faults.list("/proc", [&](const modload::FolderEntry& entry) {
            names.push_back(entry.name);
            return true;
        });
        REQUIRE(!listed);
        CHECK(listed.error().code == EACCES);
        CHECK(listed.error().detail == modload::kListingBroken);
        CHECK(names.size() == 1);
    }
    // Not armed, nothing fails.
    FaultingSystem faults(*system);
    CHECK(modload::ModuleFile::open(faults, file.string()));
}

TEST_CASE("an interrupted read is retried for a regular file and returned for a pipe", "[faults]") {
    ScratchDir dir;
    const fs::path file = dir / "fixture_base.ko";
    fs::copy_file(fixture_module("fixture_base.ko"), file);
    SECTION("a regular file: a signal interrupts nothing a retry would not redo") {
        const FixtureSystem system(dir.path());
        FaultingSystem faults(*system, 3, EINTR);  // open, fstat, then the first read
        auto opened = modload::ModuleFile::open(faults, file.string());
        CHECK(faults.injected());
        REQUIRE(opened);
        CHECK(opened->info());
    }
    SECTION("a pipe, as insmod - reads: the caller hears of the signal, and may stop") {
        int ends[2];
        REQUIRE(::pipe(ends) == 0);
        modload::UniqueFd read_end(ends[0]);
        const auto bytes = modload::testing::read_bytes(file);
        REQUIRE(::write(ends[1], bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
        ::close(ends[1]);
        const FixtureSystem system(dir.path());
        FaultingSystem faults(*system, 2, EINTR);  // fstat, then the first read
        faults.watch(read_end.get(), "pipe");
        auto adopted = modload::ModuleFile::adopt(faults, std::move(read_end), "-");
        CHECK(faults.injected());
        REQUIRE(!adopted);
        CHECK(adopted.error().code == EINTR);
    }
}

TEST_CASE("insmod FILE: a fault at every call is said, and stops the load or is harmless",
          "[faults]") {
    check_walk(Scenario{
        .name = "insmod FILE",
        .tool = "insmod",
        .args = {"@/modules/fixture_base.ko"},
        .optional =
            {
                {"/proc/modules",
                 "insmod needs no list of modules: the kernel resolves symbols itself; the list "
                 "only names missing dependencies after an unknown-symbol refusal"},
                kBuiltinOptional,
                kKmsgOptional,
                kCompressionOptional,
            },
        .absorbed =
            {
                {"finit_module ENOSYS",
                 "finit_module is not there (a seccomp filter): the bytes already read go by "
                 "init_module, as kmod does"},
            },
        .known = {},
    });
}

TEST_CASE("insmod --deps FILE: a fault at every call is said, and what was loaded is named",
          "[faults]") {
    check_walk(Scenario{
        .name = "insmod --deps FILE",
        .tool = "insmod",
        .args = {"--deps", "@/modules/fixture_consumer.ko"},
        .optional = {kKmsgOptional, kCompressionOptional},
        .absorbed =
            {
                {"finit_module ENOSYS",
                 "finit_module is not there (a seccomp filter): the bytes already read go by "
                 "init_module, as kmod does"},
                {"finit_module EEXIST fixture_base",
                 "a dependency that exists was loaded meanwhile by someone else (udev does at "
                 "boot): what was wanted"},
                {"finit_module EEXIST fixture_provider",
                 "a dependency that exists was loaded meanwhile by someone else (udev does at "
                 "boot): what was wanted"},
            },
        .known = {},
    });
}

TEST_CASE("insmod FILE refused by the kernel: a fault at every call keeps the refusal said",
          "[faults]") {
    check_walk(Scenario{
        .name = "insmod FILE, refused",
        .tool = "insmod",
        .args = {"@/modules/fixture_base.ko"},
        .optional = with_policy_files({
            {"/proc/modules", "insmod needs no list of modules (see insmod FILE)"},
            kBuiltinOptional,
            kKmsgOptional,
            kCompressionOptional,
        }),
        .absorbed =
            {
                {"finit_module ENOSYS",
                 "finit_module is not there: the bytes already read go by init_module"},
            },
        .known = {},
        .status = 1,
        .prepare = [](BasicWorld& w) { w.kernel.set_modules_disabled(true); },
    });
}

const std::map<std::string, std::string> kRemovalAbsorbed{
    {"delete_module ENOENT",
     "the module is no longer loaded: someone else removed it since the read, and what rmmod was "
     "asked for holds (-v says so)"},
};

TEST_CASE("rmmod M: a fault at every call is said, and nothing is removed unsaid", "[faults]") {
    check_walk(Scenario{
        .name = "rmmod M",
        .tool = "rmmod",
        .args = {"iptable_nat"},
        .optional = with_policy_files({kBuiltinOptional}),
        .absorbed = kRemovalAbsorbed,
        .known = {},
    });
}

TEST_CASE("rmmod --wait -r M: a fault at every call stops the plan and says what it removed",
          "[faults]") {
    auto absorbed = kRemovalAbsorbed;
    absorbed.emplace("delete_module EAGAIN",
                     "in use: a target is waited for and tried again (--wait), an unused "
                     "dependency that gained a user is kept, never forced out");
    // With -r the module configuration is read for soft dependencies (modprobe.d,
    // modules.softdep, /proc/cmdline): unreadable, it stops the plan before it starts, as it
    // stops insmod --deps, so /proc/cmdline is no optional policy file here.
    Optional optional = with_policy_files({kBuiltinOptional});
    optional.erase("/proc/cmdline");
    check_walk(Scenario{
        .name = "rmmod --wait -r M",
        .tool = "rmmod",
        .args = {"--wait", "-r", "iptable_nat"},
        .optional = optional,
        .absorbed = absorbed,
        .known = {},
    });
}

TEST_CASE("rmmod M refused by the kernel: a fault at every call keeps the refusal said",
          "[faults]") {
    check_walk(Scenario{
        .name = "rmmod M, refused",
        .tool = "rmmod",
        .args = {"iptable_nat"},
        .optional = with_policy_files({kBuiltinOptional}),
        .absorbed = kRemovalAbsorbed,
        .known = {},
        .status = 1,
        .prepare = [](BasicWorld& w) { w.kernel.set_modules_disabled(true); },
    });
}

// lab_dev's two references, as the /proc scan finds them: two processes with /dev/null open (a
// character device whose sysfs folder is named after lab_dev), and the other sources attribution
// reads: modules.alias, a vfat mount on a loop device, /proc/filesystems and /proc/crypto.
void hold_lab_dev(BasicWorld& w) {
    const fs::path& root = w.root;
    struct stat null_device {};
    REQUIRE(::stat("/dev/null", &null_device) == 0);
    const std::string number = std::to_string(major(null_device.st_rdev)) + ":" +
                               std::to_string(minor(null_device.st_rdev));
    fs::create_directories(root / "sys/devices/virtual/misc/lab_dev");
    fs::create_directories(root / "sys/dev/char");
    fs::create_directory_symlink("../../devices/virtual/misc/lab_dev",
                                 root / "sys/dev/char" / number);
    fs::create_directories(root / "sys/devices/virtual/block/loop0/loop");
    fs::create_directories(root / "sys/dev/block");
    fs::create_directory_symlink("../../devices/virtual/block/loop0", root / "sys/dev/block/7:0");
    const auto process = [&](int pid, const std::string& comm, int fd, const std::string& target) {
        const fs::path dir = root / "proc" / std::to_string(pid);
        write_text(dir / "comm", comm + "\n");
        fs::create_directories(dir / "fd");
        fs::create_symlink(target, dir / "fd" / std::to_string(fd));
    };
    process(100, "holder", 3, "/dev/null");
    process(200, "second one", 0, "/dev/null");
    write_text(root / "lib/modules/6.1.0-test/modules.alias",
               "alias fs-vfat vfat\nalias block-major-7-* loop\n"
               // lab_dev stands in for a module providing an upper-layer protocol: sock_diag is
               // asked (the fixture has no recording: no such socket) and can fail.
               "alias tcp-ulp-lab lab_dev\n");
    // A swap area and a dm device on loop0: both read, neither holds lab_dev.
    write_text(root / "proc/swaps",
               "Filename Type Size Used Priority\n/dev/loop0 partition 1 0 -2\n");
    write_text(root / "sys/devices/virtual/block/loop0/dev", "7:0\n");
    fs::create_directories(root / "sys/devices/virtual/block/loop0/holders/dm-0");
    fs::create_directories(root / "sys/block");
    fs::create_directory_symlink("../devices/virtual/block/loop0", root / "sys/block/loop0");
    write_text(root / "proc/self/mountinfo",
               "21 1 0:20 / /proc rw - proc proc rw\n"
               "40 1 7:0 / /mnt/v rw - vfat /dev/loop0 rw,codepage=437\n");
    write_text(root / "proc/filesystems", "nodev\tsysfs\n\tvfat\n");
    write_text(root / "proc/crypto",
               "name : sha256\ndriver : sha256-generic\nmodule : kernel\n"
               "refcnt : 2\n");
}

// Who holds a module is read from many files, each of which may fail; only the holders' names
// rest on them.
const std::map<std::string, std::string> kNamingFiles{
    {"/proc", "listed to find the processes with open files"},
    {"/proc/100/", "a process's open files and name"},
    {"/proc/200/", "a process's open files and name"},
    {"/sys/dev/", "which device belongs to which module"},
    {"/sys/devices/", "which device belongs to which module"},
    {"/lib/modules/6.1.0-test/modules.alias", "which module provides a device or filesystem"},
    {"/proc/self/mountinfo", "the mounts that hold a filesystem module"},
    {"/proc/filesystems", "the filesystem types a module registers"},
    {"/proc/crypto", "the algorithms in use"},
    {"/proc/swaps", "the swap areas on a module's block devices"},
    {"/proc/devices", "which module registered a block device's major"},
    {"/sys/block", "the dm and md devices built on a module's disks"},
    {"/sys/block/", "the dm and md devices built on a module's disks"},
};

TEST_CASE(
    "rmmod M in use: a fault in naming its holders keeps kmod's line and says what it "
    "could not read",
    "[faults]") {
    check_walk(Scenario{
        .name = "rmmod M, in use",
        .tool = "rmmod",
        .args = {"lab_dev"},
        .optional = with_policy_files({kBuiltinOptional}),
        .naming = kNamingFiles,
        .absorbed = kRemovalAbsorbed,
        .known = {},
        .status = 1,
        .prepare = hold_lab_dev,
    });
}

TEST_CASE("lsmod and lsmod --json: a fault at every call is said, and prints no partial list",
          "[faults]") {
    const std::vector<std::string> args =
        GENERATE(std::vector<std::string>{}, std::vector<std::string>{"--json"});
    check_walk(Scenario{
        .name = args.empty() ? "lsmod" : "lsmod --json",
        .tool = "lsmod",
        .args = args,
        .optional = {},
        .absorbed = {},
        .known = {},
    });
}

TEST_CASE("rmmod M held by traffic control: a fault in the tc dumps keeps kmod's line and says so",
          "[faults]") {
    std::map<std::string, std::string> naming = kNamingFiles;
    naming["netlink:"] = "the rtnetlink dumps of qdiscs, filters and actions";
    check_walk(Scenario{
        .name = "rmmod M, held by tc",
        .tool = "rmmod",
        .args = {"sch_netem"},
        .optional = with_policy_files({kBuiltinOptional}),
        .naming = naming,
        .absorbed = kRemovalAbsorbed,
        .known = {},
        .status = 1,
        .prepare =
            [](BasicWorld& w) {
                hold_lab_dev(w);
                w.kernel.add(modload::testing::ModelModule{.name = "sch_netem", .references = 1});
            },
    });
}
