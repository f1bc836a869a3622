// The basic fixture root on the model kernel: what most rmmod tests start from.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "fixtures.hpp"
#include "model_kernel.hpp"
#include "tool.hpp"

namespace modload::testing {

// The basic fixture root (modules.builtin lists ext4; /sys/module/vt exists) with the model's
// /proc/modules: iptable_nat's chain, xfs sharing libcrc32c, lab_dev held by two open files, and
// a permanent module.
struct BasicWorld {
    ScratchDir dir;
    std::filesystem::path root = copy_fixture_root("basic", dir);
    ModelKernel kernel{root, {"ext4"}};
    ModelClock clock{kernel};

    /// `scratch_parent`: where its folder goes (empty: the temporary folder).
    explicit BasicWorld(const std::filesystem::path& scratch_parent = {}) : dir(scratch_parent) {
        for (ModelModule m : std::vector<ModelModule>{
                 {.name = "libcrc32c"},
                 {.name = "xfs", .references = 1, .uses = {"libcrc32c"}},
                 {.name = "nf_defrag_ipv4"},
                 {.name = "nf_defrag_ipv6"},
                 {.name = "nf_conntrack",
                 .uses = {"libcrc32c", "nf_defrag_ipv4", "nf_defrag_ipv6"}},
                 {.name = "x_tables"},
                 {.name = "ip_tables", .uses = {"x_tables"}},
                 {.name = "nf_nat", .uses = {"libcrc32c", "nf_conntrack"}},
                 {.name = "iptable_nat", .uses = {"nf_nat", "ip_tables", "x_tables"}},
                 {.name = "lab_dev", .references = 2, .taints = "OE"},
                 {.name = "lab_permanent", .permanent = true},
             }) {
            kernel.add(std::move(m));
        }
        clock.interrupt_when([] { return tools::stop_signal() != 0; });
    }

    modload::testing::ToolRun rmmod(const std::vector<std::string>& args) {
        return run_tool("rmmod", kernel, root, args, "6.1.0-test", 0, &clock);
    }

    // At simulated time `at`, once: `action` (another process acting).
    void at(Millis when, std::function<void()> action) {
        kernel.on_step([this, when, action = std::move(action), done = false](StepPoint) mutable {
            if (!done && kernel.now() >= when) {
                done = true;
                action();
            }
        });
    }

    std::vector<std::string> our_deletes() const {
        std::vector<std::string> names;
        for (const auto& call : kernel.calls()) {
            names.push_back(call.name);
        }
        return names;
    }
};

}  // namespace modload::testing
