// Runs a driver's main coroutine to its end on a one-thread io_context: the
// shape of the soak and of every load generator scenario.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <functional>
#include <utility>

namespace baton::loopback {

// Spawns `main` on `io` and runs `io` on this thread until it has no work left;
// returns what `main` returned or rethrows what it threw. `on_failure`, when
// given, runs on that thread as soon as `main` throws, to drop what would keep
// `io` busy (connections, timers). REQUIRES: `io` is not running elsewhere.
template <class T>
T run_to_end(boost::asio::io_context& io, boost::asio::awaitable<T> main, std::function<void()> on_failure = {}) {
  T result{};
  std::exception_ptr failure;
  boost::asio::co_spawn(io, std::move(main), [&](std::exception_ptr e, T r) {
    failure = e;
    result = std::move(r);
    if (e && on_failure) on_failure();
  });
  io.run();
  if (failure) std::rethrow_exception(failure);
  return result;
}

}  // namespace baton::loopback
