// Planning a dependency-aware removal: a pure function of one snapshot.
#pragma once

#include <span>
#include <string>
#include <vector>

#include <modload/result.hpp>
#include <modload/snapshot.hpp>

namespace modload {

struct PlanOptions {
    /// First remove, recursively, the modules that hold each target, each after its own holders.
    bool remove_holders = false;
    /// After the targets, remove every module they depended on that is then unused (no holders
    /// left, no references from outside modules, not permanent), transitively.
    bool remove_dependencies = false;
};

/// Why a module is in a plan.
enum class PlanReason { target, holder, unused_dependency };

struct PlanStep {
    std::string name;
    PlanReason reason = PlanReason::target;
};

/// Modules in removal order: every module comes after all the modules that hold it.
struct RemovalPlan {
    std::vector<PlanStep> steps;
};

/// Plans the removal of `targets` (normalized names, all loaded) from `snapshot`.
/// Fails with ENOENT for a target that is not loaded, EBUSY when a holder that must go is
/// permanent, and ELOOP when the holder lists form a cycle (a corrupt or forged snapshot).
Result<RemovalPlan> plan_removal(const Snapshot& snapshot, std::span<const std::string> targets,
                                 const PlanOptions& options);

}  // namespace modload
