// Timers on the wall clock of core::Clock, injected so that the simulation
// (tests/sim) moves time itself and tests never wait for real time.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>

#include "baton/core/clock.hpp"

namespace baton::api {

// One wait at a time. Not thread-safe: used from the executor it was made for.
class Timer {
 public:
  virtual ~Timer() = default;
  // Runs `fn` on the timer's executor once the clock reads `at` or later,
  // replacing a wait not yet run. Destroying the timer cancels its wait.
  virtual void wait_until(core::Millis at, std::function<void()> fn) = 0;
  virtual void cancel() = 0;
};

class Timers {
 public:
  virtual ~Timers() = default;
  // A timer whose callbacks run on `executor` (a strand, typically). Thread-safe.
  virtual std::unique_ptr<Timer> make(boost::asio::any_io_executor executor) = 0;
};

// Asio's steady_timer, set to the time left on `clock` when a wait starts: a
// wall-clock jump moves a deadline by as much, so callers check the clock again
// when a timer fires (as every deadline handler here does).
class SteadyTimers final : public Timers {
 public:
  explicit SteadyTimers(const core::Clock& clock) : clock_(clock) {}
  std::unique_ptr<Timer> make(boost::asio::any_io_executor executor) override;

 private:
  const core::Clock& clock_;
};

}  // namespace baton::api
