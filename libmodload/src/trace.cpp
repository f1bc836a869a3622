// A trace session: an instance of tracefs of our own with the module events enabled and
// filtered, read batch by batch (the lines are parsed by trace_events.cpp).
#include <modload/trace.hpp>

#include <algorithm>
#include <array>
#include <cerrno>

#include <fcntl.h>

#include <modload/unique_fd.hpp>

#include "mountinfo.hpp"
#include "text.hpp"

namespace modload {

namespace {

constexpr std::array<std::string_view, 3> kEvents = {"module_get", "module_put", "module_free"};

// Where the kernel and the distributions put tracefs, in the order tools look for it
// (debugfs mounts it at debug/tracing on first access, for older tools).
constexpr std::string_view kTracefsMountPoint = "/sys/kernel/tracing";
constexpr std::string_view kDebugTracefsMountPoint = "/sys/kernel/debug/tracing";

// The mount points of tracefs, in mountinfo order.
std::vector<std::string> tracefs_mount_points(std::string_view mountinfo) {
    std::vector<std::string> points;
    for (detail::MountEntry& m : detail::parse_mountinfo(mountinfo)) {
        if (m.fstype == "tracefs") {
            points.push_back(std::move(m.mount_point));
        }
    }
    return points;
}

Result<void> write_file(System& system, const std::filesystem::path& path, std::string_view text) {
    auto fd = system.open_given(path.string(), O_WRONLY | O_TRUNC);
    if (!fd) {
        return make_error(fd.error().code, "opening " + path.string());
    }
    while (!text.empty()) {
        auto n = system.write(fd->get(), text);
        if (!n) {
            if (n.error().code == EINTR) {
                continue;
            }
            return make_error(n.error().code, "writing '" +
                                                  std::string(detail::trimmed_right(text, " ")) +
                                                  "' to " + path.string());
        }
        text.remove_prefix(*n);
    }
    return {};
}

// Whether `path` exists: an errno other than ENOENT (EACCES for a user who may not look into
// tracefs) is an error of its own.
Result<bool> path_exists(System& system, const std::filesystem::path& path) {
    auto st = system.stat_given(path.string());
    if (st) {
        return true;
    }
    if (st.error().code == ENOENT || st.error().code == ENOTDIR) {
        return false;
    }
    return make_error(st.error().code, path.string());
}

// Reads at most this much per read(): the caller prints between reads.
constexpr std::size_t kMaxBatchBytes = std::size_t{1} << 20;

}  // namespace

struct ModuleTrace::State {
    System* system = nullptr;
    TracefsInterface* tracefs_ops = nullptr;
    std::filesystem::path tracefs;
    bool mounted = false;
    std::filesystem::path instance;
    bool instance_made = false;
    std::vector<std::filesystem::path> enabled;  // the enable files written "1"
    UniqueFd pipe;
    std::string partial;  // a line trace_pipe has not finished yet
    bool closed = false;

