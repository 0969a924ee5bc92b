// A real `baton serve` process for a benchmark: its configuration and data
// folder are generated under a working folder (build/bench/<scenario>/...), its
// agents' password hashes come from `baton agent add --password-stdin`, and the
// process is started, watched (CPU, RSS from /proc) and stopped with SIGTERM.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace baton::bench {

struct AgentSpec {
  std::string name;
  std::vector<std::string> queues;
  int capacity = 3;
};

struct PeerSpec {
  std::string name;
  std::string display_name;
  std::string base_url;
  std::string public_key;           // "ed25519:..."
  std::vector<std::string> queues;  // our queues it may transfer into
};

struct ServerSpec {
  std::string baton;  // path of the baton binary
  std::string dir;    // working folder; emptied first
  std::string organization = "Bench";
  std::uint16_t port = 0;  // 0 = pick a free one
  int threads = 0;         // network threads (0 = one per core)
  std::vector<std::string> queues{"General"};
  // One site per entry: its queue. Origins are made up (http://siteN.bench.test).
  std::vector<std::string> site_queues{"General"};
  std::vector<AgentSpec> agents;
  std::string password = "bench-password";
  int idle_timeout_s = 60;
  int ws_queue_messages = 0;  // limits.ws_queue_messages; 0 = the server's default (256)
  // A command to run the server under, split at spaces, for profiling:
  // "heaptrack -o build/bench/heap", "valgrind --tool=callgrind". The server
  // then runs in its own process group, which stop() signals as a whole.
  std::string wrapper;
  // Federation: a key made with `baton keygen` in `dir` when true.
  bool federation = false;
  std::vector<PeerSpec> peers;
};

class ServerProcess {
 public:
  // Writes the configuration (keys, agents) but does not start the process.
  // Throws std::runtime_error with the reason.
  explicit ServerProcess(ServerSpec spec);
  ~ServerProcess();  // stops the process if running
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // The federation public key ("ed25519:...") when spec.federation.
  const std::string& public_key() const { return public_key_; }
  // Adds peers to the configuration (before start()).
  void add_peers(const std::vector<PeerSpec>& peers);

  // Starts `baton serve` and waits until /healthz answers (throws after 30 s).
  void start();
  // SIGTERM, then waits (SIGKILL after 15 s). Returns the exit status.
  int stop();

  // The `baton serve` process itself (under a wrapper, its descendant).
  pid_t pid() const { return serve_pid_; }
  std::uint16_t port() const { return spec_.port; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(spec_.port); }
  const ServerSpec& spec() const { return spec_; }
  std::string config_path() const { return spec_.dir + "/config.toml"; }
  std::string log_path() const { return spec_.dir + "/server.log"; }

  std::int64_t rss_bytes() const;
  std::int64_t cpu_ns() const;

 private:
  void write_config();
  pid_t find_serve_pid() const;
  ServerSpec spec_;
  std::string public_key_;
  std::string password_hash_;
  pid_t pid_ = -1;        // what we started (the wrapper, if any)
  pid_t serve_pid_ = -1;  // baton serve
  bool wrapped_ = false;
};

// Sends SIGTERM to every wrapped server's process group (those are not in ours,
// so Ctrl-C does not reach them). Async-signal-safe: for a signal handler.
void stop_all_servers();

// Runs a command, feeding `input` on stdin; returns its exit status and fills
// `output` with stdout and stderr. Throws if it cannot be started.
int run_command(const std::vector<std::string>& argv, const std::string& input, std::string& output);

}  // namespace baton::bench
