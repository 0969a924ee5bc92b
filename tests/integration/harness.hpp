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

#include "app/app.hpp"
#include "app/config.hpp"

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

// A man in the middle for server-to-server calls: forwards HTTP requests to
// `target_port`, and can drop the next answers (a lost response) or hold every
// answer back for a while (a slow peer). One request per connection.
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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
  std::atomic<int> drop_{0};
  std::atomic<int> delay_ms_{0};
  std::atomic<int> request_delay_ms_{0};
  std::atomic<int> forwarded_{0};
};

bool is_event(const boost::json::object& o, std::string_view kind = {});
std::string str(const boost::json::object& o, std::string_view key);

}  // namespace baton::testing
