#include "model_kernel.hpp"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <fcntl.h>

#include <modload/module_file.hpp>
#include <modload/module_info.hpp>
#include <modload/names.hpp>

namespace modload::testing {

namespace {

std::string errno_name(int code) {
    if (code == 0) {
        return "0";
    }
    const char* name = ::strerrorname_np(code);
    return name != nullptr ? name : std::to_string(code);
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

// The answers each call can really give (kernel/module/main.c, and the generic ones of any
// system call): a test that queues another would test a kernel that does not exist. Loading
// also passes the LSM hooks security_kernel_read_file() and security_kernel_load_data() (IMA's
// appraisal answers EACCES) and reads the file (EIO).
bool kernel_can_answer(const std::string& syscall, int code) {
    static const std::vector<int> removal{EPERM, ENOENT, EWOULDBLOCK, EBUSY, EFAULT, EINTR};
    static const std::vector<int> load{
        EPERM,  ENOEXEC, ENOMEM, EFAULT, EINVAL, EEXIST,  EBUSY, ENOENT, EINTR,  EKEYREJECTED,
        ENOKEY, EBADMSG, ESRCH,  EFBIG,  ENOSPC, ETXTBSY, EBADF, ENOSYS, EACCES, EIO};
    const std::vector<int>& allowed = syscall == "delete_module" ? removal : load;
    return std::find(allowed.begin(), allowed.end(), code) != allowed.end();
}

std::string_view step_point_name(StepPoint point) {
    switch (point) {
        case StepPoint::syscall_entry:
            return "syscall entry";
        case StepPoint::inside_init:
            return "inside init";
        case StepPoint::inside_exit:
            return "inside exit";
        case StepPoint::clock:
            break;
    }
    return "clock";
}

std::string_view event_kind_name(ModelEvent::Kind kind) {
    switch (kind) {
        case ModelEvent::Kind::load_started:
            return "load started";
        case ModelEvent::Kind::loaded:
            return "loaded";
        case ModelEvent::Kind::load_failed:
            return "load failed";
        case ModelEvent::Kind::unload_started:
            return "unload started";
        case ModelEvent::Kind::removed:
            return "removed";
        case ModelEvent::Kind::reference_taken:
            return "reference taken";
        case ModelEvent::Kind::reference_dropped:
            break;
    }
    return "reference dropped";
}

ModelKernel::ModelKernel(std::filesystem::path root, std::vector<std::string> builtin)
    : proc_modules_(root / "proc" / "modules"), builtin_(std::move(builtin)) {
    std::filesystem::create_directories(proc_modules_.parent_path());
    write_proc_modules();
}

// ---- the world as a test sets it up ------------------------------------------------------------

void ModelKernel::add(ModelModule module) {
    for (const std::string& dependency : module.uses) {
        // A module resolves its symbols only from Live modules (resolve_symbol_wait waits for a
        // COMING one, and a GOING one is an unknown symbol).
        const ModelModule* used = find(dependency);
        if ((used == nullptr || used->state != ModuleState::live) &&
            !contains(builtin_, dependency)) {
            throw std::invalid_argument("model: " + module.name + " uses " + dependency +
                                        ", which is not Live");
        }
    }
    if (find(module.name) != nullptr) {
        throw std::invalid_argument("model: " + module.name + " is already loaded");
    }
    if (module.address == 0) {
        module.address = next_address_;
        next_address_ += 0x100000;
    }
    for (const std::string& pinned : module.pins) {
        ModelModule* target = find_mutable(pinned);
        if (target == nullptr) {
            throw std::invalid_argument("model: " + module.name + " pins " + pinned +
                                        ", which is not loaded");
        }
        ++target->references;
    }
    behaviour_.try_emplace(module.name, module);
    const std::string name = module.name;
    const ModuleState state = module.state;
    const Millis duration = state == ModuleState::loading ? module.init_time : module.exit_time;
    modules_.insert(modules_.begin(), std::move(module));
    if (state != ModuleState::live) {
        (void)begin(name, Actor::other, duration);
    }
    write_proc_modules();
}

void ModelKernel::reset() {
    modules_.clear();
    behaviour_.clear();
    started_by_.clear();
    serial_of_.clear();
    load_results_.clear();
    pending_.clear();
    late_releases_.clear();
    queued_.clear();
    calls_.clear();
    events_.clear();
    trace_.clear();
    now_ = Millis{0};
    next_address_ = 0xffffffffc0000000;
    force_unload_ = true;
    modules_disabled_ = false;
    write_proc_modules();
}

void ModelKernel::configure(const std::string& name, Millis init_time, Millis exit_time,
                            int init_errno) {
    ModelModule& behaviour = behaviour_[name];
    behaviour.name = name;
    behaviour.init_time = init_time;
    behaviour.exit_time = exit_time;
    behaviour.init_errno = init_errno;
    if (ModelModule* loaded = find_mutable(name)) {
        loaded->exit_time = exit_time;
    }
}

void ModelKernel::set_permanent(const std::string& name, bool permanent) {
    behaviour_[name].name = name;
    behaviour_[name].permanent = permanent;
    if (ModelModule* loaded = find_mutable(name)) {
        loaded->permanent = permanent;
        write_proc_modules();
    }
}

void ModelKernel::fail_next(const std::string& syscall, int errno_value) {
    if (!kernel_can_answer(syscall, errno_value)) {
        throw std::invalid_argument("model: " + syscall + " never answers " +
                                    errno_name(errno_value));
    }
    queued_[syscall].push_back(errno_value);
}

// ---- the rules ---------------------------------------------------------------------------------

// load_module(): a module of the same name first (add_unformed_module and
// module_patient_check_exists: wait while it is COMING, EBUSY while it is GOING, EEXIST when Live),
// then symbol resolution (resolve_symbol_wait waits while the owner is COMING; a missing or GOING
// owner is an unknown symbol, ENOENT).
int ModelKernel::check_load(const std::string& name, const std::vector<std::string>& uses,
                            bool& must_wait) const {
    must_wait = false;
    if (modules_disabled_) {
        return EPERM;
    }
    if (const ModelModule* old = find(name)) {
        if (old->state == ModuleState::loading) {
            must_wait = true;
            return 0;
        }
        return old->state == ModuleState::live ? EEXIST : EBUSY;
    }
    for (const std::string& dependency : uses) {
        if (contains(builtin_, dependency)) {
            continue;
        }
        const ModelModule* owner = find(dependency);
        if (owner == nullptr || owner->state == ModuleState::unloading) {
            return ENOENT;
        }
        if (owner->state == ModuleState::loading) {
            must_wait = true;
        }
    }
    return 0;
}

// delete_module(): holders first ("get rid of them first"), then not Live, then an init without
// an exit, then references (try_stop_module); O_TRUNC passes the last two only with
// CONFIG_MODULE_FORCE_UNLOAD (try_force_unload).
int ModelKernel::check_remove(const ModelModule& module, unsigned flags) const {
    if (!holders_of(module.name).empty()) {
        return EWOULDBLOCK;
    }
    if (module.state != ModuleState::live) {
        return EBUSY;
    }
    const bool forced = force_unload_ && (flags & O_TRUNC) != 0;
    if (module.permanent && !forced) {
        return EBUSY;
    }
    if (module.references > 0 && !forced) {
        return EWOULDBLOCK;
    }
    return 0;
}

std::uint64_t ModelKernel::begin(const std::string& name, Actor who, Millis duration) {
    const std::uint64_t serial = next_serial_++;
    serial_of_[name] = serial;
    started_by_[serial] = who;
    pending_.push_back(Pending{now_ + duration, serial});
    return serial;
}

std::uint64_t ModelKernel::start_load(const std::string& name, const std::vector<std::string>& uses,
                                      Actor who) {
    ModelModule module;
    if (const auto it = behaviour_.find(name); it != behaviour_.end()) {
        module = it->second;
    }
    module.name = name;
    module.uses = uses;
    module.state = ModuleState::loading;
    module.references = 0;
    // Its pins are taken as it loads (a reload of netconsole pins configfs again).
    std::vector<std::string> pins;
    for (const std::string& pinned : module.pins) {
        ModelModule* target = find_mutable(pinned);
        if (target != nullptr && target->state != ModuleState::unloading) {
            ++target->references;
            pins.push_back(pinned);
        }
    }
    module.pins = std::move(pins);
    module.address = next_address_;
    next_address_ += 0x100000;
    modules_.insert(modules_.begin(), module);
    const std::uint64_t serial = begin(name, who, module.init_time);
    record(who, ModelEvent::Kind::load_started, name);
    write_proc_modules();
    return serial;
}

std::uint64_t ModelKernel::start_unload(ModelModule& module, Actor who) {
    module.state = ModuleState::unloading;
    const std::uint64_t serial = begin(module.name, who, module.exit_time);
    record(who, ModelEvent::Kind::unload_started, module.name);
    write_proc_modules();
    return serial;
}

// The init or exit of the module started as `serial` has returned.
void ModelKernel::finish(std::uint64_t serial) {
    pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                  [&](const Pending& p) { return p.serial == serial; }),
                   pending_.end());
    const auto named = std::find_if(serial_of_.begin(), serial_of_.end(),
                                    [&](const auto& entry) { return entry.second == serial; });
    if (named == serial_of_.end()) {
        return;
    }
    const std::string name = named->first;
    const Actor who = started_by_[serial];
    ModelModule* module = find_mutable(name);
    if (module->state == ModuleState::loading) {
        // do_init_module(): a failed init leaves the module GOING and frees it at once.
        load_results_[serial] = module->init_errno;
        if (module->init_errno != 0) {
            record(who, ModelEvent::Kind::load_failed, name);
            free_module(name);
        } else {
            module->state = ModuleState::live;
            record(who, ModelEvent::Kind::loaded, name);
        }
    } else if (module->state == ModuleState::unloading) {
        record(who, ModelEvent::Kind::removed, name);
        free_module(name);
    }
    write_proc_modules();
}

// free_module(): the module leaves the list, and with it its uses (one reference off each
// module it used: module_unload_free).
void ModelKernel::free_module(const std::string& name) {
    if (const ModelModule* freed = find(name); freed != nullptr) {
        if (freed->pin_release > Millis{0} && !freed->pins.empty()) {
            late_releases_.push_back(LateRelease{now_ + freed->pin_release, name, freed->pins});
        } else {
            drop_pins(freed->pins);
        }
    }
    modules_.erase(std::remove_if(modules_.begin(), modules_.end(),
                                  [&](const ModelModule& m) { return m.name == name; }),
                   modules_.end());
    serial_of_.erase(name);
}

void ModelKernel::drop_pins(const std::vector<std::string>& pins) {
    for (const std::string& pinned : pins) {
        ModelModule* target = find_mutable(pinned);
        if (target != nullptr && target->references > 0) {
            --target->references;
        }
    }
}

void ModelKernel::release_due(Millis until) {
    for (;;) {
        const auto next = std::min_element(
            late_releases_.begin(), late_releases_.end(),
            [](const LateRelease& a, const LateRelease& b) { return a.due < b.due; });
        if (next == late_releases_.end() || next->due > until) {
            return;
        }
        const LateRelease due = *next;
        late_releases_.erase(next);
        now_ = std::max(now_, due.due);
        note("kernel drops the pins " + due.from + " left");
        drop_pins(due.pins);
        write_proc_modules();
    }
}

void ModelKernel::record(Actor who, ModelEvent::Kind kind, const std::string& name) {
    events_.push_back(ModelEvent{now_, who, kind, name});
    note(std::string(who == Actor::us ? "us   " : "other") + " " +
         std::string(event_kind_name(kind)) + " " + name);
}

void ModelKernel::note(const std::string& line) {
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, "%8lld ms  ", static_cast<long long>(now_.count()));
    trace_.push_back(stamp + line);
}

