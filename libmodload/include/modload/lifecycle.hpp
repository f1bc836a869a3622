// A module's life in the kernel, and what the module system calls answer at each point of it.
//
// Every rule here is the kernel's (kernel/module/main.c), and the library's removal and loading
// paths rely on them; the VM lab checks them on real kernels.
//
//   (load)  UNFORMED -> COMING -> LIVE -> GOING -> (freed)
//                         |                ^
//                         +-- init fails --+
//
// - UNFORMED: the kernel is still laying the module out; /proc/modules does not list it.
// - COMING ("Loading" in /proc/modules): its init function is running. A second load of the same
//   name waits for it and then answers EEXIST if it went Live, EBUSY otherwise; delete_module
//   answers EBUSY (not Live).
// - LIVE: delete_module answers EWOULDBLOCK (= EAGAIN) while other modules hold it or references
//   remain (open files, try_module_get users), EBUSY when it has an init but no exit function
//   ("[permanent]"), and otherwise removes it. Since Linux 3.13 the kernel never waits: O_NONBLOCK
//   is ignored, and waiting for a module to become free is user space's job.
// - GOING ("Unloading", refcount -1): its exit function is running, called by the one
//   delete_module that won; every other delete_module answers EBUSY. It cannot come back: once
//   exit returns the module is freed and the name is free again. A load of the same name answers
//   EBUSY while it is going.
// - Not loaded: delete_module answers ENOENT.
// - Both calls answer EPERM without CAP_SYS_MODULE or once /proc/sys/kernel/modules_disabled is 1.
// - Loading: since Linux 6.5 a concurrent finit_module of the same file waits for the first and
//   returns its result; init_module of a copy in memory is not deduplicated.
#pragma once

#include <string_view>

#include <modload/export.hpp>

namespace modload {

/// The states /proc/modules shows. UNFORMED modules are not listed at all.
enum class ModuleState {
    live,       ///< "Live": initialized; removable when nothing holds it
    loading,    ///< "Loading" (COMING): its init function is running
    unloading,  ///< "Unloading" (GOING): its exit function is running; it will be freed
};

/// "Live", "Loading" or "Unloading".
MODLOAD_API std::string_view module_state_name(ModuleState state);

}  // namespace modload
