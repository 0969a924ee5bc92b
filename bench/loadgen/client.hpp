// Clients for the load generator: keep-alive HTTP/1.1 and WebSocket over plain
// TCP, on an io_context run by ONE thread (no strands: every member function and
// callback runs on that thread). Beast stays in client.cpp.
//
// Each connection can bind a source address (127.0.0.x) before connecting, with
// IP_BIND_ADDRESS_NO_PORT, so that ports are chosen per 4-tuple at connect time
// and several addresses get past the ~28 000 ephemeral ports of one address.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::bench {

struct Target {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string source;  // source address to bind; empty = let the kernel choose
};

struct HttpReply {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::string header(std::string_view name) const;
};

// One keep-alive connection; reconnects when the server closed it. Requests on
// one HttpClient must not overlap (await each). Throws boost::system::system_error
// on transport failure.
class HttpClient {
 public:
  HttpClient(boost::asio::any_io_executor ex, Target target);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  boost::asio::awaitable<HttpReply> request(std::string method, std::string target, std::string body = {},
                                            std::vector<std::pair<std::string, std::string>> headers = {});
  // JSON body, Content-Type application/json.
  boost::asio::awaitable<HttpReply> post_json(std::string target, std::string json,
                                              std::vector<std::pair<std::string, std::string>> headers = {});
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A WebSocket client. connect() then start(); messages arrive through the
// on_message callback, in order; send() queues text and returns at once (one
// writer drains the queue). The callbacks must not destroy the client.
class WsClient : public std::enable_shared_from_this<WsClient> {
 public:
  using OnMessage = std::function<void(std::string_view)>;
  using OnClose = std::function<void(const std::string& why)>;

  static std::shared_ptr<WsClient> create(boost::asio::any_io_executor ex);
  ~WsClient();

  // TCP connect (from target.source if set), TCP_NODELAY, WebSocket handshake on
  // `path`, asking for `subprotocol` when not empty ("xmpp" for RFC 7395).
  // Throws boost::system::system_error.
  boost::asio::awaitable<void> connect(Target target, std::string path = "/ws", std::string subprotocol = {});
  void on_message(OnMessage f);
  void on_close(OnClose f);
  // Starts reading. REQUIRES: connect() succeeded.
  void start();
  void send(std::string text);
  // Sends a close frame after what is queued; the reader ends when the server answers.
  void close();
  // Closes the TCP socket at once.
  void abort();

  bool open() const;
  std::size_t queued() const;

 private:
  explicit WsClient(boost::asio::any_io_executor ex);
  boost::asio::awaitable<void> reader();
  boost::asio::awaitable<void> writer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::bench
