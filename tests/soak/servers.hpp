// A real `baton serve` process for the soak: its configuration, key and data
// folder written under a working folder, started as a child, watched through
// /proc (resident memory, open file descriptors), and stopped with SIGTERM.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace baton::soak {

struct AgentConf {
  std::string name;
  std::vector<std::string> queues;
  int capacity = 10;
};

struct PeerConf {
  std::string name;          // our name for it
  std::string display_name;
  std::string base_url;
  std::string public_key;    // "ed25519:..."
  std::vector<std::string> queues;  // OUR queues it may transfer visitors into
};

struct ServerConf {
  std::string baton;         // the binary
  std::string dir;           // working folder; emptied first
  std::string organization;
  std::vector<std::string> queues;
  std::vector<AgentConf> agents;
  std::string password_hash;  // shared by every agent
  bool federation = false;
  std::vector<PeerConf> peers;
  int threads = 0;
  // limits.ws_queue_messages. The soak's agents each follow up to 100 conversations
  // and hear of every change in their queue: far more than a person's console,
  // read by one client thread on a shared machine. Slow readers are the fault
  // tests' business, not the soak's.
  int ws_queue_messages = 4096;
};

class Server {
 public:
  // Writes the folder, the key (with federation) and picks a free port. Throws
  // std::runtime_error with the reason.
  explicit Server(ServerConf conf);
  ~Server();  // stops it if running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void add_peer(PeerConf peer);
  // Starts `baton serve` and returns once it logged that it listens; throws
  // after `timeout_s` or if it exits first.
  void start(int timeout_s = 60);
  // SIGTERM, waits for the exit (SIGKILL after 20 s); returns the exit status
  // (128 + signal when killed). Idempotent.
  int stop();
  // Whether the process ended without stop() (it crashed).
  bool exited() const;

  pid_t pid() const { return pid_; }
  std::uint16_t port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& public_key() const { return public_key_; }
  const std::string& organization() const { return conf_.organization; }
  std::string log_path() const { return conf_.dir + "/server.log"; }
  // Site name of each queue: "site-<queue>".
  static std::string site_of(const std::string& queue) { return "site-" + queue; }

  // VmRSS in bytes and the number of entries in /proc/PID/fd; -1 when gone.
  std::int64_t rss_bytes() const;
  std::int64_t open_fds() const;

 private:
  void write_config() const;
  void pump_log(int fd);

  ServerConf conf_;
  std::uint16_t port_ = 0;
  std::string public_key_;
  pid_t pid_ = -1;
  int exit_status_ = -1;
  std::thread log_thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool listening_ = false;
  bool eof_ = false;
};

// Raises this process's open-file soft limit to the hard limit (children
// inherit it); returns the new limit.
std::uint64_t raise_fd_limit();

// An argon2id hash of `password`, as `baton agent add` writes it.
std::string password_hash(const std::string& password);

}  // namespace baton::soak
