// The HTTP and WebSocket server: accepts connections, parses requests within
// their limits, and hands them to a Service. Beast stays inside server.cpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "baton/core/error.hpp"
#include "baton/http/message.hpp"

namespace boost::asio {
class io_context;
}

namespace baton::http {

struct ServerOptions {
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_header_bytes = 8 * 1024;
  // Largest WebSocket message accepted; a larger one closes the socket with 1009.
  std::size_t max_frame_bytes = 16 * 1024;
  // Bound on each WebSocket's outgoing queue; past it the client is closed as too slow.
  std::size_t ws_queue_messages = 256;
  std::size_t ws_queue_bytes = 1024 * 1024;
  // A WebSocket with no traffic for this long is pinged, and closed if still silent.
  int idle_timeout_s = 60;
  // Time allowed to receive one whole HTTP request (slow clients are cut off).
  int request_timeout_s = 30;
  std::size_t max_connections_per_ip = 256;
  std::size_t max_connections = 200'000;
  // PEM files; the server speaks TLS when both are set.
  std::string tls_cert;
  std::string tls_key;
};

// What the application provides. Both calls come from network threads and must not block.
class Service {
 public:
  using Respond = std::function<void(Response)>;
  virtual ~Service() = default;
  // Handles one request. `respond` must be called exactly once, from any thread.
  virtual void handle(Request req, Respond respond) = 0;
  // For a WebSocket upgrade request: a handler to accept it, or nullptr with `refusal` filled.
  virtual std::shared_ptr<WsHandler> upgrade(const Request& req, Response& refusal) = 0;
};

// Counters the server keeps; read by /metrics. All relaxed atomics.
struct HttpMetrics {
  static constexpr int kBuckets = 10;
  static constexpr double kBucketBoundsMs[kBuckets] = {1, 2.5, 5, 10, 25, 50, 100, 250, 1000, 5000};
  std::atomic<std::int64_t> connections_open{0};
  std::atomic<std::int64_t> connections_total{0};
  std::atomic<std::int64_t> connections_refused{0};
  std::atomic<std::int64_t> websockets_open{0};
  std::atomic<std::int64_t> ws_messages_in{0};
  std::atomic<std::int64_t> ws_messages_out{0};
  std::atomic<std::int64_t> ws_closed_slow{0};
  std::atomic<std::int64_t> requests_total{0};
  std::atomic<std::int64_t> responses_by_class[6]{};  // index status/100
  std::atomic<std::int64_t> latency_bucket[kBuckets + 1]{};  // last is +Inf
  std::atomic<std::int64_t> latency_sum_us{0};

  void observe(int status, std::int64_t micros);
  // Appends the Prometheus text for these counters.
  void render(std::string& out) const;
};

// What a connection makes of the bytes a client sent, read as a whole: the
// requests it hands to the Service, in order, and the status of the error answer
// it closes with (0: closed without one). Reading stops after a WebSocket upgrade
// or a request that does not keep the connection alive. The same parser limits
// and conversion as a live connection, without the network; for tests and fuzz/.
struct ParsedRequest {
  Request request;
  bool upgrade = false;  // a WebSocket upgrade request
  bool keep_alive = false;
};
struct ParsedRequests {
  std::vector<ParsedRequest> requests;
  int error_status = 0;
};
ParsedRequests parse_requests(std::string_view bytes, const ServerOptions& options,
                              const std::string& remote_ip = "127.0.0.1");

class Server {
 public:
  // `io`, `service` and `metrics` must outlive the server.
  Server(boost::asio::io_context& io, ServerOptions options, Service& service, HttpMetrics& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on host:port (0 picks a free port); returns the bound port.
  core::Result<std::uint16_t> listen(const std::string& host, std::uint16_t port);
  // Starts accepting. REQUIRES: listen() succeeded.
  void start();
  // Stops accepting, lets requests in progress finish, and closes every
  // connection (WebSockets with 1001 "server shutting down"). Thread-safe, idempotent.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace baton::http
