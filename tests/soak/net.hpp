// Network clients of the soak driver: a keep-alive HTTP/1.1 client and a
// WebSocket client, both plain TCP to 127.0.0.1, both on ONE io_context thread
// (no strands: every member function and callback runs on that thread).
// Beast stays in net.cpp.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::soak {

// Where to connect: 127.0.0.1:port, from `source` (127.0.0.x) when not empty, so
// that thousands of connections get past the ephemeral ports of one address.
struct Endpoint {
  std::uint16_t port = 0;
  std::string source;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Reply {
  int status = 0;
  std::string body;
  Headers headers;  // names in lower case
  std::string header(std::string_view name) const;
};

struct Request {
  std::string method = "GET";
  std::string target;
  std::string body;
  std::string content_type;  // empty: no body header
  Headers headers;
};

// GCC 12 mishandles class-type temporaries passed by value to a coroutine
// (destroys them twice), so the coroutines here take references: pass named
// objects that outlive the co_await.
//
// One keep-alive connection, opened on first use and again after the server
// closed it. REQUIRES: requests on one client do not overlap (await each).
// Transport failures throw boost::system::system_error.
class HttpClient {
 public:
  HttpClient(boost::asio::any_io_executor ex, Endpoint endpoint);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  boost::asio::awaitable<Reply> request(const Request& r);
  void close();
  bool connected() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A WebSocket to /ws. connect(), then start(); every text message arrives in
// order through on_message; send() queues and returns at once; one writer
// coroutine drains the queue. Beast answers the server's pings while reading.
class WsClient : public std::enable_shared_from_this<WsClient> {
 public:
  using OnMessage = std::function<void(std::string_view)>;
  using OnClose = std::function<void(const std::string& why)>;

  static std::shared_ptr<WsClient> make(boost::asio::any_io_executor ex);
  ~WsClient();

  // Throws boost::system::system_error on failure.
  boost::asio::awaitable<void> connect(const Endpoint& endpoint);
  void on_message(OnMessage f);
  void on_close(OnClose f);
  // Starts reading. REQUIRES: connect() succeeded.
  void start();
  void send(std::string text);
  // A close frame after what is queued; on_close runs once the server answers.
  void close();
  // Drops the TCP connection at once.
  void abort();
  bool is_open() const;

 private:
  explicit WsClient(boost::asio::any_io_executor ex);
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  void kick_writer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::soak