// ---- other processes ---------------------------------------------------------------------------

int ModelKernel::other_load(const std::string& name, const std::vector<std::string>& uses) {
    bool must_wait = false;
    if (const int refused = check_load(name, uses, must_wait); refused != 0) {
        return refused;
    }
    if (must_wait) {
        return EINPROGRESS;
    }
    const std::uint64_t serial = start_load(name, uses, Actor::other);
    if (find(name)->init_time == Millis{0}) {
        finish(serial);
        return load_results_[serial];
    }
    return 0;
}

int ModelKernel::other_remove(const std::string& name) {
    if (modules_disabled_) {
        return EPERM;
    }
    ModelModule* module = find_mutable(name);
    if (module == nullptr) {
        return ENOENT;
    }
    if (const int refused = check_remove(*module, O_NONBLOCK); refused != 0) {
        return refused;
    }
    const std::uint64_t serial = start_unload(*module, Actor::other);
    if (module->exit_time == Millis{0}) {
        finish(serial);
    }
    return 0;
}

bool ModelKernel::get_reference(const std::string& name) {
    // try_module_get() fails once the module is going (module_is_live()).
    ModelModule* module = find_mutable(name);
    if (module == nullptr || module->state == ModuleState::unloading) {
        return false;
    }
    ++module->references;
    record(Actor::other, ModelEvent::Kind::reference_taken, name);
    write_proc_modules();
    return true;
}

