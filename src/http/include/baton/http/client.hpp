// An HTTP(S) client for server-to-server calls: one connection per request, TLS
// (certificate and host name checked) for https:// base URLs, answers limited to
// 1 MiB. Beast stays in client.cpp.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <string>

#include "baton/core/error.hpp"
#include "baton/http/message.hpp"

namespace baton::http {

struct ClientRequest {
  std::string method = "POST";
  std::string path;
  std::string query;  // without '?'
  Headers headers;    // sent as given (Host and User-Agent are added)
  std::string body;
};

struct ClientResponse {
  int status = 0;
  Headers headers;  // names as the server sent them
  std::string body;
};

// Sends `request` to `base_url` (http(s)://host[:port]) and reads the answer, on the
// caller's executor; the whole exchange, name lookup included, within `timeout`.
// Errors: bad_request for a base URL that is not http(s)://host[:port]; unavailable
// (connection refused, TLS, timed out, answer too large) with a message. Any status
// is an answer, not an error.
boost::asio::awaitable<core::Result<ClientResponse>> fetch(std::string base_url, ClientRequest request,
                                                           std::chrono::milliseconds timeout);

// The same on a private io_context, blocking the calling thread: for the command
// line and for tests, never on a network thread.
core::Result<ClientResponse> fetch_blocking(const std::string& base_url, ClientRequest request,
                                            std::chrono::milliseconds timeout);

}  // namespace baton::http
