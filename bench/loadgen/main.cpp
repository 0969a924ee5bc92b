// baton-loadgen: the benchmark driver (docs/benchmarks.md). Starts real
// `baton serve` processes, drives them over loopback with the protocol the chat
// page and the console speak, and writes what it measured as JSON.
//
//   baton-loadgen relay        [options]   visitor–agent pairs at a fixed rate; max rate with p99 < 10 ms
//   baton-loadgen connections  [options]   N idle visitors held; server RSS per connection
//   baton-loadgen transfer     [options]   federated transfers between two servers
//   baton-loadgen peer         [options]   the relay load against Prosody (bench/prosody/install.sh)
//   baton-loadgen all --short  [options]   every scenario, short; writes results.json
//   baton-loadgen selftest                 checks the histogram and the protocol readers
#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include "histogram.hpp"
#include "proto.hpp"
#include "scenarios.hpp"
#include "server.hpp"
#include "sysinfo.hpp"
#include "util.hpp"

namespace json = boost::json;
using namespace baton::bench;

namespace {

json::object machine_json() {
  Machine m = machine();
  return json::object{{"nproc", m.nproc},
                      {"model_name", m.model_name},
                      {"mem_total_bytes", m.mem_total_bytes},
                      {"kernel", m.kernel},
                      {"loadavg_1m_at_start", round_to(m.loadavg_1m, 2)}};
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

void write_json(const std::string& path, const json::object& o) {
  if (path.empty() || path == "-") {
    std::cout << pretty(o);
    return;
  }
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  std::ofstream(path) << pretty(o);
  log("wrote " + path);
}

int selftest() {
  int failures = 0;
  auto check = [&](bool ok, const std::string& what) {
    if (!ok) {
      std::cerr << "FAIL: " << what << "\n";
      ++failures;
    }
  };
  // Every value lands in a bucket whose top is >= the value and within 1/64 of it.
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200000; ++i) {
    std::uint64_t v = rng() >> (rng() % 64);
    int idx = Histogram::index_of(v);
    std::uint64_t top = Histogram::highest_in(idx);
    check(idx >= 0 && idx < Histogram::kBuckets, "index in range");
    check(top >= v, "bucket top >= value");
    check(static_cast<double>(top - v) <= static_cast<double>(v) / 64.0 + 1, "relative error <= 1/64");
    if (idx > 0) check(Histogram::highest_in(idx - 1) < v, "previous bucket below value");
  }
  // Percentiles of 1..100000 µs.
  Histogram h;
  for (int i = 1; i <= 100000; ++i) h.record(static_cast<std::int64_t>(i) * 1000);
  auto near = [](double got, double want) { return got >= want && got <= want * (1 + 1.0 / 64); };
  check(near(h.percentile_ms(0.5), 50.0), "p50");
  check(near(h.percentile_ms(0.99), 99.0), "p99");
  check(near(h.percentile_ms(0.999), 99.9), "p99.9");
  check(h.percentile(1.0) == h.max(), "p100 is max");
  check(h.count() == 100000, "count");
  Histogram a, b;
  a.record(1'000'000);
  b.record(3'000'000);
  a.merge(b);
  check(a.count() == 2 && a.min() == 1'000'000 && a.max() == 3'000'000, "merge");
  // The hot-path field readers.
  std::string_view ev = R"({"type":"event","conversation":"c1","seq":3,"author":{"kind":"agent","id":"a"},)"
                        R"("client_id":"v0-12-345","text":"client_id: x","at":9})";
  check(event_type(ev) == "event", "event_type");
  check(string_field(ev, "client_id") == "v0-12-345", "string_field client_id");
  check(string_field(ev, "id") == "a", "string_field does not match inside another key");
  check(string_field(ev, "missing").empty(), "string_field absent");
  check(int_field(ev, "seq") == 3 && int_field(ev, "nope", -7) == -7, "int_field");
  check(json_quote("a\"b\n") == R"("a\"b\n")", "json_quote");
  std::cout << (failures ? "selftest FAILED\n" : "selftest passed\n");
  return failures ? 1 : 0;
}

void add_common(CLI::App* app, Common& c) {
  app->add_option("--baton", c.baton, "The baton binary to benchmark")->capture_default_str();
  app->add_option("--workdir", c.workdir, "Where servers' configurations, data and logs go")->capture_default_str();
  app->add_option("--sources", c.sources, "Source addresses 127.0.0.1..N for client connections")
      ->capture_default_str();
  app->add_option("--server-threads", c.server_threads, "Server network threads (0 = one per core)")
      ->capture_default_str();
  app->add_option("--quiet-wait", c.quiet_wait_s,
                  "Before each run, wait up to this many seconds for other programs to go quiet")
      ->capture_default_str();
  app->add_option("--ws-queue-messages", c.ws_queue_messages,
                  "The servers' limits.ws_queue_messages (0 = their default, 256)")
      ->capture_default_str();
  app->add_option("--server-wrapper", c.server_wrapper,
                  "Run each server under this command, e.g. \"heaptrack -o build/bench/heap\" (profiling)");
}

void add_relay(CLI::App* app, RelayOptions& r) {
  app->add_option("--pairs", r.pairs, "Visitor–agent pairs")->capture_default_str();
  app->add_option("--capacity", r.capacity, "Conversations per agent")->capture_default_str();
  app->add_option("--agents", r.agents, "Agents (0 = pairs / capacity, rounded up)")->capture_default_str();
  app->add_option("--queues", r.queues, "Queues; agents and visitors spread round-robin")->capture_default_str();
  app->add_option("--rate", r.rate, "Messages per second (both directions) of the fixed-rate run")->capture_default_str();
  app->add_option("--duration", r.duration_s, "Measured seconds of the fixed-rate run")->capture_default_str();
  app->add_option("--warmup", r.warmup_s, "Unmeasured seconds before each run")->capture_default_str();
  app->add_option("--drain", r.drain_s, "Seconds to wait for the last deliveries")->capture_default_str();
  app->add_flag("!--no-search", r.search, "Skip the search for the highest rate with p99 under the limit");
  app->add_option("--search-start", r.search_start, "First rate of the search")->capture_default_str();
  app->add_option("--search-max", r.search_max, "Highest rate the search tries")->capture_default_str();
  app->add_option("--bisect", r.bisect, "Halvings once a failing rate is found")->capture_default_str();
  app->add_option("--step", r.step_s, "Measured seconds of each search step")->capture_default_str();
  app->add_option("--p99-limit-ms", r.p99_limit_ms, "The latency limit of the search")->capture_default_str();
  app->add_option("--text-bytes", r.text_bytes, "Length of each message's text")->capture_default_str();
  app->add_option("--send-tick-us", r.send_tick_us,
                  "The sender wakes at most once per this many microseconds and sends what is due")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 100000.0));
  app->add_option("--latency-trace", r.latency_trace,
                  "Write a CSV of the fixed-rate run's messages: due (ms into the window), latency (ms)");
}

