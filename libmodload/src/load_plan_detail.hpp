// What load_plan.cpp and load_planner.cpp share.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <modload/builtin_modules.hpp>
#include <modload/result.hpp>
#include <modload/snapshot.hpp>
#include <modload/system.hpp>

namespace modload::detail {

/// Whether no other user could have written `path` or the folder it is in (whoever can write a
/// folder can swap the file in it): EPERM naming which, or the error of looking. `file` is the
/// file's stat when the caller has it (through the descriptor it will load), else it is stat'ed.
Result<void> check_trusted(System& system, const std::filesystem::path& path,
                           const FileStatus* file);
/// The same as a value: why `path` may not be trusted, nullopt when it may, or the error of
/// looking.
Result<std::optional<std::string>> distrust(System& system, const std::filesystem::path& path,
                                            const FileStatus* file);

/// Loaded or built in: nothing to load.
bool available(const std::string& name, const Snapshot& loaded, const BuiltinModules& builtin);

}  // namespace modload::detail
