// The loaded modules, from one read of /proc/modules.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <modload/export.hpp>
#include <modload/lifecycle.hpp>
#include <modload/result.hpp>
#include <modload/system.hpp>

namespace modload {

/// One line of /proc/modules.
struct MODLOAD_API LoadedModule {
    std::string name;
    std::uint64_t size = 0;
    /// References held on the module; nullopt when the kernel cannot unload modules at all
    /// (no CONFIG_MODULE_UNLOAD: /proc/modules shows "-").
    std::optional<int> refcount;
    /// The modules that use this one's symbols, in the kernel's order.
    std::vector<std::string> holders;
    ModuleState state = ModuleState::live;
    std::uint64_t address = 0;
    /// Taint letters without the parentheses ("OE"); empty when untainted.
    std::string taints;
    /// The module has an init but no exit function: it can never be removed ("[permanent]").
    bool permanent = false;

    /// References that no holder module accounts for: open files, try_module_get users.
    int external_references() const;
};

/// A /proc/modules line that could not be understood, and was left out.
struct MODLOAD_API SkippedLine {
    std::size_t number = 0;  ///< from 1
    std::string text;        ///< the line, cut at 200 bytes
};

/// Every loaded module at one moment, in /proc/modules order (newest first).
class MODLOAD_API Snapshot {
  public:
    Snapshot() = default;
    explicit Snapshot(std::vector<LoadedModule> modules) : modules_(std::move(modules)) {}

    /// Reads <root>/proc/modules once. ENOENT when the kernel has no module support.
    static Result<Snapshot> read(System& system);
    /// Parses /proc/modules text: the fields every kernel prints, ignoring any a later kernel
    /// appends. A line that cannot be understood (or names no valid module) is left out and
    /// listed in skipped(); no single line stops the parse.
    static Result<Snapshot> parse(std::string_view text);

    std::span<const LoadedModule> modules() const { return modules_; }
    /// The module called `name` (already normalized), or nullptr.
    const LoadedModule* find(std::string_view name) const;
    /// The modules `name` depends on: those that list it as a holder, in snapshot order.
    std::vector<std::string_view> dependencies_of(std::string_view name) const;
    /// The lines parse() left out, for the tools to mention.
    std::span<const SkippedLine> skipped() const { return skipped_; }

  private:
    std::vector<LoadedModule> modules_;
    std::vector<SkippedLine> skipped_;
};

}  // namespace modload
