// A Clock whose time moves only when something sleeps on it.
#pragma once

#include <chrono>
#include <functional>
#include <vector>

#include <modload/clock.hpp>

namespace modload::testing {

class FakeClock final : public Clock {
  public:
    std::chrono::steady_clock::time_point now() override { return now_; }
    void sleep_for(std::chrono::milliseconds duration) override {
        sleeps_.push_back(duration);
        now_ += duration;
        if (on_sleep_) {
            on_sleep_();
        }
    }

    /// Runs after every sleep: a test changes the world here (a signal, a module freed).
    void on_sleep(std::function<void()> hook) { on_sleep_ = std::move(hook); }
    const std::vector<std::chrono::milliseconds>& sleeps() const { return sleeps_; }

  private:
    std::chrono::steady_clock::time_point now_{};
    std::vector<std::chrono::milliseconds> sleeps_;
    std::function<void()> on_sleep_;
};

}  // namespace modload::testing
