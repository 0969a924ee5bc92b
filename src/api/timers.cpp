#include "baton/api/timers.hpp"

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>

namespace baton::api {

namespace {

class SteadyTimer final : public Timer {
 public:
  SteadyTimer(boost::asio::any_io_executor executor, const core::Clock& clock) : timer_(executor), clock_(clock) {}

  void wait_until(core::Millis at, std::function<void()> fn) override {
    timer_.expires_after(std::chrono::milliseconds(std::max<core::Millis>(0, at - clock_.now())));
    // The handler holds no pointer to this timer: it may be gone when a cancelled wait completes.
    timer_.async_wait([fn = std::move(fn)](boost::system::error_code ec) {
      if (!ec) fn();
    });
  }

  void cancel() override { timer_.cancel(); }

 private:
  boost::asio::steady_timer timer_;
  const core::Clock& clock_;
};

}  // namespace

std::unique_ptr<Timer> SteadyTimers::make(boost::asio::any_io_executor executor) {
  return std::make_unique<SteadyTimer>(std::move(executor), clock_);
}

}  // namespace baton::api