bool ModelKernel::put_reference(const std::string& name) {
    ModelModule* module = find_mutable(name);
    if (module == nullptr || module->references == 0) {
        return false;
    }
    --module->references;
    record(Actor::other, ModelEvent::Kind::reference_dropped, name);
    write_proc_modules();
    return true;
}

// ---- time --------------------------------------------------------------------------------------

void ModelKernel::advance(Millis duration) {
    if (duration < Millis{0}) {
        throw std::invalid_argument("model: time does not go back");
    }
    const Millis target = now_ + duration;
    for (;;) {
        const auto next = std::min_element(
            pending_.begin(), pending_.end(), [](const Pending& a, const Pending& b) {
                return a.due < b.due || (a.due == b.due && a.serial < b.serial);
            });
        if (next == pending_.end() || next->due > target) {
            break;
        }
        release_due(next->due);
        now_ = std::max(now_, next->due);
        finish(next->serial);
    }
    release_due(target);
    now_ = target;
}

void ModelKernel::step(StepPoint point) {
    if (!hook_ || in_hook_) {
        return;
    }
    in_hook_ = true;
    try {
        hook_(point);
    } catch (...) {
        in_hook_ = false;
        throw;
    }
    in_hook_ = false;
}

void ModelKernel::run_until(const std::function<bool()>& done, StepPoint point) {
    while (!done()) {
        step(point);
        if (done()) {
            break;
        }
        if (pending_.empty()) {
            throw std::logic_error("model: a system call waits for something that never ends");
        }
        Millis next = pending_.front().due;
        for (const Pending& p : pending_) {
            next = std::min(next, p.due);
        }
        advance(std::clamp(next - now_, Millis{0}, slice_));
    }
}

