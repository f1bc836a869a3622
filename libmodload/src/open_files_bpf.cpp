// scan_open_files_bpf with libbpf: runs the task-file iterator of bpf/open_files.bpf.c (embedded
// as a skeleton by the build) and turns its records into OpenFileRecords.
#include "open_files.hpp"

#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <modload/unique_fd.hpp>

#include "../bpf/open_files_record.h"
#include "shared_library.hpp"

namespace modload::detail {

namespace {

// libbpf's functions, bound on the first scan (see shared_library.hpp): only lsmod --refs and an
// rmmod that finds its module in use load libbpf (and the libelf and zlib it needs).
struct Libbpf {
    decltype(&::libbpf_set_print) libbpf_set_print;
    decltype(&::bpf_program__attach_iter) bpf_program__attach_iter;
    decltype(&::bpf_iter_create) bpf_iter_create;
    decltype(&::bpf_link__fd) bpf_link__fd;
    decltype(&::bpf_link__destroy) bpf_link__destroy;
    decltype(&::bpf_object__open_skeleton) bpf_object__open_skeleton;
    decltype(&::bpf_object__load_skeleton) bpf_object__load_skeleton;
    decltype(&::bpf_object__attach_skeleton) bpf_object__attach_skeleton;
    decltype(&::bpf_object__detach_skeleton) bpf_object__detach_skeleton;
    decltype(&::bpf_object__destroy_skeleton) bpf_object__destroy_skeleton;
};

// libbpf, opened once.
Result<const Libbpf*> libbpf() {
#ifndef MODLOAD_STATIC_LIBRARIES
    static const Result<Libbpf> once = bind_library<Libbpf>(
        "libbpf.so.1", "the BPF open-file scan", [](SharedLibrary& lib, Libbpf& f) {
            return lib.bind(f.libbpf_set_print, "libbpf_set_print") &&
                   lib.bind(f.bpf_program__attach_iter, "bpf_program__attach_iter") &&
                   lib.bind(f.bpf_iter_create, "bpf_iter_create") &&
                   lib.bind(f.bpf_link__fd, "bpf_link__fd") &&
                   lib.bind(f.bpf_link__destroy, "bpf_link__destroy") &&
                   lib.bind(f.bpf_object__open_skeleton, "bpf_object__open_skeleton") &&
                   lib.bind(f.bpf_object__load_skeleton, "bpf_object__load_skeleton") &&
                   lib.bind(f.bpf_object__attach_skeleton, "bpf_object__attach_skeleton") &&
                   lib.bind(f.bpf_object__detach_skeleton, "bpf_object__detach_skeleton") &&
                   lib.bind(f.bpf_object__destroy_skeleton, "bpf_object__destroy_skeleton");
        });
    return bound_table(once);
#else
    static const Libbpf linked{&::libbpf_set_print,
                               &::bpf_program__attach_iter,
                               &::bpf_iter_create,
                               &::bpf_link__fd,
                               &::bpf_link__destroy,
                               &::bpf_object__open_skeleton,
                               &::bpf_object__load_skeleton,
                               &::bpf_object__attach_skeleton,
                               &::bpf_object__detach_skeleton,
                               &::bpf_object__destroy_skeleton};
    return &linked;
#endif
}

// The skeleton's inline functions, for the calls it makes: scan_open_files_bpf() binds libbpf
// before it calls any of them.
const Libbpf& bound() {
    return **libbpf();
}

}  // namespace

}  // namespace modload::detail

// The generated skeleton calls libbpf's skeleton functions by name from inline functions; with
// libbpf opened by dlopen those names must reach the bound table instead. Renaming them for the
// skeleton's text alone is the one way that does not edit bpftool's output (an overload in a
// namespace would be ambiguous with libbpf's own through argument-dependent lookup).
namespace {

int modload_bpf_object__open_skeleton(bpf_object_skeleton* s, const bpf_object_open_opts* opts) {
    return modload::detail::bound().bpf_object__open_skeleton(s, opts);
}
int modload_bpf_object__load_skeleton(bpf_object_skeleton* s) {
    return modload::detail::bound().bpf_object__load_skeleton(s);
}
[[maybe_unused]] int modload_bpf_object__attach_skeleton(bpf_object_skeleton* s) {
    return modload::detail::bound().bpf_object__attach_skeleton(s);
}
[[maybe_unused]] void modload_bpf_object__detach_skeleton(bpf_object_skeleton* s) {
    modload::detail::bound().bpf_object__detach_skeleton(s);
}
void modload_bpf_object__destroy_skeleton(bpf_object_skeleton* s) {
    modload::detail::bound().bpf_object__destroy_skeleton(s);
}

}  // namespace

#define bpf_object__open_skeleton modload_bpf_object__open_skeleton
#define bpf_object__load_skeleton modload_bpf_object__load_skeleton
#define bpf_object__attach_skeleton modload_bpf_object__attach_skeleton
#define bpf_object__detach_skeleton modload_bpf_object__detach_skeleton
#define bpf_object__destroy_skeleton modload_bpf_object__destroy_skeleton
#include "open_files.skel.h"

