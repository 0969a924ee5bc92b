// The open-loop relay engine shared by `relay` (Baton) and `peer` (Prosody): runs
// at fixed rates, the search for the highest rate whose p99 is under a limit, and
// the accounting of every message (delivered, acknowledged, refused, lost,
// duplicated). A protocol subclass sets up its server and pairs, sends, and
// reports what its sockets receive through on_delivered / on_acked / on_refused.
//
// Message k of a run goes to pair k % P, alternately from the visitor (k / P
// even) and from the agent. Its client id carries the direction, the run, k and
// the scheduled send time: "v3-1234-987654321" (microseconds on the monotonic
// clock). Latency is from the scheduled time, not the moment the client got round
// to sending it, so a late client cannot hide a slow server (no coordinated
// omission); how late the client was is reported as send_lag.
//
// Threads: everything runs on one io_context thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "histogram.hpp"
#include "scenarios.hpp"
#include "sysinfo.hpp"

namespace baton::bench {

// One run at one rate.
struct Run {
  int id = 0;
  double rate = 0;
  std::int64_t t0 = 0;            // scheduled time of message 0 (ns, monotonic)
  std::int64_t window_start = 0;  // measured part: messages scheduled in [start, end)
  std::int64_t window_end = 0;
  std::uint64_t total = 0;  // messages scheduled
  std::uint64_t next = 0;   // next k to send
  std::vector<std::uint8_t> flags;
  std::uint64_t sent = 0, delivered = 0, acked = 0, refused = 0, duplicated = 0, ack_repeats = 0,
                duplicate_acks = 0, misrouted = 0, window_scheduled = 0, window_delivered = 0;
  std::uint64_t late = 0;  // delivered after the run ended (during a later one)
  bool aborted = false;  // stopped sending: the backlog grew past the limit or a socket closed
  std::string abort_reason;
  Histogram latency;      // scheduled send -> the other side receives it (window only)
  Histogram ack_latency;  // scheduled send -> the sender receives the ack (window only)
  Histogram send_lag;     // scheduled send -> handed to the socket (all)
  std::vector<std::pair<std::int64_t, std::int64_t>> trace;  // (due - window start, latency) ns, if asked
  std::map<std::string, std::uint64_t> errors;  // code -> count
  std::int64_t machine0 = 0, machine1 = 0, server_cpu0 = 0, server_cpu1 = 0, client_cpu0 = 0, client_cpu1 = 0,
               wall0 = 0, wall1 = 0;
  std::int64_t server_rss = 0;
  std::vector<std::pair<pid_t, std::int64_t>> threads0, threads1;  // server threads' CPU
  pid_t pid = 0;                                                 // the server, for thread names
  ProcessIo io0, io1;                                              // server's /proc/PID/io
  double others_before = 0;  // cores other programs used just before the run
  bool passed = false;
};

class RelayEngine {
 public:
  explicit RelayEngine(RelayOptions o, std::string name);
  virtual ~RelayEngine() = default;

  // Sets up, runs at the fixed rate, searches (if asked), tears down. The result
  // has "setup", "fixed_rate", "search" and "summary" (the shape of results.json).
  boost::asio::awaitable<boost::json::object> main();

 protected:
  // Starts the server and makes pair_count_ pairs ready to exchange messages.
  virtual boost::asio::awaitable<void> setup() = 0;
  // Closes every connection and stops the server.
  virtual boost::asio::awaitable<void> teardown() = 0;
  // Sends the text of one message of `pair`, with its client id, from the visitor or the agent.
  virtual void send(std::size_t pair, bool from_visitor, const std::string& client_id, const std::string& text) = 0;
  virtual pid_t server_pid() const = 0;
  virtual boost::json::object setup_json() const = 0;
  // Whether the server acknowledges messages to their sender (Baton does; plain XMPP does not).
  virtual bool has_acks() const { return true; }
  // Whether the server's threads can be labelled by role (baton serve only).
  virtual bool baton_threads() const { return true; }

  // What a socket received during a run. `at_agent`: on the agent's side. `pair_ok`:
  // the protocol's check that it arrived in the right conversation.
  void on_delivered(bool at_agent, std::string_view client_id, bool pair_ok);
  void on_acked(std::string_view client_id, bool duplicate);
  void on_refused(std::string_view client_id, const std::string& code);
  void on_closed(const std::string& who, const std::string& why);
  // The pair a client id belongs to (k % pairs); npos if it is not one of ours.
  std::size_t pair_of(std::string_view client_id) const;

  RelayOptions o_;
  std::string name_;  // for the log: "relay", "peer"
  std::size_t pair_count_ = 0;
  bool running_ = false;
  bool broken_ = false;
  bool tearing_down_ = false;
  std::int64_t last_received_ = 0;  // set by subclasses on every message, for the settle wait
  std::vector<std::string> closed_;

 private:
  boost::asio::awaitable<Run*> run_at(double rate, double warmup_s, double duration_s);
  void send_one(Run& run, std::uint64_t k, std::int64_t now);
  Run* find_run(int id);
  boost::json::object run_json(const Run& run) const;
  std::uint64_t lost_of(const Run& run) const;
  void write_trace(const Run& run, const std::string& path);
  static double cores(std::int64_t c0, std::int64_t c1, const Run& run);

  std::vector<std::unique_ptr<Run>> runs_;
  int current_ = -1;
};

}  // namespace baton::bench