// ---- what happened -----------------------------------------------------------------------------

const ModelModule* ModelKernel::find(const std::string& name) const {
    const auto it = std::find_if(modules_.begin(), modules_.end(),
                                 [&](const ModelModule& m) { return m.name == name; });
    return it == modules_.end() ? nullptr : &*it;
}

ModelModule* ModelKernel::find_mutable(const std::string& name) {
    return const_cast<ModelModule*>(find(name));
}

std::vector<std::string> ModelKernel::holders_of(const std::string& name) const {
    std::vector<std::string> holders;
    for (const ModelModule& m : modules_) {
        if (contains(m.uses, name)) {
            holders.push_back(m.name);
        }
    }
    return holders;
}

int ModelKernel::refcount_of(const ModelModule& module) const {
    if (module.state == ModuleState::unloading) {
        // try_stop_module() took the base reference away; a forced removal leaves the others.
        return module.references > 0 ? module.references : -1;
    }
    return static_cast<int>(holders_of(module.name).size()) + module.references;
}

// m_show() and print_unload_info(): "name size refcount holders state 0xaddress", the taints in
// parentheses with '+' for a coming and '-' for a going module, only when tainted.
std::string ModelKernel::proc_modules_text() const {
    std::string text;
    for (const ModelModule& m : modules_) {
        text += m.name + ' ' + std::to_string(m.size) + ' ' + std::to_string(refcount_of(m)) + ' ';
        std::string holders;
        for (const std::string& holder : holders_of(m.name)) {
            holders += holder + ',';
        }
        if (m.permanent) {
            holders += "[permanent],";
        }
        text += holders.empty() ? "-" : holders;
        text += ' ';
        text += module_state_name(m.state);
        char address[32];
        std::snprintf(address, sizeof address, " 0x%016" PRIx64, m.address);
        text += address;
        if (!m.taints.empty()) {
            text += " (" + m.taints;
            if (m.state == ModuleState::loading) {
                text += '+';
            } else if (m.state == ModuleState::unloading) {
                text += '-';
            }
            text += ')';
        }
        text += '\n';
    }
    return text;
}

