// The names of the outcome enums: the words the tools use for people, and the values of their
// JSON. Scripts read the JSON, so a name, once given, stays.
#include <modload/load_plan.hpp>
#include <modload/loader.hpp>
#include <modload/loading.hpp>
#include <modload/references.hpp>
#include <modload/removal.hpp>

namespace modload {

std::string_view obstacle_name(Obstacle obstacle) {
    switch (obstacle) {
        case Obstacle::none:
            return "none";
        case Obstacle::builtin:
            return "builtin";
        case Obstacle::not_loaded:
            return "not loaded";
        case Obstacle::has_holders:
            return "has holders";
        case Obstacle::in_use:
            return "in use";
        case Obstacle::loading:
            return "loading";
        case Obstacle::unloading:
            return "unloading";
        case Obstacle::unload_unsupported:
            break;
    }
    return "unload unsupported";
}

std::string_view plan_reason_name(PlanReason reason) {
    switch (reason) {
        case PlanReason::target:
            return "target";
        case PlanReason::holder:
            return "holder";
        case PlanReason::unused_dependency:
            return "unused dependency";
        case PlanReason::softdep:
            break;
    }
    return "soft dependency";
}

std::string_view removal_stage_name(RemovalStage stage) {
    switch (stage) {
        case RemovalStage::listing:
            return "listing";
        case RemovalStage::configuration:
            return "configuration";
        case RemovalStage::checking:
            return "checking";
        case RemovalStage::planning:
            return "planning";
        case RemovalStage::removing:
            break;
    }
    return "removing";
}

std::string_view removal_failure_kind_name(RemovalFailureKind kind) {
    switch (kind) {
        case RemovalFailureKind::refused_by_check:
            return "refused by a check";
        case RemovalFailureKind::refused_by_kernel:
            return "refused by the kernel";
        case RemovalFailureKind::timed_out:
            return "timed out";
        case RemovalFailureKind::interrupted:
            return "interrupted";
        case RemovalFailureKind::list_unreadable:
            return "module list unreadable";
        case RemovalFailureKind::configuration_unreadable:
            return "configuration unreadable";
        case RemovalFailureKind::no_plan:
            break;
    }
    return "no plan possible";
}

std::string_view load_stage_name(LoadStage stage) {
    switch (stage) {
        case LoadStage::opening:
            return "opening";
        case LoadStage::inspecting:
            return "inspecting";
        case LoadStage::listing:
            return "listing";
        case LoadStage::builtin:
            return "builtin";
        case LoadStage::configuration:
            return "configuration";
        case LoadStage::disabled:
            return "disabled";
        case LoadStage::planning:
            return "planning";
        case LoadStage::loading:
            return "loading";
        case LoadStage::interrupted:
            break;
    }
    return "interrupted";
}

std::string_view load_result_name(LoadResult result) {
    switch (result) {
        case LoadResult::planned:
            return "planned";
        case LoadResult::inserted:
            return "inserted";
        case LoadResult::loaded_by_others:
            return "loaded by others";
        case LoadResult::failed:
            return "failed";
        case LoadResult::removed_again:
            return "removed again";
        case LoadResult::gone:
            break;
    }
    return "gone";
}

std::string_view load_role_name(LoadRole role) {
    switch (role) {
        case LoadRole::dependency:
            return "dependency";
        case LoadRole::pre_softdep:
            return "pre softdep";
        case LoadRole::target:
            return "target";
        case LoadRole::post_softdep:
            break;
    }
    return "post softdep";
}

std::string_view load_method_name(LoadMethod method) {
    switch (method) {
        case LoadMethod::finit:
            return "finit_module";
        case LoadMethod::finit_compressed:
            return "finit_module compressed";
        case LoadMethod::init:
            return "init_module";
        case LoadMethod::init_without_finit:
            break;
    }
    return "init_module without finit_module";
}

std::string_view load_reason_name(LoadReason reason) {
    switch (reason) {
        case LoadReason::none:
            return "none";
        case LoadReason::not_a_file:
            return "not a file";
        case LoadReason::kernel_lacks_compression:
            return "kernel lacks compression";
        case LoadReason::kernel_other_compression:
            return "kernel other compression";
        case LoadReason::several_units:
            return "several units";
        case LoadReason::xz_check:
            return "xz check";
        case LoadReason::xz_filter:
            return "xz filter";
        case LoadReason::gzip_header:
            return "gzip header";
        case LoadReason::zstd_window:
            return "zstd window";
        case LoadReason::kernel_refused:
            break;
    }
    return "kernel refused";
}

std::string_view file_scan_name(FileScan scan) {
    switch (scan) {
        case FileScan::bpf:
            return "bpf";
        case FileScan::proc:
            return "proc";
        case FileScan::none:
            break;
    }
    return "none";
}

std::string_view unread_kind_name(UnreadKind kind) {
    switch (kind) {
        case UnreadKind::process:
            return "process";
        case UnreadKind::process_list:
            return "process list";
        case UnreadKind::file:
            break;
    }
    return "file";
}

}  // namespace modload
