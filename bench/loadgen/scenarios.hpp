// The benchmark scenarios (issue 5). Each starts its own servers (`baton serve`,
// or Prosody for `peer`) under `workdir`, drives them over loopback, stops them, and returns
// its results as a JSON object (the shape of build/bench/results.json).
// Each throws std::runtime_error when it cannot run at all.
#pragma once

#include <boost/json/object.hpp>
#include <string>

namespace baton::bench {

struct Common {
  std::string baton = "build/baton";  // the server binary
  std::string workdir = "build/bench";
  int sources = 4;          // 127.0.0.1 .. 127.0.0.N as source addresses
  int server_threads = 0;   // `threads` in the server's configuration (0 = one per core)
  std::string server_wrapper;  // run servers under this command (profiling), see ServerSpec
  // Before each measured run, wait up to this long for other programs to use
  // under 0.25 cores (a shared machine); 0 = do not wait.
  double quiet_wait_s = 0;
  int ws_queue_messages = 0;  // the servers' limits.ws_queue_messages; 0 = their default
};

// Visitor–agent pairs exchanging messages at a fixed total rate (open loop);
// each message is acked by the server only once stored.
struct RelayOptions {
  Common common;
  int pairs = 100;
  int capacity = 10;   // conversations per agent
  int agents = 0;      // 0 = just enough: ceil(pairs / capacity)
  // Agents and visitors spread round-robin over this many queues; 0 = one queue per
  // agent (each agent sees only its own conversations' updates). With several agents
  // per queue every message also sends a conversation update to each of them.
  int queues = 0;
  double rate = 10000;      // messages per second, both directions together, for the fixed-rate run
  double duration_s = 5;    // measured part of the fixed-rate run
  double warmup_s = 1;      // sent but not measured, before each run
  double drain_s = 5;       // how long to wait for the last deliveries
  bool search = true;       // also look for the highest rate with p99 under the limit
  double search_start = 2000;
  double search_max = 200000;
  int bisect = 3;           // halvings of the interval once a failing rate is found
  double step_s = 3;        // measured part of each search step
  double p99_limit_ms = 10;
  int text_bytes = 64;
  // The sender wakes at most once per tick and sends every message due by then
  // (latency still counts from each message's own scheduled time). A wake-up per
  // message costs the client a sleep and a wake each time it has caught up.
  double send_tick_us = 200;
  // If set, a CSV of the fixed-rate run's measured messages: when each was due
  // (ms into the window) and its latency (ms), to line the tail up with the server's doings.
  std::string latency_trace;
};
boost::json::object run_relay(const RelayOptions& o);

// The same relay load against Prosody (XMPP over WebSocket, mod_mam on SQLite),
// started with a configuration of ours under workdir/peer. REQUIRES: `prosody` on
// PATH (bench/prosody/install.sh). The queues option does not apply.
boost::json::object run_peer(const RelayOptions& o);

// N idle visitor connections, each with its conversation; the server's RSS
// growth per connection.
struct ConnectionsOptions {
  Common common;
  int connections = 10000;
  int per_queue = 100;   // waiting conversations per queue (sites and queues are made to fit)
  int concurrency = 64;  // connections being set up at once
  int checkpoints = 4;   // RSS samples per phase, for the slope
  double hold_s = 5;     // how long all connections are held before the last sample
};
boost::json::object run_connections(const ConnectionsOptions& o);

// Federated transfers end to end between two servers, started at a fixed rate.
struct TransferOptions {
  Common common;
  double rate = 200;       // transfers started per second
  double duration_s = 5;   // transfers = rate * duration
  int capacity = 100;      // conversations per agent, at both servers
  double timeout_s = 60;   // after the last start, how long to wait for the rest
};
boost::json::object run_transfer(const TransferOptions& o);

}  // namespace baton::bench