void ModelKernel::write_proc_modules() const {
    std::ofstream out(proc_modules_, std::ios::trunc);
    out << proc_modules_text();
    if (!out) {
        throw std::runtime_error("model: cannot write " + proc_modules_.string());
    }
}

std::string ModelKernel::trace() const {
    std::string text;
    for (const std::string& line : trace_) {
        text += line + '\n';
    }
    return text;
}

// ---- our system calls --------------------------------------------------------------------------

std::optional<int> ModelKernel::queued(const std::string& syscall) {
    std::vector<int>& queue = queued_[syscall];
    if (queue.empty()) {
        return std::nullopt;
    }
    const int code = queue.front();
    queue.erase(queue.begin());
    return code;
}

Result<void> ModelKernel::answer(ModelCall call) {
    char flags[16];
    std::snprintf(flags, sizeof flags, "0x%x", call.flags);
    note("us    " + call.syscall + "(" + call.name + ", " + flags +
         ") = " + errno_name(call.answer));
    const int code = call.answer;
    calls_.push_back(std::move(call));
    if (code != 0) {
        return make_error(code);
    }
    return {};
}

Result<void> ModelKernel::load_image(const std::string& syscall, std::span<const std::byte> image,
                                     unsigned flags) {
    ModelCall call{now_, syscall, "", flags, 0, {}, 0};
    auto info = parse_module_image(image);
    if (info) {
        call.name = info->name;
    }
    if (const std::optional<int> code = queued(syscall)) {
        call.answer = *code;
        return answer(std::move(call));
    }
    if (modules_disabled_) {
        call.answer = EPERM;
        return answer(std::move(call));
    }
    if (!info) {
        call.answer = ENOEXEC;
        return answer(std::move(call));
    }
    const std::string name = info->name;
    std::vector<std::string> uses;
    for (const std::string& dependency : info->depends()) {
        uses.push_back(normalize_module_name(dependency));
    }
    for (;;) {
        bool must_wait = false;
        const int refused = check_load(name, uses, must_wait);
        if (refused != 0) {
            call.answer = refused;
            return answer(std::move(call));
        }
        if (!must_wait) {
            break;
        }
        if (const ModelModule* old = find(name); old != nullptr) {
            // module_patient_check_exists(): wait until it is no longer COMING, then EEXIST if
            // it went Live and EBUSY otherwise, even when it is gone.
            run_until(
                [&] {
                    const ModelModule* m = find(name);
                    return m == nullptr || m->state != ModuleState::loading;
                },
                StepPoint::inside_init);
            const ModelModule* now = find(name);
            call.answer = now != nullptr && now->state == ModuleState::live ? EEXIST : EBUSY;
            return answer(std::move(call));
        }
        // resolve_symbol_wait(): a dependency is COMING; try again once it is not.
        run_until(
            [&] {
                return std::none_of(uses.begin(), uses.end(), [&](const std::string& d) {
                    const ModelModule* m = find(d);
                    return m != nullptr && m->state == ModuleState::loading;
                });
            },
            StepPoint::inside_init);
    }
    const std::uint64_t serial = start_load(name, uses, Actor::us);
    run_until([&] { return load_results_.count(serial) != 0; }, StepPoint::inside_init);
    call.answer = load_results_[serial];
    return answer(std::move(call));
}

