#include <modload/clock.hpp>

#include <ctime>

namespace modload {

namespace {

class SystemClock final : public Clock {
  public:
    std::chrono::steady_clock::time_point now() override {
        return std::chrono::steady_clock::now();
    }

    void sleep_for(std::chrono::milliseconds duration) override {
        // One nanosleep, not a loop over EINTR: a signal must cut the sleep short so that the
        // caller can notice it.
        const auto count = duration.count();
        timespec ts{static_cast<time_t>(count / 1000), static_cast<long>((count % 1000) * 1000000)};
        (void)::nanosleep(&ts, nullptr);
    }
};

}  // namespace

Clock& system_clock() {
    static SystemClock clock;
    return clock;
}

}  // namespace modload
