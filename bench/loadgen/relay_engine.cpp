#include "relay_engine.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "util.hpp"

namespace baton::bench {

namespace net = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

struct ClientId {
  char dir = 0;  // 'v' visitor -> agent, 'a' agent -> visitor
  int run = 0;
  std::uint64_t k = 0;
  std::int64_t sched_us = 0;
};

bool parse_client_id(std::string_view s, ClientId& out) {
  if (s.size() < 7 || (s[0] != 'v' && s[0] != 'a')) return false;
  out.dir = s[0];
  const char* p = s.data() + 1;
  const char* end = s.data() + s.size();
  auto r1 = std::from_chars(p, end, out.run);
  if (r1.ec != std::errc() || r1.ptr == end || *r1.ptr != '-') return false;
  auto r2 = std::from_chars(r1.ptr + 1, end, out.k);
  if (r2.ec != std::errc() || r2.ptr == end || *r2.ptr != '-') return false;
  auto r3 = std::from_chars(r2.ptr + 1, end, out.sched_us);
  return r3.ec == std::errc() && r3.ptr == end;
}

std::string fmt2(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

enum Flag : std::uint8_t { kSent = 1, kDelivered = 2, kAcked = 4, kRefused = 8 };

// When message k of `run` was due: t0 + k / rate. Its client id carries the same
// time in microseconds; the exact value decides the measured window.
std::int64_t scheduled_time(const Run& run, std::uint64_t k) {
  return run.t0 + static_cast<std::int64_t>(static_cast<double>(k) * 1e9 / run.rate);
}

// CPU of baton serve's threads over the measured window, summed by role.
json::array threads_json(const Run& run) {
  std::map<std::string, double> by_label;
  std::vector<std::string> order;
  double wall = static_cast<double>(run.wall1 - run.wall0);
  for (std::size_t i = 0; i < run.threads1.size(); ++i) {
    std::int64_t before = 0;
    for (const auto& [tid, ns] : run.threads0)
      if (tid == run.threads1[i].first) before = ns;
    std::string label = baton_thread_label(i, thread_name(run.pid, run.threads1[i].first));
    if (!by_label.count(label)) order.push_back(label);
    by_label[label] += wall > 0 ? static_cast<double>(run.threads1[i].second - before) / wall : 0;
  }
  json::array out;
  for (const auto& l : order) out.push_back(json::object{{"thread", l}, {"cpu_cores", round_to(by_label[l], 3)}});
  return out;
}

// What the server wrote per message sent while it was measured (the WAL and
// database pwrites; sockets are not counted).
json::object io_json(const Run& run) {
  double n = 0;
  for (std::uint64_t k = 0; k < run.total; ++k) {
    auto t = scheduled_time(run, k);
    if (t >= run.wall0 && t < run.wall1) ++n;
  }
  if (n <= 0 || run.io0.wchar < 0 || run.io1.wchar < 0) return {};
  return json::object{{"write_syscall_bytes", round_to(static_cast<double>(run.io1.wchar - run.io0.wchar) / n, 1)},
                      {"storage_write_bytes", round_to(static_cast<double>(run.io1.write_bytes - run.io0.write_bytes) / n, 1)},
                      {"write_syscalls", round_to(static_cast<double>(run.io1.syscw - run.io0.syscw) / n, 3)}};
}

}  // namespace

RelayEngine::RelayEngine(RelayOptions o, std::string name) : o_(std::move(o)), name_(std::move(name)) {}

net::awaitable<json::object> RelayEngine::main() {
  json::object out;
  co_await setup();
  out["setup"] = setup_json();

  Run* fixed = co_await run_at(o_.rate, o_.warmup_s, o_.duration_s);

  // The runs' JSON is made at the end, so that a message delivered after its run's
  // drain counts as late, not lost.
  std::vector<Run*> step_runs;
  double best = 0;
  if (o_.search) {
    // The fixed-rate run is the first point: passed, the search doubles from it;
    // failed, it is the upper bound, and the search starts lower.
    double lo = 0, hi = 0;  // highest passing, lowest failing (0 = none yet)
    double r = o_.search_start;
    if (fixed->passed) {
      lo = o_.rate;
      r = o_.rate * 2;
    } else {
      hi = o_.rate;
      if (r >= hi) r = hi / 4;
    }
    auto step = [&](double rate) -> net::awaitable<bool> {
      if (broken_) {
        log(name_ + ": rebuilding the server and connections after a broken run");
        co_await teardown();
        co_await setup();
      }
      Run* run = co_await run_at(rate, o_.warmup_s, o_.step_s);
      step_runs.push_back(run);
      co_return run->passed;
    };
    while (r <= o_.search_max && (hi == 0 || r < hi)) {
      if (co_await step(r)) {
        lo = r;
        r *= 2;
      } else {
        hi = r;
        break;
      }
    }
    if (hi > 0) {
      for (int i = 0; i < o_.bisect; ++i) {
        // Rates rounded to two significant digits of the failing rate (100 near 5 000, 10 near 125).
        double grain = std::max(1.0, std::pow(10.0, std::floor(std::log10(hi)) - 1));
        double mid = std::round((lo > 0 ? (lo + hi) / 2 : hi / 2) / grain) * grain;
        if (mid <= lo || mid >= hi) break;
        if (co_await step(mid)) lo = mid;
        else hi = mid;
      }
    }
    best = lo;
    out["search"] = json::object{{"p99_limit_ms", o_.p99_limit_ms},
                                 {"max_rate_p99_under_limit", best},
                                 {"lowest_failing_rate", hi}};
  }
  out["server_rss_bytes_end"] = process_rss_bytes(server_pid());
  co_await sleep_for(1s);  // stragglers of the last run
  json::object headline = run_json(*fixed);
  if (!o_.latency_trace.empty()) write_trace(*fixed, o_.latency_trace);
  out["fixed_rate"] = headline;
  if (o_.search) {
    json::array steps;
    for (Run* r : step_runs) steps.push_back(run_json(*r));
    out["search"].as_object()["steps"] = std::move(steps);
  }
  co_await teardown();

  // The summary in the shape of results.json.
  json::object summary;
  summary["rate_per_s"] = o_.rate;
  summary["delivered_per_s"] = headline["delivered_per_s"];
  summary["p50_ms"] = headline["latency"].as_object()["p50_ms"];
  summary["p99_ms"] = headline["latency"].as_object()["p99_ms"];
  summary["p999_ms"] = headline["latency"].as_object()["p999_ms"];
  summary["lost"] = headline["lost"];
  summary["duplicated"] = headline["duplicated"];
  if (o_.search) summary["max_rate_p99_under_10ms"] = best;
  // Context that changes what the figures mean: a shared machine, a run called off.
  summary["other_programs_cpu_cores"] = headline["other_programs_cpu_cores"];
  if (headline.contains("aborted")) summary["aborted"] = headline["aborted"];
  out["summary"] = summary;
  co_return out;
}

void RelayEngine::on_closed(const std::string& who, const std::string& why) {
  if (tearing_down_) return;
  closed_.push_back(who + ": " + why);
  broken_ = true;
}

Run* RelayEngine::find_run(int id) {
  if (id < 0 || static_cast<std::size_t>(id) >= runs_.size()) return nullptr;
  return runs_[static_cast<std::size_t>(id)].get();
}

std::size_t RelayEngine::pair_of(std::string_view client_id) const {
  ClientId id;
  if (!parse_client_id(client_id, id) || pair_count_ == 0) return static_cast<std::size_t>(-1);
  return id.k % pair_count_;
}

void RelayEngine::on_delivered(bool at_agent, std::string_view client_id, bool pair_ok) {
  ClientId id;
  if (client_id.empty() || !parse_client_id(client_id, id)) return;  // not one of ours
  if ((id.dir == 'v') != at_agent) return;                           // the sender's own copy
  Run* run = find_run(id.run);
  if (!run || id.k >= run->total) return;
  std::int64_t now = now_ns();
  if (id.run != current_) ++run->late;
  std::uint8_t& f = run->flags[id.k];
  if (f & kDelivered) {
    ++run->duplicated;
    return;
  }
  f |= kDelivered;
  ++run->delivered;
  if (!pair_ok) ++run->misrouted;
  std::int64_t sched = scheduled_time(*run, id.k);
  if (sched >= run->window_start && sched < run->window_end) {
    ++run->window_delivered;
    run->latency.record(now - sched);
    if (run->id == 0 && !o_.latency_trace.empty()) run->trace.emplace_back(sched - run->window_start, now - sched);
  }
}

void RelayEngine::on_acked(std::string_view client_id, bool duplicate) {
  ClientId id;
  if (!parse_client_id(client_id, id)) return;
  Run* run = find_run(id.run);
  if (!run || id.k >= run->total) return;
  std::uint8_t& f = run->flags[id.k];
  if (duplicate) ++run->duplicate_acks;
  if (f & kAcked) {
    ++run->ack_repeats;
    return;
  }
  f |= kAcked;
  ++run->acked;
  std::int64_t sched = scheduled_time(*run, id.k);
  if (sched >= run->window_start && sched < run->window_end) run->ack_latency.record(now_ns() - sched);
}

void RelayEngine::on_refused(std::string_view client_id, const std::string& code) {
  ClientId id;
  Run* run = parse_client_id(client_id, id) ? find_run(id.run) : nullptr;
  if (!run) run = find_run(current_);
  if (!run) return;
  ++run->errors[code.empty() ? "unknown" : code];
  if (id.dir && id.k < run->total && !(run->flags[id.k] & kRefused)) {
    run->flags[id.k] |= kRefused;
    ++run->refused;
  }
}

void RelayEngine::send_one(Run& run, std::uint64_t k, std::int64_t now) {
  std::size_t pair = k % pair_count_;
  bool from_visitor = (k / pair_count_) % 2 == 0;
  auto sched = scheduled_time(run, k);
  std::string cid = std::string(from_visitor ? "v" : "a") + std::to_string(run.id) + "-" + std::to_string(k) + "-" +
                    std::to_string(sched / 1000);
  std::string text = "Message " + std::to_string(k) + " of the relay benchmark. ";
  if (text.size() < static_cast<std::size_t>(o_.text_bytes))
    text.append(static_cast<std::size_t>(o_.text_bytes) - text.size(), 'x');
  send(pair, from_visitor, cid, text);
  run.flags[k] |= kSent;
  ++run.sent;
  run.send_lag.record(now - sched);
}

net::awaitable<Run*> RelayEngine::run_at(double rate, double warmup_s, double duration_s) {
  auto ex = co_await net::this_coro::executor;
  double others = co_await wait_for_quiet(server_pid(), 0.25,
                                          std::chrono::milliseconds(static_cast<long long>(o_.common.quiet_wait_s * 1000)));
  auto run_ptr = std::make_unique<Run>();
  Run& run = *run_ptr;
  run.id = static_cast<int>(runs_.size());
  runs_.push_back(std::move(run_ptr));
  current_ = run.id;
  run.rate = rate;
  run.others_before = others;
  run.total = static_cast<std::uint64_t>(rate * (warmup_s + duration_s));
  run.flags.assign(run.total, 0);
  run.t0 = now_ns() + 20'000'000;  // a moment to start the timers
  run.window_start = run.t0 + static_cast<std::int64_t>(warmup_s * 1e9);
  run.window_end = run.window_start + static_cast<std::int64_t>(duration_s * 1e9);
  running_ = true;
  log(name_ + ": run " + std::to_string(run.id) + " at " + std::to_string(static_cast<long long>(rate)) +
      " msg/s for " + fmt2(warmup_s + duration_s) + " s");

  // Most unanswered messages allowed before the run is called off: half a second's
  // worth, at least 2000. Past it the server is not keeping up and a bigger backlog
  // would only close sockets as too slow.
  const std::uint64_t max_backlog = std::max<std::uint64_t>(2000, static_cast<std::uint64_t>(rate / 2));
  const pid_t pid = server_pid();
  net::steady_timer timer(ex);
  const auto tick_ns = static_cast<std::int64_t>(o_.send_tick_us * 1000);
  bool window_started = false;
  while (run.next < run.total) {
    std::int64_t now = now_ns();
    if (!window_started && now >= run.window_start) {
      window_started = true;
      run.server_cpu0 = process_cpu_ns(pid);
      run.client_cpu0 = self_cpu_ns();
      run.threads0 = thread_cpu_ns(pid);
      run.machine0 = machine_busy_ns();
      run.io0 = process_io(pid);
      run.wall0 = now;
    }
    auto due = static_cast<std::uint64_t>(std::max<double>(0, static_cast<double>(now - run.t0) * rate / 1e9)) + 1;
    due = std::min(due, run.total);
    while (run.next < due) send_one(run, run.next++, now);
    std::uint64_t answered = (has_acks() ? run.acked : run.delivered) + run.refused;
    if (run.sent - std::min(run.sent, answered) > max_backlog) {
      run.aborted = true;
      run.abort_reason = "more than " + std::to_string(max_backlog) + " messages unanswered";
      break;
    }
    if (broken_) {
      run.aborted = true;
      run.abort_reason = "a connection closed: " + (closed_.empty() ? std::string("?") : closed_.front());
      break;
    }
    if (run.next < run.total) {
      // Not before the next message is due, nor before the tick is over.
      std::int64_t wake = std::max(scheduled_time(run, run.next), now + tick_ns);
      timer.expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(wake)));
      co_await timer.async_wait(net::use_awaitable);
    }
  }
  std::int64_t end = now_ns();
  run.server_cpu1 = process_cpu_ns(pid);
  run.client_cpu1 = self_cpu_ns();
  run.threads1 = thread_cpu_ns(pid);
  run.pid = pid;
  run.machine1 = machine_busy_ns();
  run.io1 = process_io(pid);
  run.wall1 = end;
  if (!window_started) {
    run.server_cpu0 = run.server_cpu1;
    run.client_cpu0 = run.client_cpu1;
    run.machine0 = run.machine1;
    run.io0 = run.io1;
    run.wall0 = end;
  }
  for (std::uint64_t k = 0; k < run.total; ++k) {
    auto sched = scheduled_time(run, k);
    if (sched >= run.window_start && sched < run.window_end) ++run.window_scheduled;
  }
  // Drain: every message delivered or refused, and answered.
  bool acks = has_acks();
  try {
    co_await wait_until(
        [&run, acks] {
          return run.delivered + run.refused >= run.sent && (!acks || run.acked + run.refused >= run.sent);
        },
        std::chrono::milliseconds(static_cast<long long>(o_.drain_s * 1000)), "the last deliveries");
  } catch (const std::runtime_error&) {
    // Counted below as lost or unacknowledged.
  }
  // A short quiet moment so that late duplicates would still be seen.
  co_await sleep_for(100ms);
  current_ = -1;  // from now on, what arrives for this run is late
  run.server_rss = process_rss_bytes(pid);
  std::uint64_t lost = lost_of(run);
  double p99 = run.latency.percentile_ms(0.99);
  run.passed = !run.aborted && !broken_ && lost == 0 && run.duplicated == 0 && run.refused == 0 &&
               run.misrouted == 0 && run.window_delivered == run.window_scheduled && run.latency.count() > 0 &&
               p99 < o_.p99_limit_ms;
  double window_s = static_cast<double>(run.window_end - run.window_start) / 1e9;
  log(name_ + ": run " + std::to_string(run.id) + ": " + (run.passed ? "PASS" : "FAIL") + " delivered " +
      std::to_string(static_cast<long long>(static_cast<double>(run.window_delivered) / window_s)) + "/s, " +
      summary(run.latency) + ", lost " + std::to_string(lost) + ", dup " + std::to_string(run.duplicated) +
      ", refused " + std::to_string(run.refused) + ", server CPU " + fmt2(cores(run.server_cpu0, run.server_cpu1, run)) +
      ", client CPU " + fmt2(cores(run.client_cpu0, run.client_cpu1, run)) + ", machine busy " +
      fmt2(cores(run.machine0, run.machine1, run)) + (run.aborted ? ", aborted: " + run.abort_reason : ""));
  running_ = false;
  // Let a failed run's backlog clear before the next one.
  if (!run.passed && !broken_) {
    try {
      co_await wait_until(
          [&run, acks] { return (acks ? run.acked : run.delivered) + run.refused >= run.sent; }, 20s,
          "the backlog to clear");
    } catch (const std::runtime_error&) {
      broken_ = true;
    }
  }
  co_return &run;
}

