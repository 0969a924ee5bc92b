// Clients for programs that drive a real `baton serve` over loopback (the soak,
// the load generator): a keep-alive HTTP/1.1 client and a WebSocket client, plain
// TCP to 127.0.0.1, on an io_context run by ONE thread (no strands: every member
// function and callback runs on that thread). Beast stays in client.cpp.
//
// Each connection can bind a source address (127.0.0.x) before connecting, with
// IP_BIND_ADDRESS_NO_PORT, so that ports are chosen per 4-tuple at connect time
// and several addresses get past the ~28 000 ephemeral ports of one address.
//
// GCC 12 mishandles class-type temporaries passed to a coroutine (destroys them
// twice), so the coroutines here take references: pass named objects that
// outlive the co_await.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::loopback {

// Where to connect: 127.0.0.1:port, from `source` when not empty (else the
// kernel chooses).
struct Endpoint {
  std::uint16_t port = 0;
  std::string source;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Reply {
  int status = 0;
  std::string body;
  Headers headers;  // names in lower case
  // The first value of `name` (lower case), or "".
  std::string header(std::string_view name) const;
};

struct Request {
  std::string method = "GET";
  std::string target;
  std::string body;
  std::string content_type;  // empty: no Content-Type header
  Headers headers;
};

// A POST of `body` as `content_type`.
Request post(std::string target, std::string body, std::string content_type);
// `v` percent-encoded for an application/x-www-form-urlencoded body: all but
// letters, digits and -_.~ as %XX.
std::string form_escape(std::string_view v);

struct HttpOptions {
  std::string user_agent = "baton-loopback";
  // The longest one request (write and read) may take; zero: no limit.
  std::chrono::seconds timeout{0};
};

// One keep-alive connection, opened on first use and again after the server
// closed it (a kept-alive connection found closed gets one retry on a fresh one).
// REQUIRES: requests on one client do not overlap (await each).
// Transport failures throw boost::system::system_error.
class HttpClient {
 public:
  HttpClient(boost::asio::any_io_executor ex, Endpoint endpoint, HttpOptions options = {});
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

// A WebSocket client. connect(), then start(); every text message arrives in
// order through on_message; send() queues and returns at once; one writer
// coroutine drains the queue. Beast answers the server's pings while reading.
// on_close runs once, when reading ends; the callbacks must not destroy the client.
class WsClient : public std::enable_shared_from_this<WsClient> {
 public:
  using OnMessage = std::function<void(std::string_view)>;
  using OnClose = std::function<void(const std::string& why)>;

  static std::shared_ptr<WsClient> make(boost::asio::any_io_executor ex);
  ~WsClient();

  // TCP connect, TCP_NODELAY, WebSocket handshake on /ws. Throws
  // boost::system::system_error.
  boost::asio::awaitable<void> connect(const Endpoint& endpoint);
  // The same on `path`, asking for `subprotocol` when not empty ("xmpp" for RFC 7395).
  boost::asio::awaitable<void> connect(const Endpoint& endpoint, const std::string& path,
                                       const std::string& subprotocol);
  void on_message(OnMessage f);
  void on_close(OnClose f);
  // Starts reading. REQUIRES: connect() succeeded.
  void start();
  void send(std::string text);
  // A close frame after what is queued; reading ends when the server answers.
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

}  // namespace baton::loopback
