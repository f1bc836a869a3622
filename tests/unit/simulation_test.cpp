// The simulation (tests/support/simulation.hpp): thousands of seeds each run, every invariant
// checked on every seed. MODLOAD_SIM_SEEDS=N runs N seeds per case (a long campaign),
// MODLOAD_SIM_BASE=B starts at seed B, MODLOAD_SIM_LIST=1 prints every failing seed's
// violations, and MODLOAD_SIM_SEED=N replays one seed with its trace.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "fixtures.hpp"
#include "simulation.hpp"

using modload::testing::ScratchDir;
using modload::testing::SeedResult;

namespace {

std::uint64_t from_environment(const char* name, std::uint64_t fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? std::strtoull(value, nullptr, 10) : fallback;
}

// The model rewrites /proc/modules after every change: on tmpfs that costs microseconds, on a
// disk mounted with discard milliseconds (a thousand times the whole simulation's own work).
class SimulationDir {
  public:
    SimulationDir() {
        std::string pattern = "/dev/shm/modload-sim-XXXXXX";
        if (::mkdtemp(pattern.data()) != nullptr) {
            path_ = pattern;
        } else {
            fallback_.emplace();
            path_ = fallback_->path();
        }
    }
    ~SimulationDir() {
        std::error_code ec;
        if (!fallback_) {
            std::filesystem::remove_all(path_, ec);
        }
    }
    SimulationDir(const SimulationDir&) = delete;
    SimulationDir& operator=(const SimulationDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  private:
    std::optional<ScratchDir> fallback_;
    std::filesystem::path path_;
};

std::string this_executable() {
    char path[4096];
    const ssize_t length = ::readlink("/proc/self/exe", path, sizeof path - 1);
    return length > 0 ? std::string(path, static_cast<std::size_t>(length)) : "unit_tests";
}

void print(const SeedResult& r) {
    std::cout << "seed " << r.seed << "\n" << r.setup << "trace:\n" << r.trace;
    for (const std::string& v : r.violations) {
        std::cout << "VIOLATION: " << v << "\n";
    }
}

// Runs the seeds of one scenario and fails with the first few seeds that broke an invariant,
// each with its replay line.
void run_seeds(const std::string& test_name, std::uint64_t default_count,
               const std::function<SeedResult(std::uint64_t)>& simulate) {
    const char* replay = std::getenv("MODLOAD_SIM_SEED");
    if (replay != nullptr && *replay != '\0') {
        const SeedResult r = simulate(std::strtoull(replay, nullptr, 10));
        print(r);
        CHECK(r.violations.empty());
        return;
    }
    const std::uint64_t base = from_environment("MODLOAD_SIM_BASE", 1);
    const std::uint64_t count = from_environment("MODLOAD_SIM_SEEDS", default_count);
    const bool list = from_environment("MODLOAD_SIM_LIST", 0) != 0;  // every failing seed
    int reported = 0;
    std::uint64_t failed = 0;
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> kinds;  // count, first seed
    std::size_t calls = 0;
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t seed = base; seed < base + count; ++seed) {
        const SeedResult r = simulate(seed);
        calls += r.system_calls;
        if (r.violations.empty()) {
            continue;
        }
        ++failed;
        if (list) {
            for (const std::string& v : r.violations) {
                std::cerr << "seed " << seed << ": " << v << "\n";
            }
        }
        for (const std::string& v : r.violations) {
            // The kind of a violation: its words before the first module name or number.
            std::string kind = v.substr(0, v.find_first_of(":0123456789"));
            auto [it, added] = kinds.try_emplace(kind, 0, seed);
            ++it->second.first;
        }
        if (reported++ < 3) {
            std::string text = "seed " + std::to_string(seed) + ":";
            for (const std::string& v : r.violations) {
                text += "\n  " + v;
            }
            text += "\nreplay: MODLOAD_SIM_SEED=" + std::to_string(seed) + " " + this_executable() +
                    " '" + test_name + "'";
            FAIL_CHECK(text);
        }
    }
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
    std::cerr << test_name << ": " << count << " seeds from " << base << ", " << calls
              << " system calls, " << failed << " failed, " << seconds.count() << " s\n";
    for (const auto& [kind, seen] : kinds) {
        std::cerr << "  " << seen.first << " x " << kind << "(first: seed " << seen.second << ")\n";
    }
    CHECK(failed == 0);
}

}  // namespace

TEST_CASE("remove_modules keeps its promises under random interleavings", "[simulation]") {
    SimulationDir dir;
    run_seeds(
        "remove_modules keeps its promises under random interleavings", 20000,
        [&](std::uint64_t seed) { return modload::testing::simulate_removal(dir.path(), seed); });
}

TEST_CASE("rmmod keeps its promises under random interleavings", "[simulation]") {
    SimulationDir dir;
    modload::testing::write_text(dir / "lib/modules/6.1.0-test/modules.builtin",
                                 "kernel/fs/ext4/ext4.ko\n");
    run_seeds(
        "rmmod keeps its promises under random interleavings", 10000,
        [&](std::uint64_t seed) { return modload::testing::simulate_rmmod(dir.path(), seed); });
}

TEST_CASE("insmod --deps carries on when another process loads the same dependencies",
          "[simulation]") {
    SimulationDir dir;
    modload::testing::prepare_insmod_root(dir.path());
    run_seeds(
        "insmod --deps carries on when another process loads the same dependencies", 5000,
        [&](std::uint64_t seed) { return modload::testing::simulate_insmod(dir.path(), seed); });
}

TEST_CASE("the simulation replays a seed exactly", "[simulation]") {
    SimulationDir dir;
    int with_calls = 0;
    for (std::uint64_t seed = 1; seed <= 40; ++seed) {
        const SeedResult first = modload::testing::simulate_removal(dir.path(), seed);
        const SeedResult again = modload::testing::simulate_removal(dir.path(), seed);
        CHECK(first.trace == again.trace);
        CHECK(first.setup == again.setup);
        with_calls += first.trace.find(" us ") != std::string::npos ? 1 : 0;
    }
    CHECK(with_calls > 10);  // the seeds compared did something
}
