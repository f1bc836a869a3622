// Deterministic simulation of the library's removal and loading paths against the model kernel,
// in the spirit of FoundationDB's simulation tests and TigerBeetle's VOPR: one seed chooses a
// module graph, the options, and other processes (a loader, a remover, a process taking and
// dropping references, a janitor) that act between any two of our system calls and at every
// clock call, plus a signal at a random point. Every actor is bounded (a number of actions and a
// deadline in simulated time) so that every wait can end; after the deadline the references are
// dropped and the janitor removes what holds the modules we remove, as a later admin would.
// Each run then checks the invariants (simulation.cpp, check_*) and returns what it broke.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace modload::testing {

/// A small, fast, seedable generator (splitmix64): the same seed gives the same run everywhere.
class Prng {
  public:
    explicit Prng(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next();
    /// 0 <= result < n (0 when n <= 0).
    int below(int n);
    bool percent(int p) { return below(100) < p; }

  private:
    std::uint64_t state_;
};

/// What one seed did and which invariants it broke.
struct SeedResult {
    std::uint64_t seed = 0;
    std::string setup;                    ///< the graph, the options, the actors
    std::vector<std::string> violations;  ///< empty when every invariant held
    std::string trace;                    ///< the model's trace, with the actors' attempts
    std::size_t system_calls = 0;
};

/// remove_modules() on a random graph with random options (wait with and without a limit,
/// remove_holders, remove_dependencies, force), the observer stopping at the signal.
SeedResult simulate_removal(const std::filesystem::path& root, std::uint64_t seed);

/// rmmod in-process (run_tool) with --wait, -w MSEC, --wait=MSEC, -r, --remove-holders, -f.
SeedResult simulate_rmmod(const std::filesystem::path& root, std::uint64_t seed);

/// insmod --deps of fixture_consumer (-> fixture_provider -> fixture_base; ext4 builtin) while
/// another process loads and removes the same dependencies. `root` must hold
/// prepare_insmod_root()'s files.
SeedResult simulate_insmod(const std::filesystem::path& root, std::uint64_t seed);

/// Copies the fixture chain into <root>/modules and writes modules.builtin (ext4).
void prepare_insmod_root(const std::filesystem::path& root);

}  // namespace modload::testing
