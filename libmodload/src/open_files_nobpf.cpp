// scan_open_files_bpf in a build without BPF (meson -Dbpf=disabled, or libbpf, clang or bpftool
// missing): callers fall back to the /proc scan.
#include "open_files.hpp"

#include <cerrno>

namespace modload::detail {

Result<std::vector<OpenFileRecord>> scan_open_files_bpf(System& /*system*/) {
    return make_error(ENOTSUP, "built without libbpf");
}

}  // namespace modload::detail