Result<void> ModelKernel::finit_module(int fd, const std::string& parameters, unsigned flags) {
    (void)parameters;
    if (in_hook_) {
        throw std::logic_error("model: a step hook made one of our system calls");
    }
    step(StepPoint::syscall_entry);
    constexpr unsigned kKnownFlags =
        kInitIgnoreModversions | kInitIgnoreVermagic | kInitCompressedFile;
    if ((flags & ~kKnownFlags) != 0) {
        return answer(ModelCall{now_, "finit_module", "", flags, EINVAL, {}, 0});
    }
    // The kernel reads the file behind the descriptor; so does the model, with the library.
    auto file = ModuleFile::open("/proc/self/fd/" + std::to_string(fd));
    if (!file) {
        return answer(ModelCall{now_, "finit_module", "", flags, EBADF, {}, 0});
    }
    if (file->compression() != Compression::none && (flags & kInitCompressedFile) == 0) {
        return answer(ModelCall{now_, "finit_module", "", flags, ENOEXEC, {}, 0});
    }
    // module_decompress() answers EINVAL for what its decompressor refuses; modelled from the
    // bytes as the kernel reads them, not with the library's own reader: lib/xz takes the checks
    // none and CRC32 only (Stream Flags' second byte), and the gzip header reader skips FNAME but
    // not FEXTRA, FCOMMENT or FHCRC.
    const std::span<const std::byte> bytes = file->contents();
    if ((flags & kInitCompressedFile) != 0 &&
        ((file->compression() == Compression::xz && bytes.size() > 7 &&
          (std::to_integer<unsigned>(bytes[7]) & 0x0fU) > 1) ||
         (file->compression() == Compression::gzip && bytes.size() > 3 &&
          (std::to_integer<unsigned>(bytes[3]) & 0x16U) != 0))) {
        return answer(ModelCall{now_, "finit_module", "", flags, EINVAL, {}, 0});
    }
    auto image = file->image();
    if (!image) {
        return answer(ModelCall{now_, "finit_module", "", flags, ENOEXEC, {}, 0});
    }
    return load_image("finit_module", *image, flags);
}

Result<void> ModelKernel::init_module(std::span<const std::byte> image,
                                      const std::string& parameters) {
    (void)parameters;
    if (in_hook_) {
        throw std::logic_error("model: a step hook made one of our system calls");
    }
    step(StepPoint::syscall_entry);
    return load_image("init_module", image, 0);
}

Result<void> ModelKernel::delete_module(const std::string& name, unsigned flags) {
    if (in_hook_) {
        throw std::logic_error("model: a step hook made one of our system calls");
    }
    step(StepPoint::syscall_entry);
    ModelCall call{now_, "delete_module", name, flags, 0, {}, 0};
    if (const std::optional<int> code = queued("delete_module")) {
        call.answer = *code;
        return answer(std::move(call));
    }
    if (modules_disabled_) {
        call.answer = EPERM;
        return answer(std::move(call));
    }
    ModelModule* module = find_mutable(name);
    if (module == nullptr) {
        call.answer = ENOENT;
        return answer(std::move(call));
    }
    call.holders = holders_of(name);
    call.references = module->references;
    if (const int refused = check_remove(*module, flags); refused != 0) {
        call.answer = refused;
        return answer(std::move(call));
    }
    // The winner of delete_module runs the exit and frees the module before it returns.
    const std::uint64_t serial = start_unload(*module, Actor::us);
    run_until(
        [&] {
            const auto it = serial_of_.find(name);
            return it == serial_of_.end() || it->second != serial;
        },
        StepPoint::inside_exit);
    return answer(std::move(call));
}

// ---- the clock ---------------------------------------------------------------------------------

std::chrono::steady_clock::time_point ModelClock::now() {
    kernel_.step(StepPoint::clock);
    return std::chrono::steady_clock::time_point{} + kernel_.now();
}

void ModelClock::sleep_for(std::chrono::milliseconds duration) {
    sleeps_.push_back(duration);
    kernel_.step(StepPoint::clock);
    Millis left = duration;
    while (left > Millis{0}) {
        // nanosleep returns early when a signal arrives.
        if (interrupted_ && interrupted_()) {
            return;
        }
        const Millis slice = std::min(left, kernel_.step_slice());
        kernel_.advance(slice);
        left -= slice;
        kernel_.step(StepPoint::clock);
    }
}

}  // namespace modload::testing
