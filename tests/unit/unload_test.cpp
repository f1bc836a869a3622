#include <cerrno>

#include <catch2/catch.hpp>

#include <modload/unload.hpp>

#include "fake_clock.hpp"
#include "fixtures.hpp"

using namespace modload;
using namespace std::chrono_literals;
using modload::testing::FakeClock;
using modload::testing::FakeKernel;

TEST_CASE("a waiting removal retries while the module is in use, backing off", "[unload]") {
    FakeKernel kernel;
    FakeClock clock;
    for (int i = 0; i < 12; ++i) {
        kernel.fail_next("delete_module", EWOULDBLOCK);
    }
    auto r = remove_module_waiting(kernel, "lab_hold", false, WaitPolicy{}, clock, nullptr);
    REQUIRE(r);
    CHECK(kernel.calls().size() == 13);
    const auto& sleeps = clock.sleeps();
    REQUIRE(sleeps.size() == 12);
    CHECK(sleeps[0] == 4ms);
    CHECK(sleeps[1] == 8ms);
    CHECK(sleeps[7] == 512ms);
    CHECK(sleeps[8] == 1000ms);  // capped
    CHECK(sleeps[11] == 1000ms);
}

TEST_CASE("a waiting removal stops at once on an error other than in-use", "[unload]") {
    FakeKernel kernel;
    FakeClock clock;
    kernel.fail_next("delete_module", EWOULDBLOCK);
    kernel.fail_next("delete_module", EBUSY);
    auto r = remove_module_waiting(kernel, "perm", false, WaitPolicy{}, clock, nullptr);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == EBUSY);
    CHECK(kernel.calls().size() == 2);
}

TEST_CASE("a waiting removal gives up at its timeout with one last try", "[unload]") {
    FakeKernel kernel;
    FakeClock clock;
    kernel.fail_delete("busy", EWOULDBLOCK);
    WaitPolicy policy;
    policy.timeout = 100ms;
    auto r = remove_module_waiting(kernel, "busy", false, policy, clock, nullptr);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ETIMEDOUT);
    CHECK(r.error().detail == "after 100 ms");
    // 4+8+16+32 = 60, then 40 to land exactly on the deadline, then the last try.
    CHECK(clock.sleeps().back() == 40ms);
    CHECK(kernel.calls().size() == 6);
}

TEST_CASE("a zero timeout tries exactly once", "[unload]") {
    FakeKernel kernel;
    FakeClock clock;
    kernel.fail_delete("busy", EWOULDBLOCK);
    WaitPolicy policy;
    policy.timeout = 0ms;
    auto r = remove_module_waiting(kernel, "busy", false, policy, clock, nullptr);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ETIMEDOUT);
    CHECK(kernel.calls().size() == 1);
    CHECK(clock.sleeps().empty());
}

TEST_CASE("the observer sees the time waited and can end the wait", "[unload]") {
    FakeKernel kernel;
    FakeClock clock;
    kernel.fail_delete("busy", EWOULDBLOCK);
    std::vector<std::chrono::milliseconds> seen;
    auto r = remove_module_waiting(kernel, "busy", false, WaitPolicy{}, clock,
                                   [&](std::string_view name, std::chrono::milliseconds waited) {
                                       CHECK(name == "busy");
                                       seen.push_back(waited);
                                       return seen.size() < 3;
                                   });
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ECANCELED);
    CHECK(seen == std::vector<std::chrono::milliseconds>{4ms, 12ms, 28ms});
    CHECK(kernel.calls().size() == 3);  // no attempt after the observer gave up
}

TEST_CASE("a plan runs in order and stops at the first failure", "[unload]") {
    FakeKernel kernel;
    FakeClock clock;
    kernel.fail_delete("c", EBUSY);
    const RemovalPlan plan{{{"a"}, {"b"}, {"c"}, {"d"}}};
    const PlanOutcome outcome = run_plan(kernel, plan, false, std::nullopt, clock, nullptr);
    CHECK_FALSE(outcome.ok());
    CHECK(outcome.removed == std::vector<std::string>{"a", "b"});
    CHECK(outcome.left == std::vector<std::string>{"c", "d"});
    CHECK(outcome.error->code == EBUSY);
    CHECK(kernel.calls().size() == 3);
}

TEST_CASE("a module removed by someone else during a plan is not an error", "[unload]") {
    FakeKernel kernel;
    FakeClock clock;
    kernel.fail_delete("b", ENOENT);
    const RemovalPlan plan{{{"a"}, {"b"}, {"c"}}};
    const PlanOutcome outcome = run_plan(kernel, plan, true, std::nullopt, clock, nullptr);
    CHECK(outcome.ok());
    CHECK(outcome.removed == std::vector<std::string>{"a", "c"});
    CHECK(outcome.already_gone == std::vector<std::string>{"b"});
}

TEST_CASE("a plan with waiting waits for each step", "[unload]") {
    FakeKernel kernel;
    FakeClock clock;
    kernel.fail_next("delete_module", 0);
    kernel.fail_next("delete_module", EWOULDBLOCK);
    kernel.fail_next("delete_module", EWOULDBLOCK);
    const RemovalPlan plan{{{"a"}, {"b"}}};
    const PlanOutcome outcome = run_plan(kernel, plan, false, WaitPolicy{}, clock, nullptr);
    CHECK(outcome.ok());
    CHECK(outcome.removed == std::vector<std::string>{"a", "b"});
    CHECK(kernel.calls().size() == 4);
    CHECK(clock.sleeps().size() == 2);
}
