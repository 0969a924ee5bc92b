#include "util.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <stdexcept>

#include "sysinfo.hpp"

namespace baton::bench {

namespace net = boost::asio;
namespace json = boost::json;

net::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  auto ex = co_await net::this_coro::executor;
  net::steady_timer t(ex, d);
  co_await t.async_wait(net::use_awaitable);
}

net::awaitable<void> wait_until(std::function<bool()> done, std::chrono::milliseconds timeout,
                                const std::string& what, std::chrono::milliseconds poll) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("timed out after " + std::to_string(timeout.count()) + " ms waiting for " + what);
    co_await sleep_for(poll);
  }
}

net::awaitable<double> wait_for_quiet(int server_pid, double threshold, std::chrono::milliseconds max_wait) {
  auto deadline = now_ns() + static_cast<std::int64_t>(max_wait.count()) * 1'000'000;
  double other = 0;
  bool told = false;
  for (;;) {
    std::int64_t m0 = machine_busy_ns(), s0 = self_cpu_ns(), p0 = server_pid > 0 ? process_cpu_ns(server_pid) : 0;
    std::int64_t t0 = now_ns();
    co_await sleep_for(std::chrono::milliseconds(500));
    std::int64_t m1 = machine_busy_ns(), s1 = self_cpu_ns(), p1 = server_pid > 0 ? process_cpu_ns(server_pid) : 0;
    double wall = static_cast<double>(now_ns() - t0);
    other = std::max(0.0, static_cast<double>((m1 - m0) - (s1 - s0) - (p1 - p0)) / wall);
    if (other < threshold || now_ns() > deadline) break;
    if (!told) {
      log("other programs use " + std::to_string(other).substr(0, 4) + " cores; waiting for a quieter moment");
      told = true;
    }
  }
  co_return other;
}

std::vector<std::string> loopback_sources(int count) {
  std::vector<std::string> out;
  for (int i = 1; i <= count; ++i) out.push_back("127.0.0." + std::to_string(i));
  return out;
}

namespace {
void pretty_to(std::string& out, const json::value& v, int indent) {
  std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
  std::string pad_in(static_cast<std::size_t>(indent + 1) * 2, ' ');
  if (v.is_object()) {
    const auto& o = v.get_object();
    if (o.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    std::size_t i = 0;
    for (const auto& kv : o) {
      out += pad_in + json::serialize(json::value(kv.key())) + ": ";
      pretty_to(out, kv.value(), indent + 1);
      out += ++i < o.size() ? ",\n" : "\n";
    }
    out += pad + "}";
  } else if (v.is_array()) {
    const auto& a = v.get_array();
    bool simple = true;
    for (const auto& e : a) simple = simple && !e.is_object() && !e.is_array();
    if (simple) {
      out += "[";
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i) out += ", ";
        pretty_to(out, a[i], 0);
      }
      out += "]";
      return;
    }
    out += "[\n";
    for (std::size_t i = 0; i < a.size(); ++i) {
      out += pad_in;
      pretty_to(out, a[i], indent + 1);
      out += i + 1 < a.size() ? ",\n" : "\n";
    }
    out += pad + "]";
  } else if (v.is_double()) {
    // Boost.JSON writes 1E4 and 2.5E0; people read 10000 and 2.5.
    double d = v.get_double();
    char buf[40];
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15)
      std::snprintf(buf, sizeof buf, "%.0f", d);
    else
      std::snprintf(buf, sizeof buf, "%.6g", d);
    out += buf;
  } else {
    out += json::serialize(v);
  }
}
}  // namespace

std::string pretty(const json::value& v) {
  std::string out;
  pretty_to(out, v, 0);
  out += "\n";
  return out;
}

double round_to(double v, int digits) {
  double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

json::object latency_json(const Histogram& h) {
  json::object o;
  o["count"] = h.count();
  o["p50_ms"] = round_to(h.percentile_ms(0.5), 3);
  o["p99_ms"] = round_to(h.percentile_ms(0.99), 3);
  o["p999_ms"] = round_to(h.percentile_ms(0.999), 3);
  o["max_ms"] = round_to(static_cast<double>(h.max()) / 1e6, 3);
  o["mean_ms"] = round_to(h.mean() / 1e6, 3);
  return o;
}

void log(const std::string& line) {
  static const std::int64_t start = now_ns();
  char buf[32];
  std::snprintf(buf, sizeof buf, "[%8.3f] ", static_cast<double>(now_ns() - start) / 1e9);
  std::cerr << buf << line << std::endl;
}

}  // namespace baton::bench