#undef bpf_object__open_skeleton
#undef bpf_object__load_skeleton
#undef bpf_object__attach_skeleton
#undef bpf_object__detach_skeleton
#undef bpf_object__destroy_skeleton

namespace modload::detail {

namespace {

constexpr const char* kVmlinuxBtf = "/sys/kernel/btf/vmlinux";

// The layout open_files.bpf.c writes; the BPF target lays the struct out as x86-64 does.
static_assert(sizeof(open_file_record) == 96);
static_assert(offsetof(open_file_record, comm) == 24);
static_assert(offsetof(open_file_record, owner) == 40);

int silent_print(enum libbpf_print_level, const char*, va_list) {
    return 0;
}

// libbpf prints its warnings and errors on stderr unless told otherwise, and the library never
// prints. The callback is libbpf's global: the caller's own is put back afterwards.
class SilenceLibbpf {
  public:
    SilenceLibbpf() : previous_(bound().libbpf_set_print(silent_print)) {}
    SilenceLibbpf(const SilenceLibbpf&) = delete;
    SilenceLibbpf& operator=(const SilenceLibbpf&) = delete;
    ~SilenceLibbpf() { (void)bound().libbpf_set_print(previous_); }

  private:
    libbpf_print_fn_t previous_;
};

struct SkeletonDeleter {
    void operator()(open_files_bpf* skeleton) const { open_files_bpf__destroy(skeleton); }
};
using Skeleton = std::unique_ptr<open_files_bpf, SkeletonDeleter>;

struct LinkDeleter {
    void operator()(bpf_link* link) const { (void)bound().bpf_link__destroy(link); }
};
using Link = std::unique_ptr<bpf_link, LinkDeleter>;

// libbpf 1.x returns a negative errno, or NULL with errno set; never 0 for a failure.
int failure_code(int returned) {
    return returned < 0 ? -returned : (errno != 0 ? errno : EIO);
}

HoldVia hold_via(unsigned int via) {
    switch (via) {
        case OPEN_FILE_VIA_FILE_OPERATIONS:
            return HoldVia::file_operations;
        case OPEN_FILE_VIA_SOCKET_FAMILY:
            return HoldVia::socket_family;
        case OPEN_FILE_VIA_SOCKET_PROTOCOL:
            return HoldVia::socket_protocol;
        case OPEN_FILE_VIA_BLOCK_DEVICE:
            return HoldVia::block_device;
        default:
            return HoldVia::none;
    }
}

// A NUL-terminated string in a fixed-size field; a field without NUL is taken whole.
template <std::size_t N>
std::string field_text(const char (&field)[N]) {
    return std::string(field, strnlen(field, N));
}

}  // namespace

Result<std::vector<OpenFileRecord>> scan_open_files_bpf(System& system) {
    // libbpf relocates the program's field accesses against this; without it, it fails late and
    // with a less telling error.
    if (auto st = system.stat(kVmlinuxBtf); !st) {
        if (st.error().code == ENOENT) {
            return make_error(ENOTSUP, std::string("no BTF at ") + kVmlinuxBtf);
        }
        return make_error(st.error().code, kVmlinuxBtf);
    }

    const Result<const Libbpf*> lib = libbpf();
    if (!lib) {
        return lib.error();
    }
    const SilenceLibbpf silence;
    errno = 0;
    Skeleton skeleton(open_files_bpf__open());
    if (!skeleton) {
        return make_error(failure_code(0), "opening the open-file iterator");
    }
    if (const int r = open_files_bpf__load(skeleton.get()); r != 0) {
        return make_error(failure_code(r), "loading the open-file iterator");
    }
    errno = 0;
    Link link((*lib)->bpf_program__attach_iter(skeleton->progs.scan_open_file, nullptr));
    if (!link) {
        return make_error(failure_code(0), "attaching the open-file iterator");
    }
    const UniqueFd iter((*lib)->bpf_iter_create((*lib)->bpf_link__fd(link.get())));
    if (!iter.valid()) {
        return make_error(failure_code(iter.get()), "creating the open-file iterator");
    }

    // The kernel writes whole records into its buffer, but read() copies what fits, so a record
    // can straddle two reads: read to the end.
    Result<std::string> bytes = std::string();
    if (auto r = system.read_all(iter.get(), *bytes, std::size_t{1} << 30, true); !r) {
        return make_error(r.error().code, "reading the open-file iterator");
    }
    const std::size_t count = bytes->size() / sizeof(open_file_record);
    if (bytes->size() % sizeof(open_file_record) != 0 || count != skeleton->bss->records_written) {
        return make_error(EIO, "the open-file iterator wrote " +
                                   std::to_string(skeleton->bss->records_written) +
                                   " records, read " + std::to_string(bytes->size()) + " bytes");
    }

    std::vector<OpenFileRecord> records;
    records.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        open_file_record raw;
        std::memcpy(&raw, bytes->data() + i * sizeof(raw), sizeof(raw));
        records.push_back(OpenFileRecord{
            .file_id = raw.file,
            .pid = static_cast<int>(raw.tgid),
            .command = field_text(raw.comm),
            .fd = static_cast<int>(raw.fd),
            .owner = field_text(raw.owner),
            .via = hold_via(raw.via),
        });
    }
    return records;
}

}  // namespace modload::detail
