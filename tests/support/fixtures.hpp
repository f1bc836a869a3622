// Where the fixtures are, a scratch folder per test, and running a tool in-process.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <modload/clock.hpp>
#include <modload/system.hpp>

#include "fake_kernel.hpp"

namespace modload::testing {

/// A module built by the test build (tests/fixtures/meson.build), e.g. "fixture_plain.ko".
std::string fixture_module(const std::string& file);

/// A committed fixture root under tests/fixtures/roots/, e.g. "basic".
std::filesystem::path fixture_root(const std::string& name);

std::vector<std::byte> read_bytes(const std::filesystem::path& path);
void write_bytes(const std::filesystem::path& path, const std::vector<std::byte>& bytes);
std::string read_text(const std::filesystem::path& path);
void write_text(const std::filesystem::path& path, const std::string& text);

/// A fresh folder, removed with everything in it when the object goes.
class ScratchDir {
  public:
    ScratchDir();
    /// In `parent` instead of the temporary folder (empty: the temporary folder).
    explicit ScratchDir(const std::filesystem::path& parent);
    ~ScratchDir();
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  private:
    std::filesystem::path path_;
};

/// A writable copy of the fixture root `name` in `dir`; returns the copy's path.
std::filesystem::path copy_fixture_root(const std::string& name, const ScratchDir& dir);

/// What a tool printed and returned.
struct ToolRun {
    int status = -1;
    std::string out;
    std::string err;
};

/// The files under a fixture root (make_rooted_system), for a test that reads them: with
/// `kernel` and `clock` when given, else a FakeKernel of its own and the system clock. It stands
/// where a System& is wanted.
class FixtureSystem {
  public:
    explicit FixtureSystem(std::filesystem::path root, Kernel* kernel = nullptr,
                           Clock* clock = nullptr);
    operator System&() const { return *system_; }  // NOLINT(google-explicit-constructor)
    System& operator*() const { return *system_; }
    System* operator->() const { return system_.get(); }

  private:
    std::unique_ptr<FakeKernel> own_kernel_;
    std::unique_ptr<System> system_;
};

/// Runs tools/<tool> in-process against `kernel` (a FakeKernel or a ModelKernel) and the files
/// under `root`: `args` excludes the program name. Forgets any stop signal noted before.
ToolRun run_tool(const std::string& tool, Kernel& kernel, const std::filesystem::path& root,
                 const std::vector<std::string>& args, const std::string& release = "6.1.0-test",
                 int stdin_fd = 0, Clock* clock = nullptr, bool out_is_terminal = false);

/// The same on `system` (a FixtureSystem, or a FaultingSystem around one).
ToolRun run_tool(const std::string& tool, System& system, const std::vector<std::string>& args,
                 const std::string& release = "6.1.0-test", int stdin_fd = 0,
                 bool out_is_terminal = false);

}  // namespace modload::testing
