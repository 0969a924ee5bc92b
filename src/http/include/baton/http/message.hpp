// HTTP messages as the rest of Baton sees them: plain structs, no Beast.
// The http module converts to and from Beast at the edge (server.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // upper case, e.g. "GET"
  std::string target;  // as sent: path and query
  std::string path;    // percent-decoded path, without the query
  std::string query;   // raw query string, without '?'
  Headers headers;     // names lower-cased
  std::string body;
  std::string remote_ip;
  bool tls = false;

  // The first header of that (lower-case) name, or "".
  std::string_view header(std::string_view name) const;
  // A query parameter, percent-decoded; "" when absent.
  std::string query_param(std::string_view name) const;
  bool has_query_param(std::string_view name) const;
  // A cookie's value from the Cookie header, or "".
  std::string cookie(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  Headers headers;
  std::string body;

  Response& set(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  static Response json(int status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  static Response text(int status, std::string body,
                       std::string content_type = "text/plain; charset=utf-8") {
    Response r;
    r.status = status;
    r.content_type = std::move(content_type);
    r.body = std::move(body);
    return r;
  }
};

// Decodes %XX escapes (and '+' as space when `plus_is_space`). Returns false on a bad escape.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space);
std::string percent_encode(std::string_view in);

// One side of an accepted WebSocket, as the handler sees it. Thread-safe.
class WsConnection {
 public:
  virtual ~WsConnection() = default;
  // Queues one text message. When the outgoing queue is past its bound the
  // connection is closed with code 1008 "too slow", and later sends are dropped.
  virtual void send(std::shared_ptr<const std::string> text) = 0;
  // Starts a close handshake with `code` and `reason` (after what is queued).
  virtual void close(std::uint16_t code, std::string reason) = 0;
  virtual const std::string& remote_ip() const = 0;
};

// What the application does with an accepted WebSocket. on_open runs first,
// then on_text once per message in order, then on_close exactly once; all on
// the connection's strand, so a handler needs no lock for its own calls.
class WsHandler {
 public:
  virtual ~WsHandler() = default;
  virtual void on_open(std::shared_ptr<WsConnection> connection) = 0;
  virtual void on_text(std::string_view text) = 0;
  virtual void on_close() = 0;
};

}  // namespace baton::http
