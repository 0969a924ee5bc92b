// Test harness: real Baton servers on 127.0.0.1:0 with a temporary data folder,
// and real HTTP and WebSocket clients. Waits are on events with deadlines.
#pragma once

#include <boost/json.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "baton/app/app.hpp"
#include "baton/app/config.hpp"

namespace baton::testing {

using namespace std::chrono_literals;
inline constexpr auto kDeadline = 20s;  // generous: CI is a busy 2-core machine

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The password of every test agent.
inline constexpr const char* kPassword = "correct horse";
inline constexpr const char* kSiteOrigin = "http://site.example";

// Queues General and Billing; agents alice (General, capacity 2), bob (General,
// Billing, capacity 1) and carol (Billing); site "web" -> General, origin kSiteOrigin.
app::Config test_config(const std::string& data_dir);

class TestServer {
 public:
  explicit TestServer(app::Config config, app::AppOptions options = default_options());
  ~TestServer();
  static app::AppOptions default_options();

  std::uint16_t port() const { return port_; }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const app::Config& config() const { return config_; }
  // Stops the server (as SIGTERM would) and waits for it to finish.
  void stop();
  // Starts again on the same data folder (a new port).
  void restart();
  // Starts again on the same data folder and the same port (peers know it).
  void restart_on_same_port();

 private:
  void start();
  app::Config config_;
  app::AppOptions options_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<app::App> app_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
};

struct HttpResult {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string header(std::string_view name) const;
  boost::json::value json() const;
};

// One request on a fresh connection. Throws on transport failure.
HttpResult http(std::uint16_t port, const std::string& method, const std::string& target,
                const std::string& body = {},
                std::vector<std::pair<std::string, std::string>> headers = {});
HttpResult post_json(std::uint16_t port, const std::string& target, const boost::json::value& body,
                     std::vector<std::pair<std::string, std::string>> headers = {});

// Signs in and returns the bearer token.
std::string sign_in(std::uint16_t port, const std::string& user, const std::string& password = kPassword);

struct Visitor {
  std::string conversation;
  std::string token;
};
Visitor start_chat(std::uint16_t port, const std::string& first_message = {},
                   const std::string& name = "Vera Visitor");

// A WebSocket client reading on its own thread into a queue.
class WsClient {
 public:
  explicit WsClient(std::uint16_t port, std::vector<std::pair<std::string, std::string>> headers = {});
  ~WsClient();
  void send(const boost::json::value& v);
  void send_raw(const std::string& text);
  // The oldest received message for which pred is true, taken out of the inbox
  // (others stay); waits for one until the deadline, then throws.
  boost::json::object expect(const std::function<bool(const boost::json::object&)>& pred,
                             std::chrono::milliseconds deadline = kDeadline);
  boost::json::object expect_type(const std::string& type, std::chrono::milliseconds deadline = kDeadline);
  // Messages received so far that are not yet consumed (does not wait).
  std::vector<boost::json::object> drain();
  // Waits until the server closes the socket; returns its close code.
  int wait_closed(std::chrono::milliseconds deadline = kDeadline);
  void close();

  // Conveniences for the protocol.
  void hello_visitor(const Visitor& v, std::int64_t last_seq = 0);
  void hello_agent(const std::string& token);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A WebSocket client that completes the handshake, says hello, and then never
// reads again, with a small receive buffer: a client that cannot keep up.
class SilentWs {
 public:
  SilentWs(std::uint16_t port, const boost::json::value& hello);
  ~SilentWs();
  void send(const boost::json::value& v);
  // True once the server has closed the connection (reads what is pending to find out).
  bool closed_by_server(std::chrono::milliseconds deadline = kDeadline);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A raw TCP connection to the server, for slow and malformed requests.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port);
  ~RawConnection();
  void write(const std::string& bytes);
  // Waits until the server closes the connection; returns what it sent before that.
  std::string read_until_closed(std::chrono::milliseconds deadline = kDeadline);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What a FaultyProxy passes on, for a test to inspect or to spoil.
struct ProxiedRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};
struct ProxiedAnswer {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Send the head and half of the body, then close (a peer that dies mid-answer).
  bool close_mid_answer = false;
};

// A man in the middle for server-to-server calls: forwards HTTP requests to
// `target_port`, and can drop the next answers (a lost response) or hold every
// answer back for a while (a slow peer). One request per connection, one at a time.
class FaultyProxy {
 public:
  explicit FaultyProxy(std::uint16_t target_port);
  ~FaultyProxy();
  std::uint16_t port() const { return port_; }
  void drop_next_responses(int n) { drop_.store(n); }
  void delay_responses(std::chrono::milliseconds d) { delay_ms_.store(static_cast<int>(d.count())); }
  // Holds each request back this long before passing it on (a slow network).
  void delay_requests(std::chrono::milliseconds d) { request_delay_ms_.store(static_cast<int>(d.count())); }
  int forwarded() const { return forwarded_.load(); }