void add_connections(CLI::App* app, ConnectionsOptions& c) {
  app->add_option("--connections", c.connections, "Idle visitors to hold")->capture_default_str();
  app->add_option("--per-queue", c.per_queue, "Waiting conversations per queue")->capture_default_str();
  app->add_option("--concurrency", c.concurrency, "Connections set up at once")->capture_default_str();
  app->add_option("--checkpoints", c.checkpoints, "RSS samples per phase")->capture_default_str();
  app->add_option("--hold", c.hold_s, "Seconds to hold them all before the last sample")->capture_default_str();
}

void add_transfer(CLI::App* app, TransferOptions& t) {
  app->add_option("--rate", t.rate, "Transfers started per second")->capture_default_str();
  app->add_option("--duration", t.duration_s, "Seconds of starts (transfers = rate * duration)")->capture_default_str();
  app->add_option("--capacity", t.capacity, "Conversations per agent at both servers")->capture_default_str();
  app->add_option("--timeout", t.timeout_s, "Seconds to wait for the last transfers")->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  for (int sig : {SIGINT, SIGTERM}) {
    std::signal(sig, [](int s) {
      stop_all_servers();
      std::_Exit(128 + s);
    });
  }
  CLI::App cli{"baton-loadgen: benchmarks for Baton (docs/benchmarks.md)"};
  cli.require_subcommand(1);
  std::string out;

  RelayOptions relay;
  auto* relay_cmd = cli.add_subcommand("relay", "Visitor–agent pairs at a fixed total rate, open loop");
  add_common(relay_cmd, relay.common);
  add_relay(relay_cmd, relay);
  relay_cmd->add_option("--out", out, "Write the JSON here (default: stdout)");

  ConnectionsOptions conns;
  auto* conns_cmd = cli.add_subcommand("connections", "Hold N idle visitors; server RSS per connection");
  add_common(conns_cmd, conns.common);
  add_connections(conns_cmd, conns);
  conns_cmd->add_option("--out", out, "Write the JSON here (default: stdout)");

  RelayOptions peer;
  auto* peer_cmd = cli.add_subcommand("peer", "The relay load against Prosody (XMPP over WebSocket, mod_mam on SQLite)");
  add_common(peer_cmd, peer.common);
  add_relay(peer_cmd, peer);
  peer_cmd->add_option("--out", out, "Write the JSON here (default: stdout)");

  TransferOptions transfer;
  auto* transfer_cmd = cli.add_subcommand("transfer", "Federated transfers between two servers, at a fixed rate");
  add_common(transfer_cmd, transfer.common);
  add_transfer(transfer_cmd, transfer);
  transfer_cmd->add_option("--out", out, "Write the JSON here (default: stdout)");

  Common all_common;
  bool short_run = false;
  auto* all_cmd = cli.add_subcommand("all", "Every scenario; writes results.json");
  add_common(all_cmd, all_common);
  all_cmd->add_flag("--short", short_run, "The short version (make bench)");
  std::string all_out = "build/bench/results.json";
  all_cmd->add_option("--out", all_out, "Results file")->capture_default_str();

  auto* self_cmd = cli.add_subcommand("selftest", "Check the histogram");

  CLI11_PARSE(cli, argc, argv);

  try {
    if (self_cmd->parsed()) return selftest();
    raise_fd_limit();
    json::object result{{"machine", machine_json()}, {"started_at", utc_now()}};
    if (relay_cmd->parsed()) {
      result["relay"] = run_relay(relay);
      write_json(out, result);
      return 0;
    }
    if (conns_cmd->parsed()) {
      result["connections"] = run_connections(conns);
      write_json(out, result);
      return 0;
    }
    if (peer_cmd->parsed()) {
      result["peer"] = run_peer(peer);
      write_json(out, result);
      return 0;
    }
    if (transfer_cmd->parsed()) {
      result["transfer"] = run_transfer(transfer);
      write_json(out, result);
      return 0;
    }
    if (all_cmd->parsed()) {
      RelayOptions r;
      r.common = all_common;
      ConnectionsOptions c;
      c.common = all_common;
      TransferOptions t;
      t.common = all_common;
      if (short_run) {
        r.duration_s = 5;
        r.step_s = 2;
        r.bisect = 2;
        c.connections = 5000;
        c.hold_s = 2;
        t.duration_s = 3;
      }
      json::object details;
      // One scenario that cannot run does not stop the others: its entry says why.
      int failures = 0;
      auto attempt = [&failures](const char* name, auto&& run) -> json::object {
        try {
          return run();
        } catch (const std::exception& e) {
          log(std::string(name) + " could not run: " + e.what());
          ++failures;
          return json::object{{"error", e.what()}};
        }
      };
      auto pick = [](const json::object& from, std::initializer_list<const char*> keys) {
        if (from.contains("error")) return json::object{{"error", from.at("error")}};
        json::object out;
        for (const char* k : keys)
          if (from.contains(k)) out[k] = from.at(k);
        return out;
      };
      json::object conn = attempt("connections", [&] { return run_connections(c); });
      json::object rel = attempt("relay", [&] { return run_relay(r); });
      json::object tra = attempt("transfer", [&] { return run_transfer(t); });
      // The same relay load against Prosody, when bench/prosody/install.sh has installed it.
      json::object peer_result;
      bool have_prosody = std::system("command -v prosody >/dev/null 2>&1") == 0;
      if (have_prosody) {
        RelayOptions p = r;
        p.rate = 100;  // near Prosody's ceiling at p99 < 10 ms on the development machine
        p.search_start = 50;
        p.bisect = 3;
        p.drain_s = 15;  // Prosody stalls for seconds under load; late is not lost
        peer_result = attempt("peer", [&] { return run_peer(p); });
      }
      json::object results;
      results["connections"] = pick(conn, {"held", "server_rss_bytes_per_connection"});
      results["relay"] = rel.contains("summary") ? rel.at("summary").as_object() : pick(rel, {});
      results["transfer"] =
          pick(tra, {"completed", "per_s", "p50_ms", "p99_ms", "failed", "other_programs_cpu_cores"});
      if (!have_prosody) {
        results["peer"] = json::object{{"name", "prosody"},
                                       {"skipped", "prosody is not installed: run bench/prosody/install.sh"}};
      } else if (peer_result.contains("summary") && rel.contains("summary")) {
        const auto& ps = peer_result.at("summary").as_object();
        double baton_max = rel.at("summary").as_object().at("max_rate_p99_under_10ms").to_number<double>();
        double peer_max = ps.at("max_rate_p99_under_10ms").to_number<double>();
        results["peer"] = json::object{{"name", "prosody"},
                                       {"relay_max_rate_p99_under_10ms", peer_max},
                                       {"baton_relay_max_rate_p99_under_10ms", baton_max},
                                       {"ratio", peer_max > 0 ? json::value(round_to(baton_max / peer_max, 2))
                                                               : json::value(nullptr)},
                                       {"other_programs_cpu_cores", ps.at("other_programs_cpu_cores")}};
      } else {
        json::object e = pick(peer_result, {});
        e["name"] = "prosody";
        results["peer"] = e;
      }
      results["machine"] = result["machine"];
      results["started_at"] = result["started_at"];
      results["finished_at"] = utc_now();
      results["short"] = short_run;
      details["connections"] = conn;
      details["relay"] = rel;
      details["transfer"] = tra;
      if (have_prosody) details["peer"] = peer_result;
      results["details"] = details;
      write_json(all_out, results);
      return failures == 0 ? 0 : 1;
    }
  } catch (const std::exception& e) {
    std::cerr << "baton-loadgen: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