void RelayEngine::write_trace(const Run& run, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    log(name_ + ": cannot write " + path);
    return;
  }
  std::fputs("due_ms,latency_ms\n", f);
  for (const auto& [due, latency] : run.trace)
    std::fprintf(f, "%.3f,%.3f\n", static_cast<double>(due) / 1e6, static_cast<double>(latency) / 1e6);
  std::fclose(f);
}

std::uint64_t RelayEngine::lost_of(const Run& run) const {
  // Sent, neither delivered to the other side nor refused with an error.
  std::uint64_t lost = 0;
  for (std::uint8_t f : run.flags)
    if ((f & kSent) && !(f & kDelivered) && !(f & kRefused)) ++lost;
  return lost;
}

double RelayEngine::cores(std::int64_t c0, std::int64_t c1, const Run& run) {
  double wall = static_cast<double>(run.wall1 - run.wall0);
  return wall > 0 ? round_to(static_cast<double>(c1 - c0) / wall, 2) : 0.0;
}

json::object RelayEngine::run_json(const Run& run) const {
  double window_s = static_cast<double>(run.window_end - run.window_start) / 1e9;
  std::uint64_t unacked = 0;
  for (std::uint8_t f : run.flags)
    if ((f & kSent) && !(f & kAcked) && !(f & kRefused)) ++unacked;
  json::object errors;
  for (const auto& [code, n] : run.errors) errors[code] = n;
  double server = cores(run.server_cpu0, run.server_cpu1, run);
  double client = cores(run.client_cpu0, run.client_cpu1, run);
  json::object o{{"rate_per_s", run.rate},
                 {"measured_s", window_s},
                 {"scheduled", run.total},
                 {"sent", run.sent},
                 {"delivered", run.delivered},
                 {"delivered_per_s", round_to(static_cast<double>(run.window_delivered) / window_s, 1)},
                 {"lost", lost_of(run)},
                 {"duplicated", run.duplicated},
                 {"late", run.late},
                 {"refused", run.refused},
                 {"misrouted", run.misrouted},
                 {"errors", errors},
                 {"latency", latency_json(run.latency)},
                 {"send_lag", latency_json(run.send_lag)},
                 {"server_cpu_cores", server},
                 {"client_cpu_cores", client},
                 // One client thread: near a full core it, not the server, sets the pace.
                 {"client_saturated", client >= 0.9},
                 {"other_programs_cpu_cores_before", round_to(run.others_before, 2)},
                 {"other_programs_cpu_cores",
                  round_to(std::max(0.0, cores(run.machine0, run.machine1, run) - server - client), 2)},
                 {"server_rss_bytes", run.server_rss},
                 {"server_io_per_message", io_json(run)},
                 {"passed", run.passed}};
  if (has_acks()) {
    o["acked"] = run.acked;
    o["unacked"] = unacked;
    o["duplicate_acks"] = run.duplicate_acks;
    o["ack_latency"] = latency_json(run.ack_latency);
  }
  if (baton_threads()) o["server_threads"] = threads_json(run);
  if (run.aborted) o["aborted"] = run.abort_reason;
  return o;
}

}  // namespace baton::bench
