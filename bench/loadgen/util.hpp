// Helpers shared by the scenarios.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "histogram.hpp"

namespace baton::bench {

// Waits (polling every `poll`) until `done()` is true; throws std::runtime_error
// naming `what` when `timeout` passes first.
boost::asio::awaitable<void> wait_until(std::function<bool()> done, std::chrono::milliseconds timeout,
                                        const std::string& what,
                                        std::chrono::milliseconds poll = std::chrono::milliseconds(10));
boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds d);

// "127.0.0.1", "127.0.0.2", ... (`count` of them).
std::vector<std::string> loopback_sources(int count);

// Pretty-printed JSON with two-space indents.
std::string pretty(const boost::json::value& v);

// p50/p99/p99.9/max/mean in milliseconds, and the count.
boost::json::object latency_json(const Histogram& h);

// On a shared machine: waits until programs other than this one and `server`
// have used under `threshold` cores for half a second, at most `max_wait`.
// Returns the cores they used in the last half second (what the run starts with).
boost::asio::awaitable<double> wait_for_quiet(int server_pid, double threshold, std::chrono::milliseconds max_wait);

// Logs a line to stderr with the time since the program started.
void log(const std::string& line);

double round_to(double v, int digits);

}  // namespace baton::bench