  // Holds the next request whose target contains `path_part` until release() or
  // drop(): before it reaches the target (request), or once the target has
  // answered, before the answer goes back (answer). Everything behind it waits.
  enum class Hold { request, answer };
  void hold_next(const std::string& path_part, Hold where);
  // Waits until a request is held; false at the deadline.
  bool wait_held(std::chrono::milliseconds deadline = kDeadline);
  // Passes the held request (or answer) on.
  void release();
  // Loses it: the sender's connection is closed without an answer.
  void drop();
  // Called with every answer before it goes back (not with held-and-dropped ones);
  // may change it. Runs on the proxy's thread.
  void on_answer(std::function<void(const ProxiedRequest&, ProxiedAnswer&)> f);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
  std::atomic<int> drop_{0};
  std::atomic<int> delay_ms_{0};
  std::atomic<int> request_delay_ms_{0};
  std::atomic<int> forwarded_{0};
};

// A free TCP port on 127.0.0.1 (free when asked; a caller that binds it later
// retries if someone took it meanwhile).
std::uint16_t free_port();
// Writes a new Ed25519 secret key to `path`; returns its public key ("ed25519:...").
std::string make_key(const std::string& path);

// Origin "Acme" (queue General, the agents of test_config, site "web") and
// destination "Northwind" (queues Claims and Sales, agent bob, site "nw"),
// peered both ways with fresh keys in `dir`. Each listens on its port and is known
// to the other (and signs) by its URL, which may be a proxy in front of it. The
// origin may send visitors into Claims; Northwind may send them into General.
struct FederatedConfigs {
  app::Config origin, dest;
};
FederatedConfigs federated_configs(const std::string& dir, std::uint16_t origin_port, const std::string& origin_url,
                                   std::uint16_t dest_port, const std::string& dest_url);

// "name=value" of a Set-Cookie header.
std::string cookie_value(const std::string& set_cookie);
// The visitor's browser at the destination: presents the join code, collects its
// conversation and token there. Throws if refused.
Visitor join_at(std::uint16_t dest_port, const std::string& code);

// Polls `pred` every few milliseconds until it is true (returns true) or the
// deadline passes (returns false). For state that is only visible by asking.
// The value of an unlabelled metric on /metrics, or -1 when it is not there.
std::int64_t metric(std::uint16_t port, const std::string& name);

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds deadline = kDeadline);

// A Baton server in its own process: the real `baton` binary (`baton serve`) with
// `config` written as TOML into `dir`, so that a test can kill it with SIGKILL, limit
// its resources and read its memory. config.listen must name a fixed port (peers
// know it); restarts keep config.data_dir and the port. Not thread-safe.
class ChildServer {
 public:
  ChildServer(app::Config config, std::string dir);
  // Kills the process if it still runs.
  ~ChildServer();
  ChildServer(const ChildServer&) = delete;
  ChildServer& operator=(const ChildServer&) = delete;

  // Starts the process and waits until /healthz answers; throws (with the end of
  // its log) if it exits or does not answer in time.
  void start();
  // SIGKILL, and waits for the process to be gone.
  void kill9();
  // SIGTERM, and waits for a graceful exit.
  void stop();
  bool running() const { return pid_ > 0; }
  int pid() const { return pid_; }
  std::uint16_t port() const { return config_.listen_port; }
  const app::Config& config() const { return config_; }
  // Resident memory of the process (VmRSS), in KiB.
  long rss_kib() const;
  // Lowers (or raises) the process's soft limit on the size of files it writes
  // (RLIMIT_FSIZE; 0 = no limit): writes past it fail with EFBIG, as on a full
  // disk. The child ignores SIGXFSZ.
  void set_file_size_limit(std::uint64_t bytes);
  // The last `bytes` of the process's standard output and error.
  std::string log_tail(std::size_t bytes = 4000) const;

 private:
  app::Config config_;
  std::string dir_, config_path_, log_path_;
  int pid_ = 0;
};

bool is_event(const boost::json::object& o, std::string_view kind = {});
std::string str(const boost::json::object& o, std::string_view key);

}  // namespace baton::testing