    // Undoes in reverse order. rmdir would take the enabled events along, but when it fails
    // (EBUSY: another process opened one of the instance's files) they would stay enabled.
    Result<void> teardown() {
        if (closed) {
            return {};
        }
        closed = true;
        std::optional<Error> first;
        const auto keep = [&first](Result<void> r) {
            if (!r && !first) {
                first = r.error();
            }
        };
        pipe.reset();
        for (auto it = enabled.rbegin(); it != enabled.rend(); ++it) {
            keep(write_file(*system, *it, "0\n"));
        }
        enabled.clear();
        if (instance_made) {
            keep(tracefs_ops->remove_instance(instance));
            instance_made = false;
        }
        if (mounted) {
            keep(tracefs_ops->unmount(tracefs));
            mounted = false;
        }
        if (first) {
            return *first;
        }
        return {};
    }
};

ModuleTrace::ModuleTrace(std::unique_ptr<State> state) : state_(std::move(state)) {}
ModuleTrace::ModuleTrace(ModuleTrace&&) noexcept = default;
ModuleTrace& ModuleTrace::operator=(ModuleTrace&& other) noexcept {
    if (this != &other) {
        (void)close();
        state_ = std::move(other.state_);
    }
    return *this;
}
ModuleTrace::~ModuleTrace() {
    (void)close();
}

Result<void> ModuleTrace::close() {
    return state_ ? state_->teardown() : Result<void>();
}

const std::filesystem::path& ModuleTrace::tracefs() const {
    return state_->tracefs;
}
bool ModuleTrace::mounted_tracefs() const {
    return state_->mounted;
}
const std::filesystem::path& ModuleTrace::instance() const {
    return state_->instance;
}

Result<ModuleTrace> ModuleTrace::open(System& system, std::span<const std::string> modules,
                                      const std::string& instance) {
    return open(system, modules, instance, system.tracefs());
}

Result<ModuleTrace> ModuleTrace::open(System& system, std::span<const std::string> modules,
                                      const std::string& instance, TracefsInterface& tracefs) {
    auto filter = module_event_filter(modules);
    if (!filter) {
        return filter.error();
    }
    if (instance.empty() || instance.find('/') != std::string::npos || instance == "." ||
        instance == "..") {
        return make_error(EINVAL, "no instance name: " + instance);
    }
    auto state = std::make_unique<State>();
    state->system = &system;
    state->tracefs_ops = &tracefs;
    // From here on, `trace` owns what is set up: an early return tears it down.
    ModuleTrace trace(std::move(state));
    State& s = *trace.state_;
    // A failure says what cleaning up could not undo, too.
    const auto fail = [&trace](Error error) -> Error {
        if (auto r = trace.close(); !r) {
            error.detail += "; then cleaning up: " + r.error().message();
        }
        return error;
    };

    auto mountinfo = system.read_text("/proc/self/mountinfo");
    if (!mountinfo) {
        return fail(mountinfo.error());
    }
    const std::vector<std::string> points = tracefs_mount_points(*mountinfo);
    std::optional<std::string> point;
    for (const std::string_view wanted : {kTracefsMountPoint, kDebugTracefsMountPoint}) {
        if (std::find(points.begin(), points.end(), wanted) != points.end()) {
            point = std::string(wanted);
            break;
        }
    }
    if (!point && !points.empty()) {
        point = points.front();
    }
    if (point) {
        s.tracefs = system.path(*point);
    } else {
        // sysfs has the mount point only when the kernel has tracefs (CONFIG_TRACING).
        s.tracefs = system.path(kTracefsMountPoint);
        auto there = path_exists(system, s.tracefs);
        if (!there) {
            return fail(there.error());
        }
        if (!*there) {
            return fail(make_error(ENODEV, "no " + s.tracefs.string()));
        }
        if (auto r = tracefs.mount(s.tracefs); !r) {
            return fail(
                Error{r.error().code == ENOENT ? ENODEV : r.error().code, r.error().detail});
        }
        s.mounted = true;
    }

    for (const std::string_view event : kEvents) {
        const std::filesystem::path folder = s.tracefs / "events/module" / event;
        auto there = path_exists(system, folder / "enable");
        if (!there) {
            return fail(there.error());
        }
        if (!*there) {
            return fail(make_error(ENOENT, "no event module:" + std::string(event) + " in " +
                                               (s.tracefs / "events").string()));
        }
    }
    const std::filesystem::path instances = s.tracefs / "instances";
    auto there = path_exists(system, instances);
    if (!there) {
        return fail(there.error());
    }
    if (!*there) {
        return fail(make_error(ENOTSUP, "no " + instances.string()));
    }
    s.instance = instances / instance;
    if (auto r = tracefs.make_instance(s.instance); !r) {
        return fail(r.error());
    }
    s.instance_made = true;

    // Wake a reader at the first event: a kernel whose poll on trace_pipe honours the
    // instance's watermark (buffer_percent, 50 by default) would wait for the buffer to be half
    // full. 6.1 and 6.12 take 0 (tests/vm/scenarios/trace.sh); a kernel without the file, or
    // that refuses 0, is read all the same: read() looks after every timeout.
    (void)write_file(system, s.instance / "buffer_percent", "0\n");
    for (const std::string_view event : kEvents) {
        const std::filesystem::path folder = s.instance / "events/module" / event;
        if (auto r = write_file(system, folder / "filter", *filter + "\n"); !r) {
            return fail(r.error());
        }
    }
    const std::filesystem::path pipe = s.instance / "trace_pipe";
    auto opened = system.open_given(pipe.string(), O_RDONLY | O_NONBLOCK);
    if (!opened) {
        return fail(make_error(opened.error().code, "opening " + pipe.string()));
    }
    s.pipe = std::move(*opened);
    for (const std::string_view event : kEvents) {
        const std::filesystem::path enable = s.instance / "events/module" / event / "enable";
        if (auto r = write_file(system, enable, "1\n"); !r) {
            return fail(r.error());
        }
        s.enabled.push_back(enable);
    }
    return trace;
}

Result<TraceBatch> ModuleTrace::read(std::chrono::milliseconds timeout) {
    TraceBatch batch;
    if (!state_ || state_->closed) {
        return make_error(EBADF, "the trace is closed");
    }
    State& s = *state_;
    if (auto r = s.system->wait_readable(s.pipe.get(), timeout); !r) {
        if (r.error().code == EINTR) {
            return batch;
        }
        return make_error(r.error().code, "waiting for trace_pipe");
    }
    // Read whatever is there even when poll said nothing (see buffer_percent in open()).
    std::size_t total = 0;
    char chunk[64 << 10];
    while (total < kMaxBatchBytes) {
        auto n = s.system->read(s.pipe.get(), std::span<char>(chunk, sizeof chunk));
        if (!n) {
            if (n.error().code == EAGAIN || n.error().code == EINTR) {
                break;
            }
            return make_error(n.error().code, "reading " + (s.instance / "trace_pipe").string());
        }
        if (*n == 0) {
            break;
        }
        s.partial.append(chunk, *n);
        total += *n;
    }
    std::string_view text = s.partial;
    std::size_t used = 0;
    for (auto end = text.find('\n'); end != std::string_view::npos; end = text.find('\n', used)) {
        const std::string_view line = text.substr(used, end - used);
        used = end + 1;
        if (auto event = parse_module_event(line)) {
            batch.events.push_back(std::move(*event));
            continue;
        }
        // "CPU:%d [LOST %lu EVENTS]" (kernel/trace/trace.c, print_trace_line)
        const auto lost = line.find("[LOST ");
        std::uint64_t count = 0;
        if (line.substr(0, 4) == "CPU:" && lost != std::string_view::npos &&
            detail::parse_number(line.substr(lost + 6, line.find(' ', lost + 6) - (lost + 6)),
                                 count)) {
            batch.lost += count;
        } else if (!detail::trimmed_right(line, " ").empty()) {
            batch.unparsed.emplace_back(line);
        }
    }
    s.partial.erase(0, used);
    return batch;
}

}  // namespace modload
